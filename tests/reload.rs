//! Reload and shutdown against the running binary: a bad config keeps the running one and sets
//! `telltale_config_last_reload_successful 0`; a good one applies; SIGTERM exits cleanly.

mod common;

use std::time::{Duration, Instant};

fn value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn wait_for(addr: &str, name: &str, want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = common::get(addr, "/metrics");
        if value(&m, name) == Some(want) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {want}:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn reload_keeps_the_old_config_on_errors_and_applies_good_ones() {
    let dir = std::env::temp_dir().join(format!("telltale-reload-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("telltale.yml");
    std::fs::write(&cfg, "system:\n  collectors: [loadavg]\n").unwrap();
    let args = vec![
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        format!("--config={}", cfg.display()),
        format!(
            "--path.procfs={}",
            common::fixtures().join("proc").display()
        ),
    ];
    let p = common::spawn(&common::bin(), &args, "/-/ready");
    let m = common::get(&p.addr(), "/metrics");
    assert!(m.contains("node_load1 ") && !m.contains("node_memory_MemTotal_bytes"));

    // A broken file over HTTP: 500 with the positioned error, old collectors keep running.
    std::fs::write(
        &cfg,
        "system:\n  collectors: [loadavg, meminfo]\n  colectors: []\n",
    )
    .unwrap();
    let r = common::http(&p.addr(), "POST", "/-/reload", &[], "").unwrap();
    assert_eq!(r.status, 500);
    assert!(
        r.text()
            .contains("telltale.yml:3:3: system: unknown field \"colectors\""),
        "{}",
        r.text()
    );
    let m = wait_for(&p.addr(), "telltale_config_last_reload_successful", 0.0);
    assert!(m.contains("node_load1 ") && !m.contains("node_memory_MemTotal_bytes"));

    // A good file by SIGHUP: applied, and the gauge recovers.
    std::fs::write(&cfg, "system:\n  collectors: [loadavg, meminfo]\n").unwrap();
    p.signal("HUP");
    let m = wait_for(&p.addr(), "telltale_config_last_reload_successful", 1.0);
    assert!(m.contains("node_memory_MemTotal_bytes "), "{m}");
    assert_eq!(
        value(&m, "telltale_config_reload_failures_total"),
        Some(1.0)
    );

    // An empty file on reload (a truncated write) is refused: the collectors stay.
    std::fs::write(&cfg, "").unwrap();
    let r = common::http(&p.addr(), "POST", "/-/reload", &[], "").unwrap();
    assert_eq!(r.status, 500);
    assert!(r.text().contains("empty on reload"), "{}", r.text());
    let m = wait_for(&p.addr(), "telltale_config_last_reload_successful", 0.0);
    assert!(m.contains("node_memory_MemTotal_bytes "), "{m}");
    assert!(p.log_text().contains("empty on reload"), "{}", p.log_text());
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let args = vec!["--web.listen-address=127.0.0.1:{port}".to_string()];
    let mut p = common::spawn(&common::bin(), &args, "/-/ready");
    p.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    assert!(p.log_text().contains("shutting down"));
}

#[test]
fn a_bad_config_at_start_is_refused_with_positions() {
    let out = std::process::Command::new(common::bin())
        .args([
            "--config",
            "tests/config/bad/bad_duration.yml",
            "--web.listen-address=127.0.0.1:0",
        ])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad_duration.yml:2:20: global.scrape_interval"),
        "{err}"
    );
}

/// A FIFO at the state path (or at the notification queue file beside it) used to block
/// start-up forever without a log line: now it is refused, logged, and telltale starts.
#[test]
fn a_fifo_at_the_state_path_does_not_block_start_up() {
    let dir = std::env::temp_dir().join(format!("telltale-fifo-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    for p in [&state, &dir.join("state.notifications.json")] {
        let ok = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n",
    )
    .unwrap();
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        "system: {enabled: false}\nrule_files: [rules.yml]\nalerting:\n  webhooks:\n    - {name: w, url: 'http://127.0.0.1:1/'}\n",
    )
    .unwrap();
    let args = vec![
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        format!("--config={}", cfg.display()),
        format!("--rules.state-file={}", state.display()),
    ];
    // `spawn` fails the test if /-/ready does not answer within 20 s.
    let p = common::spawn(&common::bin(), &args, "/-/ready");
    let log = p.log_text();
    assert!(log.contains("a FIFO is there, not a regular file"), "{log}");
    assert!(
        log.contains("cannot restore pending notifications"),
        "{log}"
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}
