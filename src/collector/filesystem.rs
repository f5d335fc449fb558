//! `filesystem`: size and inode figures of mounted filesystems via statfs(2), one series set per
//! (device, mountpoint, fstype). statfs runs on its own thread with a deadline, so a hung NFS
//! mount yields `device_error 1` instead of hanging the scrape; it stays "stuck" until it answers.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use regex::Regex;

use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "filesystem",
    default_enabled: true,
    options: &[
        Opt {
            key: "mount-points-exclude",
            default: "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
            help: "Regexp of mount points to exclude for filesystem collector.",
        },
        Opt {
            key: "fs-types-exclude",
            default: "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
            help: "Regexp of filesystem types to exclude for filesystem collector.",
        },
        Opt {
            key: "mount-timeout",
            default: "5s",
            help: "how long to wait for a mount to respond before marking it as stale",
        },
    ],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    let re = |key: &str| {
        let s = ctx.opt(&SPEC, key);
        Regex::new(&s).map_err(|e| format!("{key} {s:?}: {e}"))
    };
    Ok(Box::new(Filesystem {
        paths: ctx.paths.clone(),
        mount_points_exclude: re("mount-points-exclude")?,
        fs_types_exclude: re("fs-types-exclude")?,
        timeout: parse_duration(&ctx.opt(&SPEC, "mount-timeout"))?,
        stuck: Arc::new(Mutex::new(HashSet::new())),
    }))
}

struct Filesystem {
    paths: Paths,
    mount_points_exclude: Regex,
    fs_types_exclude: Regex,
    timeout: Duration,
    /// Mount points whose statfs has not returned yet; not retried until it does.
    stuck: Arc<Mutex<HashSet<PathBuf>>>,
}

/// A Go-style duration with one unit: `5s`, `500ms`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?}")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub readonly: bool,
}

/// Figures from statfs, already in bytes / inodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    pub files: f64,
    pub files_free: f64,
}

/// Parses /proc/PID/mounts (fstab(5) format) as node_exporter 1.5 does: device, mount point
/// (only `\040` and `\011` unescaped), type, and read-only when "ro" is among the options. A line
/// with fewer than four fields is skipped (and returned in the second list); node_exporter fails
/// the whole collector on it.
pub fn parse_mounts(text: &str) -> (Vec<Mount>, Vec<String>) {
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            if !f.is_empty() {
                bad.push(line.to_string());
            }
            continue;
        }
        out.push(Mount {
            device: f[0].to_string(),
            mountpoint: f[1].replace("\\040", " ").replace("\\011", "\t"),
            fstype: f[2].to_string(),
            readonly: f[3].split(',').any(|x| x == "ro"),
        });
    }
    (out, bad)
}

/// Turns mounts with their statfs result (None = error or stuck) into the 1.5 families.
/// A repeated (device, mountpoint, fstype) is reported once; errors only get `device_error`.
pub fn families(mounts: &[(Mount, Option<Usage>)]) -> Vec<Family> {
    let g = |n: &str, h: &str| Family::gauge(format!("node_filesystem_{n}"), h);
    let mut size = g("size_bytes", "Filesystem size in bytes.");
    let mut free = g("free_bytes", "Filesystem free space in bytes.");
    let mut avail = g(
        "avail_bytes",
        "Filesystem space available to non-root users in bytes.",
    );
    let mut files = g("files", "Filesystem total file nodes.");
    let mut files_free = g("files_free", "Filesystem total free file nodes.");
    let mut ro = g("readonly", "Filesystem read-only status.");
    let mut err = g(
        "device_error",
        "Whether an error occurred while getting statistics for the given device.",
    );
    let mut seen = HashSet::new();
    for (m, usage) in mounts {
        if !seen.insert((&m.device, &m.mountpoint, &m.fstype)) {
            continue;
        }
        let l = [
            ("device", m.device.as_str()),
            ("mountpoint", &m.mountpoint),
            ("fstype", &m.fstype),
        ];
        err.add(&l, if usage.is_some() { 0.0 } else { 1.0 });
        let Some(u) = usage else { continue };
        size.add(&l, u.size);
        free.add(&l, u.free);
        avail.add(&l, u.avail);
        files.add(&l, u.files);
        files_free.add(&l, u.files_free);
        ro.add(&l, if m.readonly { 1.0 } else { 0.0 });
    }
    vec![size, free, avail, files, files_free, ro, err]
}

/// statfs(2) on a path; f_bsize is the unit, as node_exporter uses it.
pub fn statfs(path: &Path) -> Result<Usage, String> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `buf` a writable statfs struct.
    if unsafe { libc::statfs(c.as_ptr(), &mut buf) } != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    let bsize = buf.f_bsize as f64;
    Ok(Usage {
        size: buf.f_blocks as f64 * bsize,
        free: buf.f_bfree as f64 * bsize,
        avail: buf.f_bavail as f64 * bsize,
        files: buf.f_files as f64,
        files_free: buf.f_ffree as f64,
    })
}

impl Filesystem {
    /// PID 1's mount table, or `<procfs>/mounts` when hidepid hides PID 1 (node_exporter 1.5's
    /// sources and order).
    fn mounts(&self) -> Result<Vec<Mount>, String> {
        let text = match super::kfile::read_to_string(self.paths.proc("1/mounts")) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => read(&self.paths.proc("mounts"))?,
            Err(e) => return Err(format!("1/mounts: {e}")),
        };
        let (mut mounts, bad) = parse_mounts(&text);
        for line in bad {
            tracing::debug!(
                collector = "filesystem",
                line,
                "skipped a malformed mounts line"
            );
        }
        for m in &mut mounts {
            m.mountpoint = self.paths.strip_rootfs(&m.mountpoint);
        }
        mounts.retain(|m| {
            !self.mount_points_exclude.is_match(&m.mountpoint)
                && !self.fs_types_exclude.is_match(&m.fstype)
        });
        Ok(mounts)
    }
}

impl Collector for Filesystem {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let mounts = self.mounts()?;
        let deadline = Instant::now() + self.timeout;
        let mut pending = Vec::with_capacity(mounts.len());
        for m in mounts {
            let path = self.paths.root(&m.mountpoint);
            if !self.stuck.lock().unwrap().insert(path.clone()) {
                pending.push((m, None));
                continue;
            }
            let (tx, rx) = mpsc::channel();
            let stuck = Arc::clone(&self.stuck);
            std::thread::spawn(move || {
                let res = statfs(&path);
                stuck.lock().unwrap().remove(&path);
                let _ = tx.send(res);
            });
            pending.push((m, Some(rx)));
        }
        let mut results = Vec::with_capacity(pending.len());
        for (m, rx) in pending {
            let usage = rx.and_then(|rx| {
                let wait = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(Ok(u)) => Some(u),
                    Ok(Err(e)) => {
                        tracing::debug!(mountpoint = %m.mountpoint, err = %e, "statfs failed");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(mountpoint = %m.mountpoint, "statfs timed out, mount marked stuck");
                        None
                    }
                }
            });
            results.push((m, usage));
        }
        out.extend(families(&results));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "/dev/vda / ext4 rw,relatime,discard 0 0\n\
/dev/sda1 /boot ext4 ro,relatime 0 0\n\
/dev/sda2 /srv/my\\040disk ext4 rw,errors=remount-ro 0 0\n\
odd line\n\
\n\
tmpfs /tmp tmpfs rw,size=4096k 0 0\n";

    #[test]
    fn mounts_fields_and_readonly() {
        let (m, bad) = parse_mounts(MOUNTS);
        assert_eq!(bad, vec!["odd line".to_string()]);
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[0],
            Mount {
                device: "/dev/vda".into(),
                mountpoint: "/".into(),
                fstype: "ext4".into(),
                readonly: false
            }
        );
        assert!(m[1].readonly);
        assert_eq!(m[2].mountpoint, "/srv/my disk");
        assert!(!m[2].readonly, "errors=remount-ro is not ro");
        assert_eq!(
            (m[3].device.as_str(), m[3].fstype.as_str()),
            ("tmpfs", "tmpfs")
        );
    }

    #[test]
    fn reads_pid1_mounts_then_procfs_mounts() {
        let dir = std::env::temp_dir().join(format!("telltale-fs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("1")).unwrap();
        std::fs::create_dir_all(dir.join("self")).unwrap();
        std::fs::write(dir.join("mounts"), "tmpfs /fallback tmpfs rw 0 0\n").unwrap();
        std::fs::write(
            dir.join("self/mountinfo"),
            "1 2 0:1 / /other rw - ext4 x rw\n",
        )
        .unwrap();
        let ctx = Ctx {
            paths: Paths {
                procfs: dir.clone(),
                rootfs: "/".into(),
                ..Paths::default()
            },
            ..Ctx::default()
        };
        let mut fs = Filesystem {
            paths: ctx.paths.clone(),
            mount_points_exclude: Regex::new("^$").unwrap(),
            fs_types_exclude: Regex::new("^$").unwrap(),
            timeout: Duration::from_secs(1),
            stuck: Arc::default(),
        };
        let points = |fs: &Filesystem| -> Vec<String> {
            fs.mounts()
                .unwrap()
                .into_iter()
                .map(|m| m.mountpoint)
                .collect()
        };
        assert_eq!(points(&fs), ["/fallback"], "no 1/mounts: <procfs>/mounts");
        std::fs::write(dir.join("1/mounts"), "/dev/vda / ext4 ro 0 0\n").unwrap();
        assert_eq!(points(&fs), ["/"]);
        fs.paths.procfs = dir.join("nothing");
        assert!(fs.mounts().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_and_duplicates() {
        let (m, _) = parse_mounts(MOUNTS);
        let u = Usage {
            size: 4096.0,
            free: 2048.0,
            avail: 1024.0,
            files: 10.0,
            files_free: 5.0,
        };
        let fams = families(&[
            (m[0].clone(), Some(u)),
            (m[0].clone(), None),
            (m[1].clone(), None),
        ]);
        let get = |n: &str| fams.iter().find(|f| f.name == n).unwrap();
        assert_eq!(
            get("node_filesystem_device_error")
                .samples
                .iter()
                .map(|s| s.value)
                .collect::<Vec<_>>(),
            [0.0, 1.0]
        );
        assert_eq!(get("node_filesystem_size_bytes").samples.len(), 1);
        assert_eq!(get("node_filesystem_readonly").samples.len(), 1);
        assert_eq!(get("node_filesystem_avail_bytes").samples[0].value, 1024.0);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn statfs_of_root_and_missing() {
        assert!(statfs(Path::new("/")).unwrap().size > 0.0);
        assert!(statfs(Path::new("/nonexistent/telltale")).is_err());
    }
}
