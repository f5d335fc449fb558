//! `netclass`: interface attributes from /sys/class/net/<iface>/*, as node_exporter 1.5 exposes them.
//! Unreadable attributes (EINVAL on a down link, EOPNOTSUPP) are skipped, so their series vanish.

use std::collections::HashMap;

use regex::Regex;

use super::{Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "netclass",
    default_enabled: true,
    options: &[
        Opt {
            key: "ignored-devices",
            default: "^$",
            help: "Regexp of net devices to ignore for netclass collector.",
        },
        Opt {
            key: "ignore-invalid-speed",
            default: "false",
            help: "Ignore devices where the speed is invalid. This will be the default behavior in 2.x.",
        },
    ],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    let re = ctx.opt(&SPEC, "ignored-devices");
    let ignore_invalid_speed = match ctx.opt(&SPEC, "ignore-invalid-speed").as_str() {
        "true" | "1" => true,
        "false" | "0" | "" => false,
        v => return Err(format!("ignore-invalid-speed: not a boolean: {v:?}")),
    };
    Ok(Box::new(NetClass {
        paths: ctx.paths.clone(),
        ignored: Regex::new(&re).map_err(|e| format!("ignored-devices {re:?}: {e}"))?,
        ignore_invalid_speed,
    }))
}

struct NetClass {
    paths: Paths,
    ignored: Regex,
    ignore_invalid_speed: bool,
}

/// Numeric attributes: sysfs file, metric suffix, counter?
const NUMERIC: [(&str, &str, bool); 14] = [
    ("addr_assign_type", "address_assign_type", false),
    ("carrier", "carrier", false),
    ("carrier_changes", "carrier_changes_total", true),
    ("carrier_up_count", "carrier_up_changes_total", true),
    ("carrier_down_count", "carrier_down_changes_total", true),
    ("dev_id", "device_id", false),
    ("dormant", "dormant", false),
    ("flags", "flags", false),
    ("ifindex", "iface_id", false),
    ("iflink", "iface_link", false),
    ("link_mode", "iface_link_mode", false),
    ("mtu", "mtu_bytes", false),
    ("name_assign_type", "name_assign_type", false),
    ("netdev_group", "net_dev_group", false),
];

/// Parses an integer attribute the way Go's `strconv.ParseInt(s, 0, 64)` does (0x/0o/0b prefixes).
pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Families for interfaces given as (name, attribute file → trimmed content).
pub fn families(
    ifaces: &[(String, HashMap<String, String>)],
    ignore_invalid_speed: bool,
) -> Vec<Family> {
    let mut up = Family::gauge(
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
    );
    let mut info = Family::gauge(
        "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
    );
    let prop = |suffix: &str, counter: bool| {
        let (name, help) = (
            format!("node_network_{suffix}"),
            format!("Network device property: {suffix}"),
        );
        if counter {
            Family::counter(name, help)
        } else {
            Family::gauge(name, help)
        }
    };
    let mut numeric: Vec<Family> = NUMERIC.iter().map(|(_, s, c)| prop(s, *c)).collect();
    let mut speed = prop("speed_bytes", false);
    let mut txqlen = prop("transmit_queue_length", false);
    let mut proto = prop("protocol_type", false);
    for (dev, attrs) in ifaces {
        let text = |k: &str| attrs.get(k).map(String::as_str).unwrap_or("");
        let int = |k: &str| attrs.get(k).and_then(|v| parse_int(v));
        let dev = dev.as_str();
        up.add(
            &[("device", dev)],
            if text("operstate") == "up" { 1.0 } else { 0.0 },
        );
        let labels = [
            ("device", dev),
            ("address", text("address")),
            ("broadcast", text("broadcast")),
            ("duplex", text("duplex")),
            ("operstate", text("operstate")),
            ("ifalias", text("ifalias")),
        ];
        info.add(&labels, 1.0);
        for ((file, _, _), fam) in NUMERIC.iter().zip(numeric.iter_mut()) {
            if let Some(v) = int(file) {
                fam.add(&[("device", dev)], v as f64);
            }
        }
        if let Some(mbit) = int("speed") {
            if mbit >= 0 || !ignore_invalid_speed {
                speed.add(&[("device", dev)], (mbit * 1000 * 1000 / 8) as f64);
            }
        }
        if let Some(v) = int("tx_queue_len") {
            txqlen.add(&[("device", dev)], v as f64);
        }
        if let Some(v) = int("type") {
            proto.add(&[("device", dev)], v as f64);
        }
    }
    let mut out = vec![up, info];
    out.extend(numeric);
    out.extend([speed, txqlen, proto]);
    out
}

/// The attribute files the families above use; reading only these (not every file of the
/// directory) keeps a scrape to what it reports.
const ATTRS: &[&str] = &[
    "addr_assign_type",
    "address",
    "broadcast",
    "carrier",
    "carrier_changes",
    "carrier_down_count",
    "carrier_up_count",
    "dev_id",
    "dormant",
    "duplex",
    "flags",
    "ifalias",
    "ifindex",
    "iflink",
    "link_mode",
    "mtu",
    "name_assign_type",
    "netdev_group",
    "operstate",
    "speed",
    "tx_queue_len",
    "type",
];

/// Reads an interface's attributes; missing or unreadable ones are skipped, as node_exporter does.
fn read_attrs(dir: &std::path::Path) -> Result<HashMap<String, String>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    let mut attrs = HashMap::new();
    for name in ATTRS {
        if let Ok(v) = super::kfile::read_to_string(dir.join(name)) {
            attrs.insert(name.to_string(), v.trim().to_string());
        }
    }
    Ok(attrs)
}

impl Collector for NetClass {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let base = self.paths.sys("class/net");
        let entries = std::fs::read_dir(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        let mut ifaces = Vec::new();
        for e in entries.flatten() {
            // Regular files such as bonding_masters are not interfaces; dirs and symlinks are.
            if e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if self.ignored.is_match(&name) {
                continue;
            }
            ifaces.push((name, read_attrs(&e.path())?));
        }
        ifaces.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(families(&ifaces, self.ignore_invalid_speed));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn get<'a>(fams: &'a [Family], name: &str) -> &'a Family {
        fams.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn go_style_integers() {
        assert_eq!(parse_int("0x1003"), Some(4099));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("up"), None);
        assert_eq!(parse_int(""), None);
    }

    #[test]
    fn attributes_become_series() {
        let ifaces = vec![
            (
                "eth0".to_string(),
                iface(&[
                    ("operstate", "up"),
                    ("flags", "0x1003"),
                    ("mtu", "1500"),
                    ("speed", "1000"),
                    ("carrier_changes", "2"),
                    ("address", "aa:bb"),
                ]),
            ),
            (
                "ifb0".to_string(),
                iface(&[
                    ("operstate", "down"),
                    ("speed", "-1"),
                    ("duplex", "unknown"),
                ]),
            ),
        ];
        let fams = families(&ifaces, false);
        assert_eq!(get(&fams, "node_network_up").samples[0].value, 1.0);
        assert_eq!(get(&fams, "node_network_up").samples[1].value, 0.0);
        assert_eq!(get(&fams, "node_network_flags").samples[0].value, 4099.0);
        let speed = get(&fams, "node_network_speed_bytes");
        assert_eq!(speed.samples[0].value, 125_000_000.0);
        assert_eq!(speed.samples[1].value, -125_000.0);
        assert_eq!(get(&fams, "node_network_mtu_bytes").samples.len(), 1);
        assert_eq!(
            get(&fams, "node_network_carrier_changes_total").kind,
            crate::model::MetricType::Counter
        );
        let info = &get(&fams, "node_network_info").samples[1];
        assert!(info.labels.contains(&("duplex".into(), "unknown".into())));
        assert!(info.labels.contains(&("address".into(), "".into())));
        let fams = families(&ifaces, true);
        assert_eq!(get(&fams, "node_network_speed_bytes").samples.len(), 1);
    }
}
