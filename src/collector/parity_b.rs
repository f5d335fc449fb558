//! Parity with real node_exporter 1.5.0: runs the network, disk, filesystem and textfile
//! collectors on the fixture tree and compares every series with the golden file that
//! `tests/fixtures/golden/regen-ne15-b.sh` captured from node_exporter on the same tree.

use std::collections::{BTreeMap, BTreeSet};

use super::textfile::merge;
use super::textparse::parse;
use super::{spec, Ctx, Paths};
use crate::model::{normalize, Family, MetricType};

const COLLECTORS: [&str; 10] = [
    "arp",
    "diskstats",
    "filesystem",
    "netclass",
    "netdev",
    "netstat",
    "sockstat",
    "softnet",
    "textfile",
    "udp_queues",
];

/// Families whose values come from the live filesystem under the fixture rootfs (which depends on
/// the machine) or from file mtimes: only their label sets are compared.
const VOLATILE: [&str; 6] = [
    "node_filesystem_avail_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
    "node_filesystem_free_bytes",
    "node_filesystem_size_bytes",
    "node_textfile_mtime_seconds",
];

type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

fn ours() -> Vec<Family> {
    let f = "tests/fixtures";
    let mut ctx = Ctx {
        paths: Paths {
            procfs: format!("{f}/proc").into(),
            sysfs: format!("{f}/sys").into(),
            rootfs: format!("{f}/rootfs").into(),
            udev_data: format!("{f}/udev/data").into(),
        },
        ..Ctx::default()
    };
    ctx.options
        .insert("textfile.directory".into(), format!("{f}/textfile"));
    let mut out = Vec::new();
    for name in COLLECTORS {
        let c = (spec(name).unwrap().build)(&ctx).unwrap();
        c.update(&mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    normalize(out)
}

fn golden() -> Vec<Family> {
    let text =
        std::fs::read_to_string("tests/fixtures/golden/ne15-net-disk-fs-textfile.prom").unwrap();
    let fams = parse(&text).unwrap();
    let success = fams
        .iter()
        .find(|f| f.name == "node_scrape_collector_success")
        .unwrap();
    assert_eq!(success.metrics.len(), COLLECTORS.len());
    let fams = fams
        .into_iter()
        .filter(|f| f.name != "node_scrape_collector_success")
        .collect();
    normalize(merge(&[("golden".into(), fams)]))
}

fn series(fams: &[Family]) -> Series {
    let mut s = Series::new();
    for f in fams {
        for x in &f.samples {
            let v = if VOLATILE.contains(&f.name.as_str()) {
                0.0
            } else {
                x.value
            };
            s.insert((f.name.clone(), x.labels.clone()), v);
        }
    }
    s
}

#[test]
fn fixture_output_matches_node_exporter_1_5() {
    let (ours, golden) = (ours(), golden());
    // Metadata: same families, HELP and TYPE. Golden histograms/summaries were converted to the
    // same untyped per-sample families by `merge`, so they compare equal too.
    let meta = |fams: &[Family]| -> BTreeSet<(String, String, String)> {
        fams.iter()
            .filter(|f| !f.samples.is_empty())
            .map(|f| (f.name.clone(), f.help.clone(), format!("{:?}", f.kind)))
            .collect()
    };
    let (mo, mg) = (meta(&ours), meta(&golden));
    assert_eq!(
        mo.difference(&mg).collect::<Vec<_>>(),
        Vec::<&(String, String, String)>::new(),
        "only ours"
    );
    assert_eq!(
        mg.difference(&mo).collect::<Vec<_>>(),
        Vec::<&(String, String, String)>::new(),
        "only node_exporter"
    );
    let (so, sg) = (series(&ours), series(&golden));
    let mut diffs = Vec::new();
    for k in so.keys().chain(sg.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (so.get(k), sg.get(k));
        let same = matches!((a, b), (Some(x), Some(y)) if x == y || (x.is_nan() && y.is_nan()));
        if !same {
            diffs.push(format!("{k:?}: ours {a:?}, node_exporter {b:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(
        so.len() > 400,
        "fixture should exercise many series, got {}",
        so.len()
    );
}

#[test]
fn mtimes_are_the_files_mtimes_and_bad_files_flag_an_error() {
    let fams = ours();
    let get = |n: &str| fams.iter().find(|f| f.name == n).unwrap();
    assert_eq!(get("node_textfile_scrape_error").samples[0].value, 1.0);
    for s in &get("node_textfile_mtime_seconds").samples {
        let path = &s.labels[0].1;
        let m = std::fs::metadata(path).unwrap().modified().unwrap();
        let secs = m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as f64;
        assert_eq!(s.value, secs, "{path}");
    }
    assert_eq!(get("node_filesystem_size_bytes").kind, MetricType::Gauge);
}
