//! A real Prometheus (Debian's package) scrapes telltale: the target is up, and host series arrive
//! under node_exporter's names through Prometheus' own content negotiation (OpenMetrics).

mod common;

use std::time::{Duration, Instant};

fn query(prom: &str, q: &str) -> serde_json::Value {
    let path = format!(
        "/api/v1/query?query={}",
        q.replace(' ', "%20")
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
    );
    let r = common::http(prom, "GET", &path, &[], "").unwrap();
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

fn first_value(v: &serde_json::Value) -> Option<f64> {
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
}

#[test]
fn prometheus_scrapes_host_metrics() {
    let prometheus = common::peer("/usr/bin/prometheus");
    let tt = common::spawn(
        &common::bin(),
        &["--web.listen-address=127.0.0.1:{port}".to_string()],
        "/-/ready",
    );
    let dir = std::env::temp_dir().join(format!("telltale-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: telltale\n    static_configs: [{{targets: ['{}']}}]\n",
            tt.addr()
        ),
    )
    .unwrap();
    let prom = common::spawn(
        &prometheus,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            "--web.listen-address=127.0.0.1:{port}".into(),
        ],
        "/-/ready",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = first_value(&query(&prom.addr(), "up{job=\"telltale\"}"));
        let cpus = first_value(&query(
            &prom.addr(),
            "count(node_cpu_seconds_total{mode=\"idle\"})",
        ));
        if up == Some(1.0) && cpus.is_some_and(|c| c >= 1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw telltale up with CPU series: up={up:?} cpus={cpus:?}\n{}",
            prom.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let mem = first_value(&query(&prom.addr(), "node_memory_MemAvailable_bytes")).unwrap();
    assert!(mem > 0.0);
    // Collectors whose kernel files exist on every Linux host must succeed (others, such as
    // conntrack without the module loaded, fail on some hosts exactly as in node_exporter).
    for c in [
        "cpu",
        "meminfo",
        "loadavg",
        "stat",
        "netdev",
        "filesystem",
        "diskstats",
        "vmstat",
    ] {
        let ok = first_value(&query(
            &prom.addr(),
            &format!("node_scrape_collector_success{{collector=\"{c}\"}}"),
        ));
        assert_eq!(ok, Some(1.0), "collector {c} on this host");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
