//! `zfs`: ZFS kstats from /proc/spl/kstat/zfs, as node_exporter 1.5: the uint64 rows of each
//! kstat file it knows (not `dbufstats`) as untyped `node_zfs_<subsystem>_<name>`, per-pool I/O counters
//! (`<pool>/io`), dataset counters (`<pool>/objset-*`) and pool state (`<pool>/state`). Rows of
//! other types or that do not parse are left out.

use std::collections::BTreeMap;

use super::{dir_names, read, Paths};
use crate::model::{Family, MetricType};

super::paths_collector!("zfs", true);

/// (kstat file, metric subsystem).
const FILES: [(&str, &str); 10] = [
    ("abdstats", "abd"),
    ("arcstats", "arc"),
    ("dmu_tx", "dmu_tx"),
    ("dnodestats", "dnode"),
    ("fm", "fm"),
    ("vdev_cache_stats", "vdev_cache"),
    ("vdev_mirror_stats", "vdev_mirror"),
    ("xuio_stats", "xuio"),
    ("zfetchstats", "zfetch"),
    ("zil", "zil"),
];

const STATES: [&str; 6] = [
    "online", "degraded", "faulted", "offline", "removed", "unavail",
];

/// The `name type data` rows after the column header, as (name, type, data).
pub fn kstat_rows(text: &str) -> Vec<(&str, &str, &str)> {
    let mut started = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let p: Vec<&str> = line.split_whitespace().collect();
        if !started {
            started = p == ["name", "type", "data"];
            continue;
        }
        if p.len() >= 3 {
            out.push((p[0], p[1], p[2]));
        }
    }
    out
}

/// The uint64 (type 4) rows of a kstat file.
pub fn uint_rows(text: &str) -> Vec<(String, u64)> {
    kstat_rows(text)
        .into_iter()
        .filter(|(_, t, _)| *t == "4")
        .filter_map(|(n, _, v)| Some((n.replace('-', "_"), v.parse().ok()?)))
        .collect()
}

/// A pool's `io` kstat: the column names line and the values line after the header.
pub fn io_columns(text: &str) -> Vec<(String, u64)> {
    let mut lines = text.lines().skip(1);
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
        .collect()
}

struct Out(BTreeMap<String, Family>);

impl Out {
    fn add(&mut self, name: String, help: String, kind: MetricType, l: &[(&str, &str)], v: f64) {
        self.0
            .entry(name.clone())
            .or_insert_with(|| Family::new(name, help, kind))
            .add(l, v);
    }
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.proc("spl/kstat/zfs");
    let entries = dir_names(&base)?;
    let mut fams = Out(BTreeMap::new());
    let u = MetricType::Untyped;
    for (file, sub) in FILES {
        let Ok(text) = read(&base.join(file)) else {
            continue;
        };
        for (name, v) in uint_rows(&text) {
            let help = format!("kstat.zfs.misc.{file}.{name}");
            fams.add(format!("node_zfs_{sub}_{name}"), help, u, &[], v as f64);
        }
    }
    for pool in entries.iter().filter(|e| base.join(e).is_dir()) {
        let dir = base.join(pool);
        if let Ok(text) = read(&dir.join("io")) {
            for (name, v) in io_columns(&text) {
                let help = format!("kstat.zfs.misc.io.{name}");
                fams.add(
                    format!("node_zfs_zpool_{name}"),
                    help,
                    u,
                    &[("zpool", pool)],
                    v as f64,
                );
            }
        }
        for objset in dir_names(&dir)?.iter().filter(|n| n.starts_with("objset-")) {
            let Ok(text) = read(&dir.join(objset)) else {
                continue;
            };
            let rows = kstat_rows(&text);
            let Some((_, _, dataset)) = rows.iter().find(|r| r.0 == "dataset_name") else {
                continue;
            };
            for (name, v) in uint_rows(&text) {
                let help = format!("kstat.zfs.misc.objset.{name}");
                let l = [("zpool", pool.as_str()), ("dataset", dataset)];
                fams.add(
                    format!("node_zfs_zpool_dataset_{name}"),
                    help,
                    u,
                    &l,
                    v as f64,
                );
            }
        }
        if let Ok(state) = read(&dir.join("state")) {
            let state = state.trim().to_lowercase();
            for s in STATES {
                let v = if state == s { 1.0 } else { 0.0 };
                let l = [("zpool", pool.as_str()), ("state", s)];
                fams.add(
                    "node_zfs_zpool_state".into(),
                    "kstat.zfs.misc.state".into(),
                    MetricType::Gauge,
                    &l,
                    v,
                );
            }
        }
    }
    out.extend(fams.0.into_values());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstat_rows_and_io() {
        let t = "6 1 0x01 91 4368 5266997922 97951858082072\nname type data\nhits 4 8\nneg-x 3 -5\nmem-free 4 7\nbad 4 x\n";
        assert_eq!(
            uint_rows(t),
            vec![("hits".into(), 8), ("mem_free".into(), 7)]
        );
        let io = "12 3 0x00 1 80 2225326830828 32953476980628\nnread nwritten\n10 20\n";
        assert_eq!(
            io_columns(io),
            vec![("nread".into(), 10), ("nwritten".into(), 20)]
        );
    }
}
