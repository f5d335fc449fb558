//! telltale's own metrics: `process_*` (as Prometheus' client libraries name them),
//! `telltale_build_info` and the config-reload gauges.
//!
//! The process metrics are read from `/proc/self` through kept handles rather than with sysinfo:
//! sysinfo's refresh of one process cost about 0.1 ms per scrape here (it re-stats and re-reads
//! several files), a tenth of telltale's whole scrape budget; one kept `/proc/self/stat` read
//! costs a few microseconds.

use std::path::Path;

use crate::collector::kfile;
use crate::model::Family;

pub struct ProcessMetrics {
    ticks_per_second: f64,
    page_size: f64,
    boot_time: Option<f64>,
}

/// Fields of `/proc/self/stat` after the command name: (utime, stime, starttime ticks, vsize, rss pages).
pub fn parse_stat(text: &str) -> Option<(u64, u64, u64, u64, u64)> {
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After "pid (comm) ", field 3 (state) is f[0]; utime is field 14 → f[11].
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some((n(11)?, n(12)?, n(19)?, n(20)?, n(21)?))
}

/// The soft "Max open files" limit from `/proc/self/limits`.
pub fn parse_max_fds(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn boot_time(procfs: &Path) -> Option<f64> {
    let stat = kfile::read_to_string(procfs.join("stat")).ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

impl ProcessMetrics {
    pub fn new() -> Self {
        // SAFETY: sysconf only reads system constants.
        let (hz, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        ProcessMetrics {
            ticks_per_second: if hz > 0 { hz as f64 } else { 100.0 },
            page_size: if page > 0 { page as f64 } else { 4096.0 },
            boot_time: boot_time(Path::new("/proc")),
        }
    }

    pub fn collect(&self, out: &mut Vec<Family>) {
        let Some((utime, stime, start, vsize, rss)) = kfile::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(parse_stat)
        else {
            return;
        };
        let hz = self.ticks_per_second;
        out.push(
            Family::counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
            )
            .with(&[], (utime + stime) as f64 / hz),
        );
        out.push(
            Family::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            )
            .with(&[], rss as f64 * self.page_size),
        );
        out.push(
            Family::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            )
            .with(&[], vsize as f64),
        );
        if let Some(boot) = self.boot_time {
            out.push(
                Family::gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                )
                .with(&[], boot + start as f64 / hz),
            );
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            out.push(
                Family::gauge("process_open_fds", "Number of open file descriptors.")
                    .with(&[], dir.count() as f64),
            );
        }
        if let Some(max) = kfile::read_to_string("/proc/self/limits")
            .ok()
            .as_deref()
            .and_then(parse_max_fds)
        {
            out.push(
                Family::gauge(
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                )
                .with(&[], max as f64),
            );
        }
    }
}

/// `telltale_build_info{version,revision,rustversion} 1`.
pub fn build_info() -> Family {
    Family::gauge(
        "telltale_build_info",
        "A metric with a constant '1' value labeled by version, revision and rustversion from which telltale was built.",
    )
    .with(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", option_env!("TELLTALE_REVISION").unwrap_or("unknown")),
            ("rustversion", option_env!("TELLTALE_RUSTC").unwrap_or("unknown")),
        ],
        1.0,
    )
}

/// The outcome of the last configuration (re)load.
#[derive(Clone, Copy, Debug)]
pub struct ReloadStatus {
    pub ok: bool,
    pub last_success_unix: f64,
    pub reloads: u64,
    pub failures: u64,
}

impl ReloadStatus {
    pub fn families(&self, out: &mut Vec<Family>) {
        out.push(
            Family::gauge(
                "telltale_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful.",
            )
            .with(&[], if self.ok { 1.0 } else { 0.0 }),
        );
        out.push(
            Family::gauge(
                "telltale_config_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful configuration reload.",
            )
            .with(&[], self.last_success_unix),
        );
        out.push(
            Family::counter(
                "telltale_config_reloads_total",
                "Configuration reload attempts.",
            )
            .with(&[], self.reloads as f64),
        );
        out.push(
            Family::counter(
                "telltale_config_reload_failures_total",
                "Configuration reload attempts that failed.",
            )
            .with(&[], self.failures as f64),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_limits_parse() {
        let stat = "42 (tell tale) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 148840448 2027 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((250, 50, 12345, 148_840_448, 2027)));
        assert_eq!(parse_stat("garbage"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
    }

    #[test]
    fn process_metrics_describe_this_process() {
        let mut out = Vec::new();
        ProcessMetrics::new().collect(&mut out);
        let get = |n: &str| out.iter().find(|f| f.name == n).map(|f| f.samples[0].value);
        assert!(get("process_resident_memory_bytes").unwrap() > 0.0);
        let start = get("process_start_time_seconds").unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            start > now - 3600.0 && start <= now + 1.0,
            "start {start} now {now}"
        );
        assert!(get("process_open_fds").unwrap() >= 3.0);
    }
}
