//! `stat`: boot time, context switches, forks, interrupts and process counts from /proc/stat,
//! plus softirqs per vector behind the `softirq` option, as node_exporter 1.5 serves them.

use super::cpu::parse_bool;
use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "stat",
    default_enabled: true,
    options: &[Opt {
        key: "softirq",
        default: "false",
        help: "Export softirq calls per vector",
    }],
    build,
};

/// The softirq vectors in the kernel's column order.
const VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(StatCollector {
        paths: ctx.paths.clone(),
        softirq: parse_bool(&ctx.opt(&SPEC, "softirq"))?,
    }))
}

struct StatCollector {
    paths: Paths,
    softirq: bool,
}

impl Collector for StatCollector {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let stat = parse_stat(&read(&self.paths.proc("stat"))?)?;
        out.extend(stat_families(&stat, self.softirq));
        Ok(())
    }
}

/// The system-wide lines of /proc/stat; absent lines read as zero, as in procfs.
#[derive(Debug, Default, PartialEq)]
pub struct Stat {
    pub intr: u64,
    pub ctxt: u64,
    pub processes: u64,
    pub btime: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
    pub softirq: [u64; 10],
}

pub fn parse_stat(text: &str) -> Result<Stat, String> {
    // procfs parses the whole file, so a bad cpu line fails this collector too.
    super::cpu::parse_stat_cpus(text)?;
    let mut s = Stat::default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 2 {
            continue;
        }
        let num = |f: &str| -> Result<u64, String> {
            f.parse()
                .map_err(|_| format!("couldn't parse {:?} line in stat: {line:?}", parts[0]))
        };
        match parts[0] {
            "intr" => s.intr = num(parts[1])?,
            "ctxt" => s.ctxt = num(parts[1])?,
            "processes" => s.processes = num(parts[1])?,
            "btime" => s.btime = num(parts[1])?,
            "procs_running" => s.procs_running = num(parts[1])?,
            "procs_blocked" => s.procs_blocked = num(parts[1])?,
            "softirq" => {
                // The total, then one column per vector; all must be there.
                if parts.len() < 12 {
                    return Err(format!("couldn't parse softirq line in stat: {line:?}"));
                }
                num(parts[1])?;
                for (slot, f) in s.softirq.iter_mut().zip(&parts[2..]) {
                    *slot = num(f)?;
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

pub fn stat_families(s: &Stat, softirq: bool) -> Vec<Family> {
    let mut out = vec![
        Family::counter("node_intr_total", "Total number of interrupts serviced.")
            .with(&[], s.intr as f64),
        Family::counter(
            "node_context_switches_total",
            "Total number of context switches.",
        )
        .with(&[], s.ctxt as f64),
        Family::counter("node_forks_total", "Total number of forks.").with(&[], s.processes as f64),
        Family::gauge("node_boot_time_seconds", "Node boot time, in unixtime.")
            .with(&[], s.btime as f64),
        Family::gauge(
            "node_procs_running",
            "Number of processes in runnable state.",
        )
        .with(&[], s.procs_running as f64),
        Family::gauge(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
        )
        .with(&[], s.procs_blocked as f64),
    ];
    if softirq {
        let mut fam = Family::counter("node_softirqs_total", "Number of softirq calls.");
        for (vector, v) in VECTORS.iter().zip(s.softirq) {
            fam.add(&[("vector", vector)], v as f64);
        }
        out.push(fam);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 240214 0 1 2\nctxt 369463\n\
btime 1795604819\nprocesses 8917\nprocs_running 3\nprocs_blocked 1\n\
softirq 141426 1 22256 4 5723 38473 0 197 37356 0 37417\n";

    #[test]
    fn system_lines_are_parsed() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(
            (
                s.intr,
                s.ctxt,
                s.btime,
                s.processes,
                s.procs_running,
                s.procs_blocked
            ),
            (240214, 369463, 1795604819, 8917, 3, 1)
        );
        assert_eq!(
            s.softirq,
            [1, 22256, 4, 5723, 38473, 0, 197, 37356, 0, 37417]
        );
        assert!(parse_stat("ctxt many\n").is_err());
        assert!(parse_stat("cpu0 1 x\nctxt 1\n").is_err());
        assert!(parse_stat("softirq 1 2 3\n").is_err());
        assert_eq!(parse_stat("btime 5\n").unwrap().ctxt, 0);
    }

    #[test]
    fn softirq_family_only_with_the_option() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(stat_families(&s, false).len(), 6);
        let fams = stat_families(&s, true);
        let soft = fams.last().unwrap();
        assert_eq!(soft.name, "node_softirqs_total");
        assert_eq!(soft.samples[1].labels[0].1, "timer");
        assert_eq!(soft.samples[1].value, 22256.0);
        let boot = fams
            .iter()
            .find(|f| f.name == "node_boot_time_seconds")
            .unwrap();
        assert_eq!(boot.samples[0].value, 1795604819.0);
    }
}
