//! `conntrack`: netfilter connection-tracking table size, limit and per-CPU statistics summed,
//! as node_exporter 1.5 (all gauges). Without the module loaded the files are absent: an error,
//! which node_exporter also reports as `node_scrape_collector_success 0`.

use super::{from_fn, read, read_trim, Collector, Ctx, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "conntrack",
    default_enabled: true,
    options: &[],
    build,
};

/// (column in /proc/net/stat/nf_conntrack, metric suffix, help).
const STATS: [(usize, &str, &str); 8] = [
    (2, "found", "Number of searched entries which were successful."),
    (4, "invalid", "Number of packets seen which can not be tracked."),
    (5, "ignore", "Number of packets seen which are already connected to a conntrack entry."),
    (8, "insert", "Number of entries inserted into the list."),
    (9, "insert_failed", "Number of entries for which list insertion was attempted but failed."),
    (10, "drop", "Number of packets dropped due to conntrack failure."),
    (11, "early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached."),
    (16, "search_restart", "Number of conntrack table lookups which had to be restarted due to hashtable resizes."),
];

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    from_fn(ctx, update)
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let uint = |rel: &str| -> Result<f64, String> {
        let text = read_trim(&paths.proc(rel))?;
        text.parse::<u64>()
            .map(|v| v as f64)
            .map_err(|_| format!("{rel}: invalid value {text:?}"))
    };
    let count = uint("sys/net/netfilter/nf_conntrack_count")?;
    out.push(
        Family::gauge(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
        )
        .with(&[], count),
    );
    let max = uint("sys/net/netfilter/nf_conntrack_max")?;
    out.push(
        Family::gauge(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
        )
        .with(&[], max),
    );
    let sums = parse_conntrack_stat(&read(&paths.proc("net/stat/nf_conntrack"))?)?;
    out.extend(stat_families(&sums));
    Ok(())
}

/// Sums the hex per-CPU rows (after the header) column by column; a row must have exactly 17
/// columns, as procfs requires.
pub fn parse_conntrack_stat(text: &str) -> Result<[u64; 17], String> {
    let mut sums = [0u64; 17];
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 17 {
            return Err(format!(
                "invalid conntrackstat entry, missing fields: {line:?}"
            ));
        }
        for (sum, f) in sums.iter_mut().zip(&fields) {
            let v = u64::from_str_radix(f, 16)
                .map_err(|_| format!("invalid hex value {f:?} in nf_conntrack stat"))?;
            *sum = sum.wrapping_add(v);
        }
    }
    Ok(sums)
}

pub fn stat_families(sums: &[u64; 17]) -> Vec<Family> {
    STATS
        .iter()
        .map(|(col, name, help)| {
            Family::gauge(format!("node_nf_conntrack_stat_{name}"), *help)
                .with(&[], sums[*col] as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
00000071  00000000 00000012 00000000 0000004a 00000b3c 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000003\n\
00000071  00000001 00000020 00000000 00000011 0000091e 00000000 00000000 00000002 00000001 00000002 00000001 00000000  00000000 00000000 00000000 00000000\n";

    #[test]
    fn rows_are_summed() {
        let sums = parse_conntrack_stat(STAT).unwrap();
        assert_eq!(sums[2], 0x12 + 0x20);
        assert_eq!(sums[5], 0xb3c + 0x91e);
        let fams = stat_families(&sums);
        let get = |n: &str| fams.iter().find(|f| f.name == n).unwrap().samples[0].value;
        assert_eq!(get("node_nf_conntrack_stat_found"), 50.0);
        assert_eq!(get("node_nf_conntrack_stat_insert"), 2.0);
        assert_eq!(get("node_nf_conntrack_stat_search_restart"), 3.0);
        assert_eq!(fams.len(), 8);
    }

    #[test]
    fn short_or_bad_rows_fail() {
        assert!(parse_conntrack_stat("header\n00000001 00000002\n").is_err());
        let bad = format!("h\n{}zz\n", "00000000 ".repeat(16));
        assert!(parse_conntrack_stat(&bad).is_err());
        assert_eq!(parse_conntrack_stat("header only\n").unwrap(), [0; 17]);
    }
}
