//! The real Python client (`prometheus_client`, installed by scripts/install-peers.sh):
//! `push_to_gateway`, `pushadd_to_gateway` with gzip and `delete_from_gateway` work unchanged
//! against telltale and leave the same series as on a real Pushgateway 1.5 given the same pushes.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

fn telltale() -> common::Proc {
    let dir = std::env::temp_dir().join(format!("telltale-push-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("telltale.yml");
    std::fs::write(&cfg, "system: {enabled: false}\npush: {}\n").unwrap();
    let args = vec![
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        format!("--config={}", cfg.display()),
    ];
    common::spawn(&common::bin(), &args, "/-/ready")
}

const PYTHON: &str = r#"
import sys
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client import push_to_gateway, pushadd_to_gateway, delete_from_gateway
step, gateways = sys.argv[1], sys.argv[2:]
reg = CollectorRegistry()
c = Counter('py_jobs', 'Jobs done.', ['kind'], registry=reg)
c.labels('a').inc(3)
c.labels('b/c').inc()
Gauge('py_last_success_seconds', 'Last success.', registry=reg).set(1.7e9)
h = Histogram('py_duration_seconds', 'Duration.', buckets=(0.1, 1.0), registry=reg)
for v in (0.05, 0.5, 2):
    h.observe(v)
Summary('py_size_bytes', 'Size.', registry=reg).observe(512)
key = {'instance': 'host/1'}
for gw in gateways:
    if step == 'push':
        push_to_gateway(gw, job='py job', registry=reg, grouping_key=key)
    elif step == 'pushadd':
        reg2 = CollectorRegistry()
        Gauge('py_extra', 'Extra.', registry=reg2).set(5)
        pushadd_to_gateway(gw, job='py job', registry=reg2, grouping_key=key, compression='gzip')
    else:
        delete_from_gateway(gw, job='py job', grouping_key=key)
"#;

fn python(step: &str, gateways: &[String]) {
    let out = Command::new("python3")
        .args(["-c", PYTHON, step])
        .args(gateways)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python {step}: {}\n(run scripts/install-peers.sh for prometheus_client)",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `name{labels}` → value for the series of job "py job" (push times left out: they differ).
fn py_series(text: &str) -> BTreeMap<String, f64> {
    common::series(text)
        .into_iter()
        .filter(|l| l.contains("job=\"py job\"") && !l.starts_with("push_"))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse::<f64>().unwrap())
        })
        .collect()
}

#[test]
fn python_push_to_gateway_works_unchanged_and_matches_pushgateway() {
    let p = telltale();
    let gw = common::spawn(
        &common::peer("/usr/bin/prometheus-pushgateway"),
        &["--web.listen-address=127.0.0.1:{port}".to_string()],
        "/-/ready",
    );
    let both = vec![p.addr(), gw.addr()];
    let compare = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let ours = py_series(&common::get(&p.addr(), "/metrics"));
            let theirs = py_series(&common::get(&gw.addr(), "/metrics"));
            if ours == theirs {
                return ours;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: telltale\n{ours:#?}\npushgateway\n{theirs:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    python("push", &both);
    let got = compare("after push_to_gateway");
    for want in [
        "py_jobs_total{instance=\"host/1\",job=\"py job\",kind=\"b/c\"}",
        "py_duration_seconds_bucket{instance=\"host/1\",job=\"py job\",le=\"+Inf\"}",
        "py_size_bytes_sum{instance=\"host/1\",job=\"py job\"}",
    ] {
        assert!(got.contains_key(want), "{want} not in {got:#?}");
    }
    assert_eq!(
        got["py_duration_seconds_bucket{instance=\"host/1\",job=\"py job\",le=\"1\"}"],
        2.0
    );
    python("pushadd", &both);
    let got = compare("after pushadd_to_gateway");
    assert!(got.contains_key("py_extra{instance=\"host/1\",job=\"py job\"}"));
    assert!(got.contains_key("py_last_success_seconds{instance=\"host/1\",job=\"py job\"}"));
    python("delete", &both);
    assert!(compare("after delete_from_gateway").is_empty());
}
