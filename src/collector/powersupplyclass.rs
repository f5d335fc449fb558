//! `powersupplyclass`: batteries and AC adapters from /sys/class/power_supply, as node_exporter
//! 1.5: one gauge per known numeric attribute (µ-units to units, tenths of °C to °C) and
//! `node_power_supply_info` with the non-empty string attributes. Unparsable values are skipped.

use std::collections::BTreeMap;

use regex::Regex;

use super::{dir_names, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "powersupplyclass",
    default_enabled: true,
    options: &[Opt {
        key: "ignored-supplies",
        default: "^$",
        help: "Regexp of power supplies to ignore for powersupplyclass collector.",
    }],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    let re = ctx.opt(&SPEC, "ignored-supplies");
    Ok(Box::new(PowerSupply {
        paths: ctx.paths.clone(),
        ignored: Regex::new(&re).map_err(|e| format!("ignored-supplies {re:?}: {e}"))?,
    }))
}

struct PowerSupply {
    paths: Paths,
    ignored: Regex,
}

/// (sysfs attribute, metric name, divisor).
pub const NUMERIC: [(&str, &str, f64); 49] = [
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// String attributes of the info metric (besides `power_supply`).
pub const INFO: [&str; 11] = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
];

/// The families of the supplies (name → attribute → trimmed value).
pub fn families(supplies: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Family> {
    let mut out: BTreeMap<&str, Family> = BTreeMap::new();
    let mut info = Family::gauge(
        "node_power_supply_info",
        "info of /sys/class/power_supply/<power_supply>.",
    );
    for (name, attrs) in supplies {
        for (file, metric, div) in NUMERIC.iter() {
            let Some(v) = attrs.get(*file).and_then(|v| v.parse::<i64>().ok()) else {
                continue;
            };
            out.entry(metric)
                .or_insert_with(|| {
                    Family::gauge(
                        format!("node_power_supply_{metric}"),
                        format!("{metric} value of /sys/class/power_supply/<power_supply>."),
                    )
                })
                .add(&[("power_supply", name)], v as f64 / div);
        }
        let mut labels = vec![("power_supply", name.as_str())];
        for key in INFO {
            if let Some(v) = attrs.get(key).filter(|v| !v.is_empty()) {
                labels.push((key, v));
            }
        }
        info.add(&labels, 1.0);
    }
    let mut fams: Vec<Family> = out.into_values().collect();
    fams.push(info);
    fams
}

impl Collector for PowerSupply {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let base = self.paths.sys("class/power_supply");
        let mut supplies = BTreeMap::new();
        for name in dir_names(&base)? {
            if self.ignored.is_match(&name) {
                continue;
            }
            let dir = base.join(&name);
            let mut attrs = BTreeMap::new();
            let files = NUMERIC.iter().map(|n| n.0).chain(INFO);
            for file in files {
                if let Ok(v) = super::kfile::read_to_string(dir.join(file)) {
                    attrs.insert(file.to_string(), v.trim().to_string());
                }
            }
            supplies.insert(name, attrs);
        }
        out.extend(families(&supplies));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_info() {
        let mut s = BTreeMap::new();
        let attrs: BTreeMap<String, String> = [
            ("energy_now", "49450000"),
            ("temp", "312"),
            ("capacity", "bad"),
            ("status", "Full"),
            ("health", ""),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        s.insert("BAT0".to_string(), attrs);
        let f = families(&s);
        let get = |n: &str| f.iter().find(|x| x.name == n).map(|x| x.samples[0].value);
        assert_eq!(get("node_power_supply_energy_watthour"), Some(49.45));
        assert_eq!(get("node_power_supply_temp_celsius"), Some(31.2));
        assert_eq!(get("node_power_supply_capacity"), None);
        assert_eq!(f.last().unwrap().samples[0].labels.len(), 2);
    }
}
