//! End-to-end golden test: the binary on the fixture trees under tests/fixtures, its /metrics
//! (unstable lines dropped) compared line by line with tests/golden/metrics.txt.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the golden file.

mod common;

use regex::Regex;

/// Series whose values depend on the clock, the host kernel, the checkout or the disk the fixture
/// mount points live on, not on the fixtures (the differential test compares those live).
const UNSTABLE: &str = r"^(# (HELP|TYPE) )?(node_filesystem_(size_bytes|free_bytes|avail_bytes|files|files_free)|process_|telltale_build_info|telltale_config_last_reload_success_timestamp_seconds|node_scrape_collector_duration_seconds|node_time_seconds|node_timex_|node_uname_info|node_textfile_mtime_seconds)";

fn fixture_args() -> Vec<String> {
    // The textfile directory as a glob (`textfile*`: two directories), as node_exporter 1.5
    // accepts one.
    let mut args: Vec<String> = common::fixture_args()
        .into_iter()
        .map(
            |a| match a.strip_prefix("--collector.textfile.directory=") {
                Some(dir) => format!("--collector.textfile.directory={dir}*"),
                None => a,
            },
        )
        .collect();
    args.push("--log.level=debug".into());
    // The off-by-default collectors the "Node Exporter Full" dashboard queries.
    args.extend(
        [
            "--collector.processes",
            "--collector.interrupts",
            "--collector.cpu.info",
            "--collector.cpu.info.flags-include=^(aes|avx.*|x2apic)$",
            "--collector.cpu.info.bugs-include=spectre.*",
        ]
        .map(String::from),
    );
    // A config without rule files: the embedded default also runs the shipped rules, whose
    // evaluations would make the output depend on timing.
    args.push(format!(
        "--config={}",
        common::root().join("tests/golden/telltale.yml").display()
    ));
    args
}

/// Drops unstable lines and writes the checkout's path (in textfile help texts) as `<repo>`.
fn stable(text: &str) -> String {
    let re = Regex::new(UNSTABLE).unwrap();
    let root = common::root().display().to_string();
    text.lines()
        .filter(|l| !re.is_match(l))
        .map(|l| format!("{}\n", l.replace(&root, "<repo>")))
        .collect()
}

#[test]
fn metrics_match_the_golden_file() {
    let p = common::spawn(&common::bin(), &fixture_args(), "/-/ready");
    let got = stable(&common::get(&p.addr(), "/metrics"));
    let golden = common::root().join("tests/golden/metrics.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let mut diffs = Vec::new();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (
            w.get(i).copied().unwrap_or("<missing>"),
            g.get(i).copied().unwrap_or("<missing>"),
        );
        if a != b {
            diffs.push(format!("line {}:\n  want: {a}\n  got:  {b}", i + 1));
            if diffs.len() >= 20 {
                break;
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "/metrics differs from {}:\n{}",
        golden.display(),
        diffs.join("\n")
    );
    // Every collector ran on the fixtures and succeeded.
    let failed: Vec<&str> = got
        .lines()
        .filter(|l| l.starts_with("node_scrape_collector_success{") && l.ends_with(" 0"))
        .collect();
    assert!(
        failed.is_empty(),
        "collectors failed on the fixture tree: {failed:?}\n{}",
        p.log_text()
    );
}

#[test]
fn golden_file_is_clean_under_promtool() {
    let golden = std::fs::read_to_string(common::root().join("tests/golden/metrics.txt")).unwrap();
    let bad = common::promtool_unexpected(&golden);
    assert!(bad.is_empty(), "promtool check metrics: {bad:#?}");
}

#[test]
fn live_host_output_is_clean_under_promtool() {
    let args = vec!["--web.listen-address=127.0.0.1:{port}".to_string()];
    let p = common::spawn(&common::bin(), &args, "/-/ready");
    let text = common::get(&p.addr(), "/metrics");
    assert!(
        text.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}"),
        "{text}"
    );
    let bad = common::promtool_unexpected(&text);
    assert!(bad.is_empty(), "promtool check metrics: {bad:#?}");
}

#[test]
fn openmetrics_and_gzip_are_negotiated() {
    let p = common::spawn(&common::bin(), &fixture_args(), "/-/ready");
    let om = common::http(
        &p.addr(),
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
        "",
    )
    .unwrap();
    assert!(om
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let text = om.text();
    assert!(text.ends_with("# EOF\n"));
    assert!(
        text.contains("# TYPE node_cpu_seconds counter\n"),
        "counter families lose _total in OpenMetrics"
    );
    // promtool only lints the 0.0.4 text format; OpenMetrics parsing by a real Prometheus is
    // covered by tests/prometheus_scrape.rs (Prometheus asks for OpenMetrics first).
    assert!(!text.contains(" untyped\n"), "OpenMetrics calls it unknown");
    let counters: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("# TYPE ")
                .and_then(|r| r.strip_suffix(" counter"))
        })
        .collect();
    for c in counters {
        assert!(!c.ends_with("_total"), "family {c} must not end in _total");
        let bare = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .any(|l| l.split(['{', ' ']).next() == Some(c));
        assert!(!bare, "samples of counter {c} must be named {c}_total");
    }

    let gz = common::http(
        &p.addr(),
        "GET",
        "/metrics",
        &[("Accept-Encoding", "gzip")],
        "",
    )
    .unwrap();
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut plain = String::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert!(plain.contains("node_load1 "), "{plain}");
}

#[test]
fn collect_filters_and_endpoints() {
    let p = common::spawn(&common::bin(), &fixture_args(), "/-/ready");
    let only = common::get(&p.addr(), "/metrics?collect[]=loadavg");
    assert!(only.contains("node_load1 ") && !only.contains("node_cpu_seconds_total"));
    let without = common::get(&p.addr(), "/metrics?exclude[]=cpu");
    assert!(!without.contains("node_cpu_seconds_total") && without.contains("node_load1 "));
    let bad = common::http(
        &p.addr(),
        "GET",
        "/metrics?collect[]=cpu&exclude[]=loadavg",
        &[],
        "",
    )
    .unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(common::get(&p.addr(), "/-/healthy"), "Healthy\n");
    assert!(common::get(&p.addr(), "/").contains("href=\"/metrics\""));
}

#[test]
fn the_promtool_allowance_hides_only_compatibility_lints() {
    let bad =
        common::promtool_unexpected("# HELP foo_bytes x\n# TYPE foo_bytes counter\nfoo_bytes 1\n");
    assert!(!bad.is_empty(), "a counter without _total must be reported");
    let camel = common::promtool_unexpected("# HELP node_memory_MemFree_bytes x\n# TYPE node_memory_MemFree_bytes gauge\nnode_memory_MemFree_bytes 1\n");
    assert!(camel.is_empty(), "{camel:?}");
}
