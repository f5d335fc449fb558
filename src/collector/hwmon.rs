//! `hwmon`: hardware sensors from /sys/class/hwmon (temperatures, fans, voltages, power...), as
//! node_exporter 1.5 names them. Each `hwmonN` (and its `device/`) holds files named
//! `<type><id>_<property>`; the chip label is the device path (`platform_coretemp_0`), else the
//! `name` file, else `hwmonN`. Unreadable or non-numeric values are skipped; a dangling
//! `hwmonN` link is skipped too (node_exporter fails the whole collector on it).

use std::collections::BTreeMap;
use std::path::Path;

use super::{dir_names, Paths};
use crate::model::{Family, MetricType};

super::paths_collector!("hwmon", true);

const SENSOR_TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// Lower-cases and replaces every character outside `[a-z0-9:_]` with `_`, trimming `_`.
pub fn clean_name(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | ':' | '_' => c,
            _ => '_',
        })
        .collect();
    lower.trim_matches('_').to_string()
}

/// Splits `temp1_crit_alarm` into (type, id, property) like node_exporter's
/// `^([^0-9]+)([0-9]*)?(_(.+))?$`.
pub fn explode(file: &str) -> Option<(&str, u64, &str)> {
    let digits = file
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(file.len());
    let (kind, rest) = file.split_at(digits);
    if kind.is_empty() {
        return None;
    }
    let id_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (id, rest) = rest.split_at(id_end);
    let prop = match rest {
        "" => "",
        r => r.strip_prefix('_').filter(|p| !p.is_empty())?,
    };
    let id = if id.is_empty() { 0 } else { id.parse().ok()? };
    Some((kind, id, prop))
}

/// Sensor (`temp1`) → property (`input`, `""` for a bare `pwm1`) → raw value.
pub type SensorData = BTreeMap<String, BTreeMap<String, String>>;

/// Adds the sensor files of one directory (file name, contents) to `data`.
pub fn add_sensor_files(files: &[(String, String)], data: &mut SensorData) {
    for (name, value) in files {
        let Some((kind, id, prop)) = explode(name) else {
            continue;
        };
        if SENSOR_TYPES.contains(&kind) {
            data.entry(format!("{kind}{id}"))
                .or_default()
                .insert(prop.to_string(), value.trim_matches('\n').to_string());
        }
    }
}

struct Out(BTreeMap<String, Family>);

impl Out {
    fn add(&mut self, name: &str, help: &str, kind: MetricType, labels: &[(&str, &str)], v: f64) {
        self.0
            .entry(name.to_string())
            .or_insert_with(|| Family::new(name, help, kind))
            .add(labels, v);
    }
}

/// The families of one chip's sensors.
pub fn chip_families(chip: &str, chip_name: Option<&str>, data: &SensorData) -> Vec<Family> {
    let mut out = Out(BTreeMap::new());
    let g = MetricType::Gauge;
    if let Some(n) = chip_name {
        out.add(
            "node_hwmon_chip_names",
            "Annotation metric for human-readable chip names",
            g,
            &[("chip", chip), ("chip_name", n)],
            1.0,
        );
    }
    for (sensor, props) in data {
        let kind = explode(sensor).map_or("", |e| e.0);
        let labels = [("chip", chip), ("sensor", sensor.as_str())];
        if let Some(label) = props.get("label") {
            out.add(
                "node_hwmon_sensor_label",
                "Label for given chip and sensor",
                g,
                &[("chip", chip), ("sensor", sensor), ("label", label)],
                1.0,
            );
        }
        let bare = props.get("");
        match kind {
            "beep_enable" => {
                let v = if bare.is_some_and(|v| v == "1") {
                    1.0
                } else {
                    0.0
                };
                out.add(
                    "node_hwmon_beep_enabled",
                    "Hardware beep enabled",
                    g,
                    &labels,
                    v,
                );
                continue;
            }
            "vrm" | "update_interval" => {
                if let Some(v) = bare.and_then(|v| v.parse::<f64>().ok()) {
                    let (name, help, v) = if kind == "vrm" {
                        (
                            "node_hwmon_voltage_regulator_version",
                            "Hardware voltage regulator",
                            v,
                        )
                    } else {
                        (
                            "node_hwmon_update_interval_seconds",
                            "Hardware monitor update interval",
                            v * 0.001,
                        )
                    };
                    out.add(name, help, g, &labels, v);
                }
                continue;
            }
            _ => {}
        }
        let prefix = format!("node_hwmon_{kind}");
        for (element, value) in props {
            if element == "label" {
                continue;
            }
            let mut name = prefix.clone();
            if element == "input" {
                if bare.is_some() {
                    name.push_str("_input");
                }
            } else if !element.is_empty() {
                name.push('_');
                name.push_str(&clean_name(element));
            }
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let e = element.as_str();
            let (suffix, help, kind_out, v) = match (kind, e) {
                (_, "fault" | "alarm") => (
                    "",
                    format!("Hardware sensor {e} status ({kind})"),
                    g,
                    v,
                ),
                (_, "beep") => (
                    "_enabled",
                    "Hardware monitor sensor has beeping enabled".to_string(),
                    g,
                    v,
                ),
                ("in" | "cpu", _) => (
                    "_volts",
                    format!("Hardware monitor for voltage ({e})"),
                    g,
                    v * 0.001,
                ),
                ("temp", _) if e != "type" => (
                    "_celsius",
                    format!("Hardware monitor for temperature ({e})"),
                    g,
                    v * 0.001,
                ),
                ("curr", _) => (
                    "_amps",
                    format!("Hardware monitor for current ({e})"),
                    g,
                    v * 0.001,
                ),
                ("energy", _) => (
                    "_joule_total",
                    format!("Hardware monitor for joules used so far ({e})"),
                    MetricType::Counter,
                    v / 1_000_000.0,
                ),
                ("power", "accuracy") => (
                    "",
                    "Hardware monitor power meter accuracy, as a ratio".to_string(),
                    g,
                    v / 1_000_000.0,
                ),
                ("power", "average_interval" | "average_interval_min" | "average_interval_max") => (
                    "_seconds",
                    format!("Hardware monitor power usage update interval ({e})"),
                    g,
                    v * 0.001,
                ),
                ("power", _) => (
                    "_watt",
                    format!("Hardware monitor for power usage in watts ({e})"),
                    g,
                    v / 1_000_000.0,
                ),
                ("humidity", _) => (
                    "",
                    format!("Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({e})"),
                    g,
                    v / 1_000_000.0,
                ),
                ("fan", "input" | "min" | "max" | "target") => (
                    "_rpm",
                    format!("Hardware monitor for fan revolutions per minute ({e})"),
                    g,
                    v,
                ),
                _ => ("", format!("Hardware monitor {kind} element {e}"), g, v),
            };
            name.push_str(suffix);
            out.add(&name, &help, kind_out, &labels, v);
        }
    }
    out.0.into_values().collect()
}

/// The files of a directory with their contents (unreadable ones left out).
fn read_files(dir: &Path) -> Result<Vec<(String, String)>, String> {
    Ok(dir_names(dir)?
        .into_iter()
        .filter(|n| explode(n).is_some_and(|(k, _, _)| SENSOR_TYPES.contains(&k)))
        .filter_map(|n| {
            let v = super::kfile::read_to_string(dir.join(&n)).ok()?;
            Some((n, v))
        })
        .collect())
}

/// node_exporter's chip label: `<parent>_<device>` of the resolved `device` link, else the
/// cleaned `name` file, else the directory's own name.
fn chip_label(dir: &Path) -> Option<String> {
    if let Ok(dev) = std::fs::canonicalize(dir.join("device")) {
        let name = dev.file_name().map(|n| clean_name(&n.to_string_lossy()));
        let parent = dev
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| clean_name(&n.to_string_lossy()));
        match (parent, name) {
            (Some(p), Some(n)) if !p.is_empty() && !n.is_empty() => {
                return Some(format!("{p}_{n}"))
            }
            (_, Some(n)) if !n.is_empty() => return Some(n),
            _ => {}
        }
    }
    if let Some(n) = chip_name(dir) {
        return Some(n);
    }
    let real = std::fs::canonicalize(dir).ok()?;
    Some(clean_name(&real.file_name()?.to_string_lossy())).filter(|n| !n.is_empty())
}

/// The cleaned `name` file, when there is one.
fn chip_name(dir: &Path) -> Option<String> {
    let raw = super::kfile::read_to_string(dir.join("name")).ok()?;
    Some(clean_name(&raw)).filter(|n| !n.is_empty())
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("class/hwmon");
    let mut last_err = None;
    for entry in dir_names(&base)? {
        let dir = base.join(&entry);
        if !dir.is_dir() {
            continue;
        }
        let Some(chip) = chip_label(&dir) else {
            last_err = Some(format!("could not derive a monitoring name for {entry}"));
            continue;
        };
        let mut data = SensorData::new();
        match read_files(&dir) {
            Ok(files) => add_sensor_files(&files, &mut data),
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        }
        if dir.join("device").is_dir() {
            if let Ok(files) = read_files(&dir.join("device")) {
                add_sensor_files(&files, &mut data);
            }
        }
        out.extend(chip_families(&chip, chip_name(&dir).as_deref(), &data));
    }
    match last_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_like_node_exporter() {
        assert_eq!(explode("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(explode("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(explode("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(explode("temp_x"), Some(("temp_x", 0, "")));
        assert_eq!(explode("1abc"), None);
        assert_eq!(explode("in0_"), None);
        assert_eq!(clean_name("Package id 0\n"), "package_id_0");
        assert_eq!(clean_name("pci0000:00"), "pci0000:00");
    }

    #[test]
    fn units_and_odd_values() {
        let files: Vec<(String, String)> = [
            ("temp1_input", "45000\n"),
            ("temp1_label", "Core 0\n"),
            ("temp2_input", "N/A\n"),
            ("fan1_input", "1200\n"),
            ("pwm1", "128\n"),
            ("power1_average", "15000000\n"),
            ("uevent", "x\n"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let mut data = SensorData::new();
        add_sensor_files(&files, &mut data);
        let fams = chip_families("c", Some("n"), &data);
        let get = |n: &str| {
            let f = fams
                .iter()
                .find(|f| f.name == n)
                .unwrap_or_else(|| panic!("{n}"));
            (f.samples.len(), f.samples[0].value, f.help.clone())
        };
        assert_eq!(
            get("node_hwmon_temp_celsius"),
            (1, 45.0, "Hardware monitor for temperature (input)".into())
        );
        assert_eq!(get("node_hwmon_fan_rpm").1, 1200.0);
        assert_eq!(get("node_hwmon_pwm").2, "Hardware monitor pwm element ");
        assert_eq!(get("node_hwmon_power_average_watt").1, 15.0);
        assert_eq!(get("node_hwmon_sensor_label").0, 1);
        assert_eq!(
            fams.len(),
            6,
            "{:?}",
            fams.iter().map(|f| &f.name).collect::<Vec<_>>()
        );
    }
}
