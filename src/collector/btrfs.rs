//! `btrfs`: Btrfs allocation figures from /sys/fs/btrfs/<uuid>, as node_exporter 1.5 reads
//! them from sysfs: info (label), global reserve, per block group type reserved bytes, per
//! layout used/size bytes and allocation ratio, and device sizes. node_exporter additionally
//! asks mounted filesystems for per-device errors over ioctl(2); telltale does not (see
//! docs/collectors.md), so those series are absent. Unreadable numbers count as 0 as in procfs.

use std::path::Path;

use super::{dir_names, read_trim, Paths};
use crate::model::Family;

super::paths_collector!("btrfs", true);

fn value(p: &Path) -> u64 {
    read_trim(p).ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The allocation ratio of a layout over `devices` devices (procfs' table).
pub fn ratio(layout: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match layout {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

struct Fams {
    info: Family,
    rsv: Family,
    reserved: Family,
    used: Family,
    size: Family,
    ratio: Family,
    dev_size: Family,
}

impl Fams {
    fn new() -> Self {
        let g = |n: &str, h: &str| Family::gauge(format!("node_btrfs_{n}"), h);
        Fams {
            info: g("info", "Filesystem information"),
            rsv: g("global_rsv_size_bytes", "Size of global reserve."),
            reserved: g("reserved_bytes", "Amount of space reserved for a data type"),
            used: g("used_bytes", "Amount of used space by a layout/data type"),
            size: g(
                "size_bytes",
                "Amount of space allocated for a layout/data type",
            ),
            ratio: g(
                "allocation_ratio",
                "Data allocation ratio for a layout/data type",
            ),
            dev_size: g(
                "device_size_bytes",
                "Size of a device that is part of the filesystem.",
            ),
        }
    }

    fn filesystem(&mut self, dir: &Path, name: &str) -> Result<(), String> {
        let uuid = read_trim(&dir.join("metadata_uuid"))
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| name.to_string());
        let u = ("uuid", uuid.as_str());
        let devices = dir_names(&dir.join("devices"))?;
        let label = read_trim(&dir.join("label")).unwrap_or_default();
        self.info.add(&[u, ("label", &label)], 1.0);
        self.rsv
            .add(&[u], value(&dir.join("allocation/global_rsv_size")) as f64);
        for kind in ["data", "metadata", "system"] {
            let a = dir.join("allocation").join(kind);
            let t = ("block_group_type", kind);
            self.reserved
                .add(&[u, t], value(&a.join("bytes_reserved")) as f64);
            for layout in dir_names(&a).unwrap_or_default() {
                let l = a.join(&layout);
                if !l.is_dir() {
                    continue;
                }
                let labels = [u, t, ("mode", layout.as_str())];
                self.used.add(&labels, value(&l.join("used_bytes")) as f64);
                self.size.add(&labels, value(&l.join("total_bytes")) as f64);
                self.ratio.add(&labels, ratio(&layout, devices.len()));
            }
        }
        for dev in &devices {
            let sectors = value(&dir.join("devices").join(dev).join("size"));
            self.dev_size
                .add(&[u, ("device", dev)], (sectors * 512) as f64);
        }
        Ok(())
    }
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("fs/btrfs");
    let mut f = Fams::new();
    for name in dir_names(&base)?.iter().filter(|n| n.contains('-')) {
        if let Err(e) = f.filesystem(&base.join(name), name) {
            tracing::debug!(filesystem = %name, err = %e, "btrfs filesystem skipped");
        }
    }
    out.extend([
        f.info, f.rsv, f.reserved, f.used, f.size, f.ratio, f.dev_size,
    ]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios() {
        assert_eq!(ratio("raid1", 2), 2.0);
        assert_eq!(ratio("raid5", 3), 1.5);
        assert_eq!(ratio("raid6", 3), 3.0);
        assert_eq!(ratio("raid1c3", 3), 0.0);
    }
}
