//! Differential test against the real node_exporter 1.5 (Debian's prometheus-node-exporter):
//! both serve the same fixture trees with the same collectors; every series (name + labels) must
//! appear in both, and every deterministic value must match, except the differences listed below.

mod common;

use std::collections::BTreeMap;

/// The collectors compared (node_exporter's names; telltale uses the same).
const COLLECTORS: &[&str] = &[
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "interrupts",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "processes",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
    "xfs",
    "zfs",
];

/// Series present on only one side, by metric-name prefix, with the reason.
const ONLY_ONE_SIDE: &[(&str, &str)] = &[
    (
        "node_exporter_build_info",
        "each exporter reports its own build",
    ),
    ("telltale_", "telltale's own metrics"),
    (
        "instance:",
        "the embedded default's shipped recording rules, once their first evaluation ran",
    ),
    (
        "ALERTS",
        "the embedded default's shipped alerting rules, once their first evaluation ran",
    ),
    (
        "promhttp_metric_handler_",
        "node_exporter's HTTP handler metrics (served even with --web.disable-exporter-metrics)",
    ),
];

/// Series whose values legitimately differ between two reads, by name prefix, with the reason.
const VALUE_DIFFERS: &[(&str, &str)] = &[
    (
        "node_scrape_collector_duration_seconds",
        "wall time of each scrape",
    ),
    (
        "node_time_seconds",
        "the clock moves between the two scrapes",
    ),
    (
        "node_timex_",
        "adjtimex(2) reads the live kernel clock state (offset, frequency, ...)",
    ),
    (
        "node_filesystem_avail_bytes",
        "statfs(2) of the live disk behind the fixture mount points: other processes write \
         between the two scrapes (sizes and inode totals still compare)",
    ),
    (
        "node_filesystem_free_bytes",
        "statfs(2) of the live disk, as above",
    ),
    (
        "node_filesystem_files_free",
        "statfs(2) of the live disk, as above",
    ),
];

/// Parses exposition text into `name{labels}` → value.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = split_sample(line);
        let v = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        out.insert(canonical(series), v);
    }
    out
}

/// Splits `name{a="x y"} 1 [ts]` at the value, respecting quoted label values.
fn split_sample(line: &str) -> (&str, &str) {
    let mut in_quotes = false;
    let mut escaped = false;
    let mut depth = 0;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '{' if !in_quotes => depth += 1,
            '}' if !in_quotes => depth -= 1,
            ' ' if !in_quotes && depth == 0 => {
                let value = line[i + 1..].split(' ').next().unwrap_or("");
                return (&line[..i], value);
            }
            _ => {}
        }
    }
    panic!("no value in {line:?}")
}

/// Sorts label pairs so both sides' orders compare equal.
fn canonical(series: &str) -> String {
    let Some(open) = series.find('{') else {
        return series.to_string();
    };
    let name = &series[..open];
    let body = &series[open + 1..series.len() - 1];
    let mut pairs = Vec::new();
    let (mut start, mut in_quotes, mut escaped) = (0, false, false);
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                pairs.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < body.len() {
        pairs.push(&body[start..]);
    }
    pairs.sort();
    format!("{name}{{{}}}", pairs.join(","))
}

/// Points the textfile collector at a glob (`textfile*`: two directories), as node_exporter 1.5
/// accepts one.
fn textfile_glob(args: Vec<String>) -> Vec<String> {
    args.into_iter()
        .map(
            |a| match a.strip_prefix("--collector.textfile.directory=") {
                Some(dir) => format!("--collector.textfile.directory={dir}*"),
                None => a,
            },
        )
        .collect()
}

fn listed(series: &str, table: &[(&str, &str)]) -> bool {
    table.iter().any(|(prefix, _)| series.starts_with(prefix))
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[test]
fn same_series_and_values_as_node_exporter_1_5() {
    let node_exporter = common::peer("/usr/bin/prometheus-node-exporter");
    let mut args: Vec<String> = textfile_glob(common::fixture_args());
    args.push("--collector.disable-defaults".into());
    args.push("--web.disable-exporter-metrics".into());
    args.extend(COLLECTORS.iter().map(|c| format!("--collector.{c}")));
    // cpu.info with both of its filters (the fixture's /proc/cpuinfo has flags and bugs), and
    // bcache's priority stats.
    args.extend(
        [
            "--collector.cpu.info",
            "--collector.cpu.info.flags-include=^(aes|avx.*|x2apic)$",
            "--collector.cpu.info.bugs-include=spectre.*",
            "--collector.bcache.priorityStats",
        ]
        .map(String::from),
    );

    let ours = common::spawn(&common::bin(), &args, "/metrics");
    // node_exporter 1.5 reads interface counters over netlink by default, which sees the host's
    // interfaces, not the fixture tree; telltale reads /proc/net/dev (the same kernel counters).
    args.push("--no-collector.netdev.netlink".into());
    let theirs = common::spawn(&node_exporter, &args, "/metrics");
    let a = parse(&common::get(&ours.addr(), "/metrics"));
    let b = parse(&common::get(&theirs.addr(), "/metrics"));

    let mut problems = Vec::new();
    for (series, va) in &a {
        match b.get(series) {
            None if !listed(series, ONLY_ONE_SIDE) => {
                problems.push(format!("only telltale: {series} {va}"))
            }
            Some(vb) if !listed(series, VALUE_DIFFERS) && !close(*va, *vb) => {
                problems.push(format!("value: {series} telltale={va} node_exporter={vb}"))
            }
            _ => {}
        }
    }
    for (series, vb) in &b {
        if !a.contains_key(series) && !listed(series, ONLY_ONE_SIDE) {
            problems.push(format!("only node_exporter: {series} {vb}"));
        }
    }
    assert!(
        a.len() > 300,
        "suspiciously few series from telltale: {}",
        a.len()
    );
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_parser_of_this_test_is_sound() {
    let m = parse("# HELP x y\nx{b=\"2\",a=\"q \\\"}\"} 1.5\ny 3 1000\n");
    assert_eq!(m.get("x{a=\"q \\\"}\",b=\"2\"}"), Some(&1.5));
    assert_eq!(m.get("y"), Some(&3.0));
}
