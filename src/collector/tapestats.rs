//! `tapestats`: SCSI tape drive statistics from /sys/class/scsi_tape/stN/stats, as
//! node_exporter 1.5 (only `stN` devices, not their `nstN`/mode aliases; nanoseconds as
//! seconds). Unparsable values are left out.

use regex::Regex;

use super::{dir_names, read_trim, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "tapestats",
    default_enabled: true,
    options: &[Opt {
        key: "ignored-devices",
        default: "^$",
        help: "Regexp of devices to ignore for tapestats.",
    }],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    let re = ctx.opt(&SPEC, "ignored-devices");
    Ok(Box::new(Tapestats {
        paths: ctx.paths.clone(),
        ignored: Regex::new(&re).map_err(|e| format!("ignored-devices {re:?}: {e}"))?,
    }))
}

struct Tapestats {
    paths: Paths,
    ignored: Regex,
}

/// (stats file, metric, divisor, help).
const STATS: [(&str, &str, f64, &str); 10] = [
    ("in_flight", "io_now", 1.0, "The number of I/Os currently outstanding to this device."),
    ("io_ns", "io_time_seconds_total", 1e9, "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used."),
    ("other_cnt", "io_others_total", 1.0, "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total"),
    ("read_byte_cnt", "read_bytes_total", 1.0, "The number of bytes read from the tape drive."),
    ("read_cnt", "reads_completed_total", 1.0, "The number of read requests issued to the tape drive."),
    ("read_ns", "read_time_seconds_total", 1e9, "The amount of time spent waiting for read requests to complete."),
    ("resid_cnt", "residual_total", 1.0, "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape."),
    ("write_byte_cnt", "written_bytes_total", 1.0, "The number of bytes written to the tape drive."),
    ("write_cnt", "writes_completed_total", 1.0, "The number of write requests issued to the tape drive."),
    ("write_ns", "write_time_seconds_total", 1e9, "The amount of time spent waiting for write requests to complete."),
];

fn is_tape(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Collector for Tapestats {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let base = self.paths.sys("class/scsi_tape");
        let mut fams: Vec<Family> = STATS
            .iter()
            .map(|(_, name, _, help)| {
                let name = format!("node_tape_{name}");
                if name == "node_tape_io_now" {
                    Family::gauge(name, *help)
                } else {
                    Family::counter(name, *help)
                }
            })
            .collect();
        for dev in dir_names(&base)? {
            if !is_tape(&dev) || self.ignored.is_match(&dev) {
                continue;
            }
            let dir = base.join(&dev).join("stats");
            for (fam, (file, _, div, _)) in fams.iter_mut().zip(STATS) {
                if let Some(v) = read_trim(&dir.join(file))
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    fam.add(&[("device", &dev)], v as f64 / div);
                }
            }
        }
        out.extend(fams);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_st_devices() {
        assert!(is_tape("st0") && is_tape("st12"));
        assert!(!is_tape("nst0") && !is_tape("st0a") && !is_tape("st"));
    }
}
