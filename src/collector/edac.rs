//! `edac`: memory controller error counters from /sys/devices/system/edac/mc, as node_exporter
//! 1.5: per controller (`mcN`) and per chip-select row (`csrowN`, plus `unknown` for the
//! controller's "noinfo" counts). Unreadable counters are skipped.

use std::path::Path;

use super::{dir_names, read_trim, Paths};
use crate::model::Family;

super::paths_collector!("edac", true);

fn count(dir: &Path, file: &str) -> Option<f64> {
    read_trim(&dir.join(file))
        .ok()?
        .parse::<u64>()
        .ok()
        .map(|v| v as f64)
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("devices/system/edac/mc");
    let c = |n: &str, h: &str| Family::counter(format!("node_edac_{n}"), h);
    let mut ce = c(
        "correctable_errors_total",
        "Total correctable memory errors.",
    );
    let mut ue = c(
        "uncorrectable_errors_total",
        "Total uncorrectable memory errors.",
    );
    let mut row_ce = c(
        "csrow_correctable_errors_total",
        "Total correctable memory errors for this csrow.",
    );
    let mut row_ue = c(
        "csrow_uncorrectable_errors_total",
        "Total uncorrectable memory errors for this csrow.",
    );
    // No EDAC driver (no mc directory): nothing to report, as node_exporter's empty glob.
    for mc in dir_names(&base).unwrap_or_default() {
        let Some(n) = mc.strip_prefix("mc").filter(|n| n.parse::<u32>().is_ok()) else {
            continue;
        };
        let dir = base.join(&mc);
        let pairs = [
            (&mut ce, "ce_count", "", None),
            (&mut ue, "ue_count", "", None),
            (&mut row_ce, "ce_noinfo_count", "unknown", Some(())),
            (&mut row_ue, "ue_noinfo_count", "unknown", Some(())),
        ];
        for (fam, file, row, is_row) in pairs {
            if let Some(v) = count(&dir, file) {
                if is_row.is_some() {
                    fam.add(&[("controller", n), ("csrow", row)], v);
                } else {
                    fam.add(&[("controller", n)], v);
                }
            }
        }
        for row in dir_names(&dir)? {
            let Some(r) = row
                .strip_prefix("csrow")
                .filter(|r| r.parse::<u32>().is_ok())
            else {
                continue;
            };
            let rd = dir.join(&row);
            if let Some(v) = count(&rd, "ce_count") {
                row_ce.add(&[("controller", n), ("csrow", r)], v);
            }
            if let Some(v) = count(&rd, "ue_count") {
                row_ue.add(&[("controller", n), ("csrow", r)], v);
            }
        }
    }
    out.extend([ce, ue, row_ce, row_ue]);
    Ok(())
}
