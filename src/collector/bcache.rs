//! `bcache`: bcache cache sets from /sys/fs/bcache/<uuid>, as node_exporter 1.5: cache set
//! figures, per backing device (`bdevN`: dirty data, totals, writeback controller from
//! `writeback_rate_debug`) and per cache device (`cacheN`; `priority_stats` behind
//! `--collector.bcache.priorityStats`). Sizes are bcache's "human" numbers (`2.3M`, whose
//! fraction is in 1/1024ths), decoded as procfs does. Unreadable values are left out.

use std::path::Path;

use super::{dir_names, read, read_trim, Collector, Ctx, Opt, Paths, Spec};
use crate::model::{Family, MetricType};

pub const SPEC: Spec = Spec {
    name: "bcache",
    default_enabled: true,
    options: &[Opt {
        key: "priorityStats",
        default: "false",
        help: "Expose expensive priority stats.",
    }],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Bcache {
        paths: ctx.paths.clone(),
        priority: ctx.opt(&SPEC, "priorityStats") == "true",
    }))
}

struct Bcache {
    paths: Paths,
    priority: bool,
}

/// (metric, file under the cache set, type, help).
const SET: [(&str, &str, MetricType, &str); 10] = [
    ("average_key_size_sectors", "average_key_size", MetricType::Gauge, "Average data per key in the btree (sectors)."),
    ("btree_cache_size_bytes", "btree_cache_size", MetricType::Gauge, "Amount of memory currently used by the btree cache."),
    ("cache_available_percent", "cache_available_percent", MetricType::Gauge, "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data)."),
    ("congested", "congested", MetricType::Gauge, "Congestion."),
    ("root_usage_percent", "root_usage_percent", MetricType::Gauge, "Percentage of the root btree node in use (tree depth increases if too high)."),
    ("tree_depth", "tree_depth", MetricType::Gauge, "Depth of the btree."),
    ("active_journal_entries", "internal/active_journal_entries", MetricType::Gauge, "Number of journal entries that are newer than the index."),
    ("btree_nodes", "internal/btree_nodes", MetricType::Gauge, "Total nodes in the btree."),
    ("btree_read_average_duration_seconds", "internal/btree_read_average_duration_us", MetricType::Gauge, "Average btree read duration."),
    ("cache_read_races_total", "internal/cache_read_races", MetricType::Counter, "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed."),
];

/// (metric, file under `bdevN`, type, help).
const BDEV: [(&str, &str, MetricType, &str); 8] = [
    (
        "dirty_data_bytes",
        "dirty_data",
        MetricType::Gauge,
        "Amount of dirty data for this backing device in the cache.",
    ),
    (
        "bypassed_bytes_total",
        "stats_total/bypassed",
        MetricType::Counter,
        "Amount of IO (both reads and writes) that has bypassed the cache.",
    ),
    (
        "cache_bypass_hits_total",
        "stats_total/cache_bypass_hits",
        MetricType::Counter,
        "Hits for IO intended to skip the cache.",
    ),
    (
        "cache_bypass_misses_total",
        "stats_total/cache_bypass_misses",
        MetricType::Counter,
        "Misses for IO intended to skip the cache.",
    ),
    (
        "cache_hits_total",
        "stats_total/cache_hits",
        MetricType::Counter,
        "Hits counted per individual IO as bcache sees them.",
    ),
    (
        "cache_miss_collisions_total",
        "stats_total/cache_miss_collisions",
        MetricType::Counter,
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
    (
        "cache_misses_total",
        "stats_total/cache_misses",
        MetricType::Counter,
        "Misses counted per individual IO as bcache sees them.",
    ),
    (
        "cache_readaheads_total",
        "stats_total/cache_readaheads",
        MetricType::Counter,
        "Count of times readahead occurred.",
    ),
];

/// (metric, `writeback_rate_debug` key, type, help).
const DEBUG: [(&str, &str, MetricType, &str); 5] = [
    (
        "writeback_rate",
        "rate",
        MetricType::Gauge,
        "Current writeback rate for this backing device in bytes.",
    ),
    (
        "dirty_target_bytes",
        "target",
        MetricType::Gauge,
        "Current dirty data target threshold for this backing device in bytes.",
    ),
    (
        "writeback_rate_proportional_term",
        "proportional",
        MetricType::Gauge,
        "Current result of proportional controller, part of writeback rate",
    ),
    (
        "writeback_rate_integral_term",
        "integral",
        MetricType::Gauge,
        "Current result of integral controller, part of writeback rate",
    ),
    (
        "writeback_change",
        "change",
        MetricType::Gauge,
        "Last writeback rate change step for this backing device.",
    ),
];

/// (metric, file under `cacheN`, type, help).
const CACHE: [(&str, &str, MetricType, &str); 3] = [
    (
        "io_errors",
        "io_errors",
        MetricType::Gauge,
        "Number of errors that have occurred, decayed by io_error_halflife.",
    ),
    (
        "metadata_written_bytes_total",
        "metadata_written",
        MetricType::Counter,
        "Sum of all non data writes (btree writes and all other metadata).",
    ),
    (
        "written_bytes_total",
        "written",
        MetricType::Counter,
        "Sum of all data that has been written to the cache.",
    ),
];

/// (metric, `priority_stats` key, type, help).
const PRIORITY: [(&str, &str, MetricType, &str); 2] = [
    (
        "priority_stats_unused_percent",
        "Unused",
        MetricType::Gauge,
        "The percentage of the cache that doesn't contain any data.",
    ),
    (
        "priority_stats_metadata_percent",
        "Metadata",
        MetricType::Gauge,
        "Bcache's metadata overhead.",
    ),
];

/// Decodes bcache's `bch_hprint` numbers: `12`, `2.0M`, `321.5k` (the digits after the point
/// count 1/1024ths, read as procfs reads them: divided by 10.24).
pub fn dehumanize(s: &str) -> Option<u64> {
    let last = s.chars().last()?;
    let (num, mul) = if last.is_ascii_digit() {
        return Some(s.parse::<f64>().ok()? as u64);
    } else {
        let mul = match last {
            'k' => 1u64 << 10,
            'M' => 1 << 20,
            'G' => 1 << 30,
            'T' => 1 << 40,
            'P' => 1 << 50,
            'E' => 1 << 60,
            _ => 0,
        };
        (&s[..s.len() - last.len_utf8()], mul as f64)
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i.parse::<f64>().ok()?, f.parse::<f64>().ok()? / 10.24),
        None => (num.parse::<f64>().ok()?, 0.0),
    };
    Some(((int + frac) * mul) as u64)
}

/// `key: value` lines (`rate:\t\t1.1M/sec`) with the `/sec` suffix dropped.
pub fn key_values(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let v = v.trim();
            Some((k.trim(), v.strip_suffix("/sec").unwrap_or(v)))
        })
        .collect()
}

struct Out(std::collections::BTreeMap<&'static str, Family>);

impl Out {
    fn add(
        &mut self,
        (name, help, kind): (&'static str, &str, MetricType),
        l: &[(&str, &str)],
        v: f64,
    ) {
        self.0
            .entry(name)
            .or_insert_with(|| Family::new(format!("node_bcache_{name}"), help, kind))
            .add(l, v);
    }

    fn files(
        &mut self,
        table: &[(&'static str, &str, MetricType, &str)],
        dir: &Path,
        l: &[(&str, &str)],
    ) {
        for (name, file, kind, help) in table {
            let Some(v) = read_trim(&dir.join(file)).ok().and_then(|v| dehumanize(&v)) else {
                continue;
            };
            // node_exporter 1.5 scales this microsecond figure as nanoseconds.
            let v = if *name == "btree_read_average_duration_seconds" {
                v as f64 * 1e-9
            } else {
                v as f64
            };
            self.add((name, help, *kind), l, v);
        }
    }
}

impl Bcache {
    fn cache_set(&self, out: &mut Out, dir: &Path, uuid: &str) -> Result<(), String> {
        out.files(&SET, dir, &[("uuid", uuid)]);
        for sub in dir_names(dir)? {
            let d = dir.join(&sub);
            let numbered = |p: &str| {
                sub.strip_prefix(p)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            };
            if numbered("bdev") {
                let l = [("backing_device", sub.as_str()), ("uuid", uuid)];
                out.files(&BDEV, &d, &l);
                if let Ok(text) = read(&d.join("writeback_rate_debug")) {
                    let kv = key_values(&text);
                    for (name, key, kind, help) in DEBUG {
                        if let Some(v) = kv
                            .iter()
                            .find(|(k, _)| *k == key)
                            .and_then(|(_, v)| dehumanize(v))
                        {
                            out.add((name, help, kind), &l, v as f64);
                        }
                    }
                }
            } else if numbered("cache") {
                let l = [("cache_device", sub.as_str()), ("uuid", uuid)];
                out.files(&CACHE, &d, &l);
                if !self.priority {
                    continue;
                }
                if let Ok(text) = read(&d.join("priority_stats")) {
                    let kv = key_values(&text);
                    for (name, key, kind, help) in PRIORITY {
                        let v = kv
                            .iter()
                            .find(|(k, _)| *k == key)
                            .and_then(|(_, v)| v.trim_end_matches('%').parse::<u64>().ok());
                        if let Some(v) = v {
                            out.add((name, help, kind), &l, v as f64);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Collector for Bcache {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let base = self.paths.sys("fs/bcache");
        let mut fams = Out(Default::default());
        // No bcache (no fs/bcache): nothing to report, as node_exporter's empty glob.
        let sets = dir_names(&base).unwrap_or_default();
        for uuid in sets.iter().filter(|n| n.contains('-')) {
            if let Err(e) = self.cache_set(&mut fams, &base.join(uuid), uuid) {
                tracing::debug!(uuid = %uuid, err = %e, "bcache cache set skipped");
            }
        }
        out.extend(fams.0.into_values());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(dehumanize("12"), Some(12));
        assert_eq!(dehumanize("2.0M"), Some(2_097_152));
        assert_eq!(dehumanize("36.8M"), Some(38_567_936));
        assert_eq!(dehumanize("512.7k"), Some(524_988));
        assert_eq!(dehumanize("x"), None);
        let kv = key_values("rate:\t\t1.1M/sec\nnext io:\t17ms\n");
        assert_eq!(kv, vec![("rate", "1.1M"), ("next io", "17ms")]);
    }
}
