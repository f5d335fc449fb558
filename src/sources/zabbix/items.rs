//! Zabbix items and how they become series: the decoding of `item.get`'s answer, the request
//! parameters for a selection, and the conversion into families (pure, unit-tested).

use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{Failure, Reason};
use super::config::ZabbixConfig;
use crate::model::{Family, Sample};

/// Text values longer than this are cut in `zabbix_item_info`'s `value` label.
const MAX_INFO_CHARS: usize = 256;

/// The item fields telltale asks for; all of Zabbix's values arrive as strings.
pub const ITEM_FIELDS: [&str; 10] = [
    "itemid",
    "hostid",
    "name",
    "key_",
    "value_type",
    "units",
    "lastvalue",
    "lastclock",
    "state",
    "status",
];

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct HostRef {
    pub hostid: String,
    pub host: String,
    pub name: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Item {
    pub itemid: String,
    pub hostid: String,
    pub name: String,
    pub key_: String,
    pub value_type: String,
    pub units: String,
    pub lastvalue: String,
    pub lastclock: String,
    pub state: String,
    pub status: String,
    pub hosts: Vec<HostRef>,
}

/// `field` of every object in a `host.get`/`hostgroup.get` result.
pub fn parse_field(result: &Value, field: &str) -> Result<Vec<String>, Failure> {
    let rows = result.as_array().ok_or_else(|| {
        Failure::new(
            Reason::Decode,
            format!("expected a list of objects, got {result}"),
        )
    })?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get(field).and_then(Value::as_str).map(String::from))
        .collect())
}

/// `item.get` parameters for the configured selection (hostids are added per chunk).
pub fn item_params(cfg: &ZabbixConfig) -> Value {
    let mut p = json!({
        "output": ITEM_FIELDS,
        "selectHosts": ["host", "name"],
        "monitored": true,
        "sortfield": "itemid",
    });
    if !cfg.tags.is_empty() {
        let tags: Vec<Value> = cfg
            .tags
            .iter()
            .map(|t| match &t.value {
                // operator 1: equals; 4: exists.
                Some(v) => json!({"tag": t.name, "value": v, "operator": 1}),
                None => json!({"tag": t.name, "operator": 4}),
            })
            .collect();
        p["tags"] = Value::Array(tags);
        p["evaltype"] = json!(0);
    }
    p
}

/// The exported families of one poll and how many items they hold.
pub fn convert(cfg: &ZabbixConfig, items: &[Item], now_s: i64) -> (Vec<Family>, usize) {
    let mut values = Family::gauge(
        "zabbix_item_value",
        "Last value of a numeric Zabbix item, timestamped with its lastclock.",
    );
    let mut clocks = Family::gauge(
        "zabbix_item_last_clock_seconds",
        "Unix time of the Zabbix item's last value (lastclock).",
    );
    let mut infos = Family::gauge(
        "zabbix_item_info",
        "Last value of a text Zabbix item, as the value label.",
    );
    let oldest = now_s - cfg.max_age.as_secs() as i64;
    let mut count = 0;
    for it in items {
        let clock: i64 = it.lastclock.parse().unwrap_or(0);
        if clock <= 0 || clock < oldest || it.state == "1" || it.status == "1" {
            continue;
        }
        if !cfg.key_patterns.accepts(&it.key_) {
            continue;
        }
        let host = it
            .hosts
            .first()
            .map_or(it.hostid.as_str(), |h| h.host.as_str());
        let labels = |extra: (&str, &str)| -> Vec<(String, String)> {
            [
                ("zabbix", cfg.name.as_str()),
                ("host", host),
                ("key", &it.key_),
            ]
            .into_iter()
            .chain([("name", it.name.as_str()), extra])
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        match it.value_type.as_str() {
            "0" | "3" => {
                let Some(v) = crate::config::yaml::parse_float(it.lastvalue.trim()) else {
                    continue;
                };
                let l = labels(("units", &it.units));
                values.samples.push(Sample {
                    labels: l.clone(),
                    value: v,
                    timestamp_ms: Some(clock * 1000),
                });
                clocks.samples.push(Sample {
                    labels: l,
                    value: clock as f64,
                    timestamp_ms: None,
                });
                count += 1;
            }
            "1" | "2" | "4" if cfg.text_items_as_info => {
                let value: String = it.lastvalue.chars().take(MAX_INFO_CHARS).collect();
                infos.samples.push(Sample {
                    labels: labels(("value", &value)),
                    value: 1.0,
                    timestamp_ms: None,
                });
                count += 1;
            }
            _ => {}
        }
    }
    (vec![values, clocks, infos], count)
}
