//! Host collectors under node_exporter's names. Each collector is one file exposing a `SPEC`;
//! the `registry!` list of `ALL` below is the one place they are registered. Collectors read
//! the kernel's files through `Paths`, so tests run them on fixture trees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::Family;

pub mod devfilter;
pub mod kfile;
#[cfg(test)]
mod parity_tests;
pub mod textparse;

// Every collector, in one list: adding a collector is a file and its name here.
crate::registry! {
    pub const ALL: &[Spec] = SPEC;
    arp, bcache, bonding, btrfs, conntrack, cpu, cpufreq, diskstats, dmi, edac, entropy,
    fibrechannel, filefd, filesystem, hwmon, infiniband, interrupts, ipvs, loadavg, mdadm, meminfo,
    netclass, netdev, netstat, nfs, nfsd, nvme, os, powersupplyclass, pressure, processes, rapl,
    schedstat, selinux, sockstat, softnet, stat, tapestats, textfile, thermal_zone, time, timex,
    udp_queues, uname, vmstat, xfs, zfs
}

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
    /// Removes the rootfs prefix from a mount point seen in the mount table, as node_exporter does.
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
    kfile::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The names in a directory, sorted (a missing directory is an error naming it).
pub fn dir_names(path: &Path) -> Result<Vec<String>, String> {
    let rd = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
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

/// `SPEC` and `build` of a collector without options that needs only the paths: its module
/// defines `fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String>`.
macro_rules! paths_collector {
    ($name:literal, $default_enabled:expr) => {
        pub const SPEC: super::Spec = super::Spec {
            name: $name,
            default_enabled: $default_enabled,
            options: &[],
            build,
        };

        fn build(ctx: &super::Ctx) -> Result<Box<dyn super::Collector>, String> {
            super::from_fn(ctx, update)
        }
    };
}
use paths_collector;

/// A collector that needs nothing but the paths: its update is a plain function over them.
struct FnCollector {
    paths: Paths,
    update: fn(&Paths, &mut Vec<Family>) -> Result<(), String>,
}

impl Collector for FnCollector {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        (self.update)(&self.paths, out)
    }
}

/// Builds a `FnCollector` (the `build` of collectors without options or state).
pub fn from_fn(
    ctx: &Ctx,
    update: fn(&Paths, &mut Vec<Family>) -> Result<(), String>,
) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(FnCollector {
        paths: ctx.paths.clone(),
        update,
    }))
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

    /// Runs the collectors (or those `keep` accepts) concurrently on a few blocking workers that
    /// take them in turn (one wake-up per worker, not per collector), bounded by the timeout; a
    /// failed, panicking or late collector reports `node_scrape_collector_success 0`.
    pub async fn gather(&self, keep: impl Fn(&str) -> bool) -> Vec<Family> {
        let jobs: Arc<Vec<(&'static str, Arc<dyn Collector>)>> = Arc::new(
            self.collectors
                .iter()
                .filter(|(n, _)| keep(n))
                .map(|(n, c)| (*n, Arc::clone(c)))
                .collect(),
        );
        let deadline = tokio::time::Instant::now() + self.timeout;
        let next = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..workers().min(jobs.len()) {
            let (jobs, next, tx) = (Arc::clone(&jobs), Arc::clone(&next), tx.clone());
            tokio::task::spawn_blocking(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((_, c)) = jobs.get(i) else { break };
                let start = Instant::now();
                let mut out = Vec::new();
                let res =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.update(&mut out)))
                        .unwrap_or_else(|_| Err("collector panicked".to_string()));
                if tx.send((i, res, out, start.elapsed())).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done: Vec<Option<(bool, Duration)>> = vec![None; jobs.len()];
        let mut families = Vec::new();
        while let Ok(Some((i, res, out, took))) = tokio::time::timeout_at(deadline, rx.recv()).await
        {
            let name = jobs[i].0;
            families.extend(out);
            match &res {
                // Absent hardware or kernel feature (node_exporter's "no data"): debug level,
                // so a host without ZFS or NFS does not log an error on every scrape.
                Err(e) if e.contains("No such file or directory") => {
                    tracing::debug!(collector = name, err = %e, "collector returned no data")
                }
                Err(e) => tracing::error!(collector = name, err = %e, "collector failed"),
                Ok(()) => {}
            }
            done[i] = Some((res.is_ok(), took));
        }
        let mut duration = Family::gauge(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
        );
        let mut success = Family::gauge(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
        );
        for ((name, _), result) in jobs.iter().zip(done) {
            let (ok, took) = result.unwrap_or_else(|| {
                tracing::error!(collector = name, timeout = ?self.timeout, "collector timed out");
                (false, self.timeout)
            });
            duration.add(&[("collector", name)], took.as_secs_f64());
            success.add(&[("collector", name)], if ok { 1.0 } else { 0.0 });
        }
        families.push(duration);
        families.push(success);
        families
    }

    #[cfg(test)]
    fn from_parts(collectors: Vec<(&'static str, Arc<dyn Collector>)>, timeout: Duration) -> Self {
        System {
            collectors,
            timeout,
        }
    }
}

/// Blocking workers per scrape: the cores there are, at most 4.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Duration, Result<f64, &'static str>);

    impl Collector for Fake {
        fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
            std::thread::sleep(self.0);
            match self.1 {
                Ok(v) => {
                    out.push(Family::gauge("fake", "f").with(&[], v));
                    Ok(())
                }
                Err("panic") => panic!("boom"),
                Err(e) => Err(e.to_string()),
            }
        }
    }

    fn success(fams: &[Family]) -> Vec<(String, f64)> {
        let f = fams
            .iter()
            .find(|f| f.name == "node_scrape_collector_success")
            .unwrap();
        f.samples
            .iter()
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_panics_and_timeouts_never_fail_the_scrape() {
        let ms = Duration::from_millis;
        let sys = System::from_parts(
            vec![
                ("a_ok", Arc::new(Fake(ms(1), Ok(1.0)))),
                ("b_err", Arc::new(Fake(ms(1), Err("no such file")))),
                ("c_panic", Arc::new(Fake(ms(1), Err("panic")))),
                ("d_slow", Arc::new(Fake(ms(8000), Ok(2.0)))),
                ("e_ok", Arc::new(Fake(ms(1), Ok(3.0)))),
            ],
            // Generous for the fast ones on a loaded machine, far below the slow one.
            ms(2000),
        );
        let started = Instant::now();
        let fams = sys.gather(|_| true).await;
        assert!(
            started.elapsed() < ms(6000),
            "the slow collector must not hold the scrape"
        );
        assert_eq!(
            success(&fams),
            vec![
                ("a_ok".into(), 1.0),
                ("b_err".into(), 0.0),
                ("c_panic".into(), 0.0),
                ("d_slow".into(), 0.0),
                ("e_ok".into(), 1.0)
            ]
        );
        let values: Vec<f64> = fams
            .iter()
            .filter(|f| f.name == "fake")
            .map(|f| f.samples[0].value)
            .collect();
        assert_eq!(
            values.len(),
            2,
            "data of the successful collectors is kept: {values:?}"
        );
        let only = sys.gather(|n| n == "e_ok").await;
        assert_eq!(success(&only), vec![("e_ok".into(), 1.0)]);
    }

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

    #[test]
    fn absent_hardware_succeeds_or_fails_as_node_exporter_1_5_does() {
        // On a host without the hardware node_exporter 1.5 reports bcache and edac as
        // successful (an empty glob) and nfs/nfsd/zfs as failed ("no data").
        let empty = std::env::temp_dir().join(format!("telltale-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let ctx = Ctx {
            paths: Paths {
                procfs: empty.clone(),
                sysfs: empty.clone(),
                rootfs: empty.clone(),
                udev_data: empty.clone(),
            },
            ..Ctx::default()
        };
        let run = |name: &str| {
            let c = (spec(name).unwrap().build)(&ctx).unwrap();
            c.update(&mut Vec::new())
        };
        for ok in ["bcache", "edac"] {
            assert_eq!(run(ok), Ok(()), "{ok}");
        }
        for no_data in ["nfs", "nfsd", "zfs", "dmi"] {
            let e = run(no_data).unwrap_err();
            assert!(e.contains("No such file or directory"), "{no_data}: {e}");
        }
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
