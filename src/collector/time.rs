//! `time`: the system clock, the local time zone's offset, and the clocksources from sysfs.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{read_trim, Paths};
use crate::model::Family;

super::paths_collector!("time", true);

/// One `clocksourceN` directory: what it offers and what it uses.
#[derive(Debug, PartialEq)]
pub struct Clocksource {
    pub available: Vec<String>,
    pub current: String,
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    out.push(
        Family::gauge(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
        )
        .with(&[], now.as_nanos() as f64 / 1e9),
    );
    let (zone, offset) = local_zone(now.as_secs() as libc::time_t)?;
    out.push(
        Family::gauge(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
        )
        .with(&[("time_zone", &zone)], offset as f64),
    );
    let sources = read_clocksources(paths)?;
    out.extend(clocksource_families(&sources));
    Ok(())
}

extern "C" {
    /// POSIX; not exported by the libc crate on Linux. Loads TZ / /etc/localtime.
    fn tzset();
}

/// The local zone's abbreviation and UTC offset at `t`, from the C library (TZ, /etc/localtime).
fn local_zone(t: libc::time_t) -> Result<(String, i64), String> {
    // SAFETY: tzset only (re)reads the zone settings; localtime_r writes into our own `tm`, and
    // tm_zone points at static storage in the C library that outlives this call.
    unsafe {
        tzset();
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return Err("localtime_r failed".into());
        }
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        Ok((zone, tm.tm_gmtoff))
    }
}

/// `clocksource[0-9]*` in name order (Go's glob order). A directory without the two files fails,
/// as in procfs; no directory at all gives no series.
fn read_clocksources(paths: &Paths) -> Result<Vec<Clocksource>, String> {
    let dir = paths.sys("devices/system/clocksource");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix("clocksource")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let d = dir.join(n);
            Ok(parse_clocksource(
                &read_trim(&d.join("available_clocksource"))?,
                &read_trim(&d.join("current_clocksource"))?,
            ))
        })
        .collect::<Result<_, String>>()
        .map_err(|e: String| format!("couldn't get clocksources: {e}"))
}

pub fn parse_clocksource(available: &str, current: &str) -> Clocksource {
    Clocksource {
        available: available.split_whitespace().map(String::from).collect(),
        current: current.trim().to_string(),
    }
}

/// The `device` label is the position in the sorted list, as node_exporter 1.5 numbers them.
pub fn clocksource_families(sources: &[Clocksource]) -> Vec<Family> {
    let mut avail = Family::gauge(
        "node_time_clocksource_available_info",
        "Available clocksources read from '/sys/devices/system/clocksource'.",
    );
    let mut current = Family::gauge(
        "node_time_clocksource_current_info",
        "Current clocksource read from '/sys/devices/system/clocksource'.",
    );
    for (i, cs) in sources.iter().enumerate() {
        let device = i.to_string();
        for name in &cs.available {
            avail.add(&[("device", &device), ("clocksource", name)], 1.0);
        }
        current.add(&[("device", &device), ("clocksource", &cs.current)], 1.0);
    }
    vec![avail, current]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocksources_become_info_series() {
        let cs = parse_clocksource("tsc hpet acpi_pm \n", "tsc\n");
        assert_eq!(cs.available, ["tsc", "hpet", "acpi_pm"]);
        let fams = clocksource_families(&[cs, parse_clocksource("kvm-clock", "kvm-clock")]);
        assert_eq!(fams[0].samples.len(), 4);
        assert_eq!(
            fams[1].samples[1].labels,
            vec![
                ("device".to_string(), "1".to_string()),
                ("clocksource".to_string(), "kvm-clock".to_string())
            ]
        );
    }

    #[test]
    fn zone_offset_is_plausible() {
        let (zone, offset) = local_zone(0).unwrap();
        assert!(!zone.is_empty());
        assert!(offset.abs() <= 14 * 3600);
    }
}
