//! `diskstats`: per-device I/O counters from /proc/diskstats, plus node_exporter 1.5's udev-based
//! info series (`node_disk_info`, filesystem, device-mapper and ATA properties).

use std::collections::HashMap;
use std::path::PathBuf;

use super::devfilter::DeviceFilter;
use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "diskstats",
    default_enabled: true,
    options: &[
        Opt {
            key: "device-exclude",
            default: r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$",
            help: "Regexp of diskstats devices to exclude (mutually exclusive to device-include).",
        },
        Opt {
            key: "device-include",
            default: "",
            help: "Regexp of diskstats devices to include (mutually exclusive to device-exclude).",
        },
    ],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Diskstats {
        paths: ctx.paths.clone(),
        filter: DeviceFilter::from_ctx(ctx, &SPEC)?,
    }))
}

struct Diskstats {
    paths: Paths,
    filter: DeviceFilter,
}

/// One /proc/diskstats line: major, minor, name and however many counters the kernel printed.
#[derive(Debug, PartialEq)]
pub struct DiskLine {
    pub major: u32,
    pub minor: u32,
    pub name: String,
    pub stats: Vec<u64>,
}

/// The counters in /proc/diskstats order: name, help, type, scale (sectors→bytes, ms→s).
#[rustfmt::skip]
const STATS: [(&str, &str, bool, f64); 17] = [
    ("reads_completed_total", "The total number of reads completed successfully.", true, 1.0),
    ("reads_merged_total", "The total number of reads merged.", true, 1.0),
    ("read_bytes_total", "The total number of bytes read successfully.", true, 512.0),
    ("read_time_seconds_total", "The total number of seconds spent by all reads.", true, 0.001),
    ("writes_completed_total", "The total number of writes completed successfully.", true, 1.0),
    ("writes_merged_total", "The number of writes merged.", true, 1.0),
    ("written_bytes_total", "The total number of bytes written successfully.", true, 512.0),
    ("write_time_seconds_total", "This is the total number of seconds spent by all writes.", true, 0.001),
    ("io_now", "The number of I/Os currently in progress.", false, 1.0),
    ("io_time_seconds_total", "Total seconds spent doing I/Os.", true, 0.001),
    ("io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.", true, 0.001),
    ("discards_completed_total", "The total number of discards completed successfully.", true, 1.0),
    ("discards_merged_total", "The total number of discards merged.", true, 1.0),
    ("discarded_sectors_total", "The total number of sectors discarded successfully.", true, 1.0),
    ("discard_time_seconds_total", "This is the total number of seconds spent by all discards.", true, 0.001),
    ("flush_requests_total", "The total number of flush requests completed successfully", true, 1.0),
    ("flush_requests_time_seconds_total", "This is the total number of seconds spent by all flush requests.", true, 0.001),
];

/// Parses /proc/diskstats; kernels print 11, 15 or 17 counters and each line keeps what it has.
pub fn parse_diskstats(text: &str) -> Result<Vec<DiskLine>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 4 {
            return Err(format!("diskstats: short line {line:?}"));
        }
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|e| format!("diskstats: {s:?}: {e}"))
        };
        out.push(DiskLine {
            major: num(f[0])? as u32,
            minor: num(f[1])? as u32,
            name: f[2].to_string(),
            stats: f[3..].iter().map(|s| num(s)).collect::<Result<_, _>>()?,
        });
    }
    Ok(out)
}

/// Parses a udev database file (`/run/udev/data/bMAJ:MIN`): the `E:KEY=VALUE` properties.
pub fn parse_udev(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn disk_family(name: &str, help: &str, counter: bool) -> Family {
    let name = format!("node_disk_{name}");
    if counter {
        Family::counter(name, help)
    } else {
        Family::gauge(name, help)
    }
}

/// Builds every diskstats family from parsed lines and a udev lookup by (major, minor).
pub fn families(
    disks: &[DiskLine],
    filter: &DeviceFilter,
    udev: impl Fn(u32, u32) -> HashMap<String, String>,
) -> Vec<Family> {
    let mut stats: Vec<Family> = STATS
        .iter()
        .map(|(n, h, c, _)| disk_family(n, h, *c))
        .collect();
    let mut info = Family::gauge("node_disk_info", "Info of /sys/block/<block_device>.");
    let mut fs_info = Family::gauge("node_disk_filesystem_info", "Info about disk filesystem.");
    let mut dm_info = Family::gauge(
        "node_disk_device_mapper_info",
        "Info about disk device mapper.",
    );
    let mut ata = [
        (
            "ID_ATA_WRITE_CACHE",
            disk_family("ata_write_cache", "ATA disk has a write cache.", false),
        ),
        (
            "ID_ATA_WRITE_CACHE_ENABLED",
            disk_family(
                "ata_write_cache_enabled",
                "ATA disk has its write cache enabled.",
                false,
            ),
        ),
        (
            "ID_ATA_ROTATION_RATE_RPM",
            disk_family(
                "ata_rotation_rate_rpm",
                "ATA disk rotation rate in RPMs (0 for SSDs).",
                false,
            ),
        ),
    ];
    for d in disks {
        if filter.ignored(&d.name) {
            continue;
        }
        let dev = d.name.as_str();
        let u = udev(d.major, d.minor);
        let get = |k: &str| u.get(k).map(String::as_str).unwrap_or("");
        let (major, minor) = (d.major.to_string(), d.minor.to_string());
        info.add(
            &[
                ("device", dev),
                ("major", &major),
                ("minor", &minor),
                ("path", get("ID_PATH")),
                ("wwn", get("ID_WWN")),
                ("model", get("ID_MODEL")),
                ("serial", get("ID_SERIAL_SHORT")),
                ("revision", get("ID_REVISION")),
            ],
            1.0,
        );
        for (i, v) in d.stats.iter().take(STATS.len()).enumerate() {
            stats[i].add(&[("device", dev)], *v as f64 * STATS[i].3);
        }
        if !get("ID_FS_TYPE").is_empty() {
            let labels = [
                ("device", dev),
                ("type", get("ID_FS_TYPE")),
                ("usage", get("ID_FS_USAGE")),
                ("uuid", get("ID_FS_UUID")),
                ("version", get("ID_FS_VERSION")),
            ];
            fs_info.add(&labels, 1.0);
        }
        if !get("DM_NAME").is_empty() {
            let labels = [
                ("device", dev),
                ("name", get("DM_NAME")),
                ("uuid", get("DM_UUID")),
                ("vg_name", get("DM_VG_NAME")),
                ("lv_name", get("DM_LV_NAME")),
                ("lv_layer", get("DM_LV_LAYER")),
            ];
            dm_info.add(&labels, 1.0);
        }
        if !get("ID_ATA").is_empty() {
            for (key, fam) in ata.iter_mut() {
                if let Some(Ok(v)) = u.get(*key).map(|s| s.parse::<f64>()) {
                    fam.add(&[("device", dev)], v);
                }
            }
        }
    }
    stats.extend([info, fs_info, dm_info]);
    stats.extend(ata.into_iter().map(|(_, f)| f));
    stats
}

impl Collector for Diskstats {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let disks = parse_diskstats(&read(&self.paths.proc("diskstats"))?)?;
        let udev_dir = self.paths.udev_data.clone();
        let udev = |maj: u32, min: u32| {
            let p: PathBuf = udev_dir.join(format!("b{maj}:{min}"));
            super::kfile::read_to_string(p)
                .map(|t| parse_udev(&t))
                .unwrap_or_default()
        };
        out.extend(families(&disks, &self.filter, udev));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "   8       0 sda 10 2 2048 30 5 1 100 7 1 40 50 3 0 64 9 4 12\n\
   8       1 sda1 1 0 8 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n\
  11       0 sr0 52 0 4184 41 0 0 0 0 0 56 41\n";

    fn value(fams: &[Family], name: &str, dev: &str) -> Option<f64> {
        let f = fams.iter().find(|f| f.name == name)?;
        let s = f
            .samples
            .iter()
            .find(|s| s.labels.contains(&("device".into(), dev.into())))?;
        Some(s.value)
    }

    #[test]
    fn lines_keep_their_counter_count() {
        let d = parse_diskstats(TEXT).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!((d[0].major, d[0].minor, d[0].name.as_str()), (8, 0, "sda"));
        assert_eq!(d[0].stats.len(), 17);
        assert_eq!(d[2].stats.len(), 11);
        assert!(parse_diskstats("8 0 sda x").is_err());
    }

    #[test]
    fn units_filter_and_short_lines() {
        let filter = DeviceFilter::new(SPEC.options[0].default, "").unwrap();
        let fams = families(&parse_diskstats(TEXT).unwrap(), &filter, |_, _| {
            HashMap::new()
        });
        assert_eq!(
            value(&fams, "node_disk_read_bytes_total", "sda"),
            Some(2048.0 * 512.0)
        );
        assert_eq!(
            value(&fams, "node_disk_read_time_seconds_total", "sda"),
            Some(0.03)
        );
        assert_eq!(
            value(&fams, "node_disk_discarded_sectors_total", "sda"),
            Some(64.0)
        );
        assert_eq!(
            value(&fams, "node_disk_flush_requests_time_seconds_total", "sda"),
            Some(0.012)
        );
        assert_eq!(value(&fams, "node_disk_io_now", "sda"), Some(1.0));
        assert_eq!(
            value(&fams, "node_disk_reads_completed_total", "sda1"),
            None
        );
        assert_eq!(
            value(&fams, "node_disk_io_time_weighted_seconds_total", "sr0"),
            Some(0.041)
        );
        assert_eq!(
            value(&fams, "node_disk_discards_completed_total", "sr0"),
            None
        );
        assert_eq!(value(&fams, "node_disk_info", "sr0"), Some(1.0));
    }

    #[test]
    fn udev_properties_feed_info_series() {
        let udev = parse_udev("S:disk/by-id/x\nE:ID_ATA=1\nE:ID_SERIAL_SHORT=S1\nE:ID_ATA_ROTATION_RATE_RPM=7200\nE:ID_ATA_WRITE_CACHE=bad\nE:ID_FS_TYPE=xfs\nE:DM_NAME=vg-lv\nE:X=a=b\n");
        assert_eq!(udev.get("X").map(String::as_str), Some("a=b"));
        let filter = DeviceFilter::new("", "").unwrap();
        let fams = families(&parse_diskstats(TEXT).unwrap(), &filter, |maj, min| {
            if (maj, min) == (8, 0) {
                udev.clone()
            } else {
                HashMap::new()
            }
        });
        let info = fams.iter().find(|f| f.name == "node_disk_info").unwrap();
        assert!(info.samples[0]
            .labels
            .contains(&("serial".into(), "S1".into())));
        assert_eq!(
            value(&fams, "node_disk_ata_rotation_rate_rpm", "sda"),
            Some(7200.0)
        );
        assert_eq!(value(&fams, "node_disk_ata_write_cache", "sda"), None);
        assert_eq!(value(&fams, "node_disk_filesystem_info", "sda"), Some(1.0));
        assert_eq!(
            value(&fams, "node_disk_device_mapper_info", "sda"),
            Some(1.0)
        );
        assert_eq!(value(&fams, "node_disk_filesystem_info", "sr0"), None);
    }
}
