//! `cpufreq`: per-CPU frequencies from /sys/devices/system/cpu/cpuN/cpufreq, as node_exporter
//! 1.5 (kHz files, exported in Hz). Each value is optional: a missing or unparsable file drops
//! that one series (node_exporter fails the collector when some of the files are missing).

use super::{dir_names, read_trim, Paths};
use crate::model::Family;

super::paths_collector!("cpufreq", true);

/// (file in cpufreq/, metric suffix, help), in node_exporter's order.
pub const FILES: [(&str, &str, &str); 6] = [
    (
        "cpuinfo_cur_freq",
        "frequency_hertz",
        "Current cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
];

/// One CPU's number and its kHz values in `FILES` order (None when absent).
pub type CpuFreq = (String, [Option<u64>; 6]);

pub fn families(cpus: &[CpuFreq]) -> Vec<Family> {
    FILES
        .iter()
        .enumerate()
        .map(|(i, (_, name, help))| {
            let mut f = Family::gauge(format!("node_cpu_{name}"), *help);
            for (cpu, vals) in cpus {
                if let Some(khz) = vals[i] {
                    f.add(&[("cpu", cpu)], khz as f64 * 1000.0);
                }
            }
            f
        })
        .collect()
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("devices/system/cpu");
    let mut cpus = Vec::new();
    for name in dir_names(&base)? {
        let Some(n) = name
            .strip_prefix("cpu")
            .filter(|n| n.parse::<u32>().is_ok())
        else {
            continue;
        };
        let dir = base.join(&name).join("cpufreq");
        if !dir.is_dir() {
            continue;
        }
        let vals = FILES.map(|(file, _, _)| {
            read_trim(&dir.join(file))
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
        });
        cpus.push((n.to_string(), vals));
    }
    out.extend(families(&cpus));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn khz_to_hz_and_absent_files() {
        let f = families(&[(
            "0".into(),
            [None, Some(3_700_000), None, None, None, Some(1)],
        )]);
        assert!(f[0].samples.is_empty());
        assert_eq!(f[1].samples[0].value, 3.7e9);
        assert_eq!(f[5].samples[0].value, 1000.0);
        assert_eq!(f[3].name, "node_cpu_scaling_frequency_hertz");
    }
}
