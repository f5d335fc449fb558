//! `schedstat`: per-CPU scheduler time from /proc/schedstat, as node_exporter 1.5: running and
//! waiting nanoseconds (as seconds) and timeslices of each `cpuN` line. Lines that are not
//! well-formed `cpuN` lines are skipped.

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("schedstat", true);

/// (cpu number, running ns, waiting ns, timeslices) of each `cpuN` line.
pub fn parse(text: &str) -> Vec<(String, u64, u64, u64)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let cpu = f.first()?.strip_prefix("cpu")?;
            if f.len() != 10 || cpu.is_empty() || !cpu.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n = |i: usize| f[i].parse::<u64>().ok();
            Some((cpu.to_string(), n(7)?, n(8)?, n(9)?))
        })
        .collect()
}

pub fn families(cpus: &[(String, u64, u64, u64)]) -> Vec<Family> {
    let mut run = Family::counter(
        "node_schedstat_running_seconds_total",
        "Number of seconds CPU spent running a process.",
    );
    let mut wait = Family::counter(
        "node_schedstat_waiting_seconds_total",
        "Number of seconds spent by processing waiting for this CPU.",
    );
    let mut slices = Family::counter(
        "node_schedstat_timeslices_total",
        "Number of timeslices executed by CPU.",
    );
    for (cpu, r, w, s) in cpus {
        run.add(&[("cpu", cpu)], *r as f64 / 1e9);
        wait.add(&[("cpu", cpu)], *w as f64 / 1e9);
        slices.add(&[("cpu", cpu)], *s as f64);
    }
    vec![run, wait, slices]
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let text = read(&paths.proc("schedstat"))?;
    out.extend(families(&parse(&text)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lines_only() {
        let t = "version 15\ntimestamp 1\ncpu0 1 0 3 4 5 6 2000000000 500000000 7\n\
                 domain0 3 1 2 3\ncpu1 1 2 3\ncpux 1 2 3 4 5 6 7 8 9\n";
        let p = parse(t);
        assert_eq!(p, vec![("0".to_string(), 2_000_000_000, 500_000_000, 7)]);
        let f = families(&p);
        assert_eq!((f[0].samples[0].value, f[1].samples[0].value), (2.0, 0.5));
    }
}
