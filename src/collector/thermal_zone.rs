//! `thermal_zone`: /sys/class/thermal zones (temperature) and cooling devices (throttle state),
//! as node_exporter 1.5. A zone or device whose files are missing or unparsable is skipped
//! (node_exporter fails the whole collector on it).

use super::{dir_names, read_trim, Paths};
use crate::model::Family;

super::paths_collector!("thermal_zone", true);

/// A zone (`thermal_zoneN`: number, type, millidegrees) or a cooling device (`cooling_deviceN`:
/// number, type, current and maximum state).
#[derive(Debug, PartialEq)]
pub enum Entry {
    Zone(String, String, i64),
    Cooling(String, String, i64, i64),
}

pub fn families(entries: &[Entry]) -> Vec<Family> {
    let mut temp = Family::gauge("node_thermal_zone_temp", "Zone temperature in Celsius");
    let mut cur = Family::gauge(
        "node_cooling_device_cur_state",
        "Current throttle state of the cooling device",
    );
    let mut max = Family::gauge(
        "node_cooling_device_max_state",
        "Maximum throttle state of the cooling device",
    );
    for e in entries {
        match e {
            Entry::Zone(zone, kind, t) => {
                temp.add(&[("zone", zone), ("type", kind)], *t as f64 / 1000.0);
            }
            Entry::Cooling(name, kind, c, m) => {
                cur.add(&[("name", name), ("type", kind)], *c as f64);
                max.add(&[("name", name), ("type", kind)], *m as f64);
            }
        }
    }
    vec![temp, cur, max]
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("class/thermal");
    let mut entries = Vec::new();
    for name in dir_names(&base)? {
        let dir = base.join(&name);
        let get = |f: &str| read_trim(&dir.join(f));
        let int = |f: &str| get(f).ok().and_then(|v| v.parse::<i64>().ok());
        if let Some(n) = name.strip_prefix("thermal_zone") {
            let (Ok(kind), Ok(_policy), Some(t)) = (get("type"), get("policy"), int("temp")) else {
                tracing::debug!(zone = %name, "thermal zone skipped: unreadable files");
                continue;
            };
            entries.push(Entry::Zone(n.to_string(), kind, t));
        } else if let Some(n) = name.strip_prefix("cooling_device") {
            let (Ok(kind), Some(c), Some(m)) = (get("type"), int("cur_state"), int("max_state"))
            else {
                tracing::debug!(device = %name, "cooling device skipped: unreadable files");
                continue;
            };
            entries.push(Entry::Cooling(n.to_string(), kind, c, m));
        }
    }
    out.extend(families(&entries));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn celsius_and_states() {
        let f = families(&[
            Entry::Zone("0".into(), "acpitz".into(), -1500),
            Entry::Cooling("1".into(), "Processor".into(), -1, 10),
        ]);
        assert_eq!(f[0].samples[0].value, -1.5);
        assert_eq!(f[1].samples[0].value, -1.0);
        assert_eq!(f[2].samples[0].value, 10.0);
        assert_eq!(f[0].samples[0].labels[0], ("zone".into(), "0".into()));
    }
}
