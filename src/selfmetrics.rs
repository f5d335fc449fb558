//! telltale's own metrics: `process_*` (from sysinfo, as client libraries name them),
//! `telltale_build_info` and the config-reload gauges.

use std::sync::Mutex;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::exposition::Family;

pub struct ProcessMetrics {
    sys: Mutex<Option<System>>,
    pid: Pid,
}

impl ProcessMetrics {
    pub fn new() -> Self {
        ProcessMetrics {
            sys: Mutex::new(System::new().ok()),
            pid: Pid::from_u32(std::process::id()),
        }
    }

    pub fn collect(&self, out: &mut Vec<Family>) {
        let mut guard = self.sys.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sys) = guard.as_mut() else { return };
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        let Some(p) = sys.process(self.pid) else {
            return;
        };
        out.push(
            Family::counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
            )
            .with(&[], p.accumulated_cpu_time() as f64 / 1000.0),
        );
        out.push(
            Family::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            )
            .with(&[], p.memory() as f64),
        );
        out.push(
            Family::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            )
            .with(&[], p.virtual_memory() as f64),
        );
        out.push(
            Family::gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
            )
            .with(&[], p.start_time() as f64),
        );
        if let Some(n) = p.open_files() {
            out.push(
                Family::gauge("process_open_fds", "Number of open file descriptors.")
                    .with(&[], n as f64),
            );
        }
        if let Some(n) = p.open_files_limit() {
            out.push(
                Family::gauge(
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                )
                .with(&[], n as f64),
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
