//! Host collectors under node_exporter's names. Each collector is one file exposing a `SPEC`;
//! `ALL` below is the one place they are registered. Collectors read the kernel's files through
//! `Paths`, so tests run them on fixture trees.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::exposition::Family;

pub mod arp;
pub mod conntrack;
pub mod cpu;
pub mod devfilter;
pub mod diskstats;
pub mod entropy;
pub mod filefd;
pub mod filesystem;
#[cfg(test)]
mod fixture_parity;
pub mod loadavg;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
#[cfg(test)]
mod parity_b;
pub mod pressure;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod textfile;
pub mod textparse;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;

/// Every collector, in one list: adding a collector is a file and a line here.
pub const ALL: &[Spec] = &[
    arp::SPEC,
    conntrack::SPEC,
    cpu::SPEC,
    diskstats::SPEC,
    entropy::SPEC,
    filefd::SPEC,
    filesystem::SPEC,
    loadavg::SPEC,
    meminfo::SPEC,
    netclass::SPEC,
    netdev::SPEC,
    netstat::SPEC,
    pressure::SPEC,
    sockstat::SPEC,
    softnet::SPEC,
    stat::SPEC,
    textfile::SPEC,
    time::SPEC,
    timex::SPEC,
    udp_queues::SPEC,
    uname::SPEC,
    vmstat::SPEC,
];

/// Where the kernel's files are: `--path.procfs`, `--path.sysfs`, `--path.rootfs`, `--path.udev.data`.
#[derive(Clone, Debug)]
pub struct Paths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
    pub udev_data: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
            udev_data: "/run/udev/data".into(),
        }
    }
}

impl Paths {
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }
    /// An absolute host path (a mount point) under the root filesystem prefix.
    pub fn root(&self, abs: &str) -> PathBuf {
        self.rootfs.join(abs.trim_start_matches('/'))
    }
    /// Removes the rootfs prefix from a mount point seen in mountinfo, as node_exporter does.
    pub fn strip_rootfs(&self, mountpoint: &str) -> String {
        let root = self.rootfs.to_string_lossy();
        if root == "/" {
            return mountpoint.to_string();
        }
        match mountpoint.strip_prefix(root.trim_end_matches('/')) {
            Some("") => "/".to_string(),
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => mountpoint.to_string(),
        }
    }
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a sysfs attribute, trimmed.
pub fn read_trim(path: &Path) -> Result<String, String> {
    read(path).map(|s| s.trim().to_string())
}

/// A collector's run-time options, from `--collector.NAME.KEY` flags or `system.options` in config.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub paths: Paths,
    pub options: HashMap<String, String>,
}

impl Ctx {
    /// The value of option `NAME.KEY` (its default when unset).
    pub fn opt(&self, spec: &Spec, key: &str) -> String {
        let full = format!("{}.{key}", spec.name);
        if let Some(v) = self.options.get(&full) {
            return v.clone();
        }
        spec.options
            .iter()
            .find(|o| o.key == key)
            .map(|o| o.default.to_string())
            .unwrap_or_default()
    }
}

/// One collector: fills `out` with families, or fails as a whole (never the scrape).
pub trait Collector: Send + Sync {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String>;
}

/// An option a collector accepts, exposed as `--collector.NAME.KEY`.
pub struct Opt {
    pub key: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// How to make a collector, and whether it runs by default.
pub struct Spec {
    pub name: &'static str,
    pub default_enabled: bool,
    pub options: &'static [Opt],
    pub build: fn(&Ctx) -> Result<Box<dyn Collector>, String>,
}

pub fn spec(name: &str) -> Option<&'static Spec> {
    ALL.iter().find(|s| s.name == name)
}

/// The enabled collectors, run concurrently on every scrape.
pub struct System {
    collectors: Vec<(&'static str, Arc<dyn Collector>)>,
    timeout: Duration,
}

impl System {
    pub fn new(enabled: &[String], ctx: &Ctx, timeout: Duration) -> Result<Self, String> {
        let mut collectors = Vec::new();
        for name in enabled {
            let s = spec(name).ok_or_else(|| format!("unknown collector {name:?}"))?;
            let c = (s.build)(ctx).map_err(|e| format!("collector {name}: {e}"))?;
            collectors.push((s.name, Arc::from(c)));
        }
        collectors.sort_by_key(|(n, _)| *n);
        Ok(System {
            collectors,
            timeout,
        })
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.collectors.iter().map(|(n, _)| *n).collect()
    }

    /// Runs the collectors (or those `keep` accepts) concurrently on the blocking pool, each bounded
    /// by the timeout; a failed or late collector reports `node_scrape_collector_success 0`.
    pub async fn gather(&self, keep: impl Fn(&str) -> bool) -> Vec<Family> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut running = Vec::new();
        for (name, c) in &self.collectors {
            if !keep(name) {
                continue;
            }
            let c = Arc::clone(c);
            let handle = tokio::task::spawn_blocking(move || {
                let start = Instant::now();
                let mut out = Vec::new();
                let res = c.update(&mut out);
                (res, out, start.elapsed())
            });
            running.push((*name, handle));
        }
        let mut families = Vec::new();
        let mut duration = Family::gauge(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
        );
        let mut success = Family::gauge(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
        );
        let mut results = BTreeMap::new();
        for (name, handle) in running {
            let start = Instant::now();
            let res = match tokio::time::timeout_at(deadline, handle).await {
                Ok(Ok((Ok(()), out, took))) => {
                    families.extend(out);
                    (1.0, took)
                }
                Ok(Ok((Err(e), out, took))) => {
                    tracing::error!(collector = name, err = %e, "collector failed");
                    families.extend(out);
                    (0.0, took)
                }
                Ok(Err(e)) => {
                    tracing::error!(collector = name, err = %e, "collector panicked");
                    (0.0, start.elapsed())
                }
                Err(_) => {
                    tracing::error!(collector = name, timeout = ?self.timeout, "collector timed out");
                    (0.0, self.timeout)
                }
            };
            results.insert(name, res);
        }
        for (name, (ok, took)) in results {
            duration.add(&[("collector", name)], took.as_secs_f64());
            success.add(&[("collector", name)], ok);
        }
        families.push(duration);
        families.push(success);
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_prefix_is_stripped() {
        let p = Paths {
            rootfs: "/host".into(),
            ..Paths::default()
        };
        assert_eq!(p.strip_rootfs("/host/var"), "/var");
        assert_eq!(p.strip_rootfs("/host"), "/");
        assert_eq!(p.strip_rootfs("/hostile"), "/hostile");
        assert_eq!(p.root("/var/lib"), PathBuf::from("/host/var/lib"));
    }

    #[test]
    fn registry_names_are_unique_and_sorted() {
        let names: Vec<&str> = ALL.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "keep ALL sorted by name, without duplicates");
    }
}
