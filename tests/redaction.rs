//! Secrets in URLs and in what upstreams echo never leave the process: a JSON target and an
//! Alertmanager whose URLs carry `user:password@` and a token parameter, both pointing at a
//! server that answers 500 with the request it got (headers included). `/api/v1/targets`, the
//! status page, `/metrics` and the log must show none of the credentials.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Answers every request with `500` and the request itself as the body.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
            let mut got = Vec::new();
            let mut buf = [0u8; 65536];
            // Headers and (small) body; a read timeout ends the request.
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                got.len()
            );
            let _ = c.write_all(head.as_bytes());
            let _ = c.write_all(&got);
        }
    });
    port
}

#[test]
fn no_credential_is_shown_by_apis_page_metrics_or_log() {
    let echo = echo_server();
    let dir = std::env::temp_dir().join(format!("telltale-redaction-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Always\n        expr: vector(1)\n",
    )
    .unwrap();
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        format!(
            "system: {{enabled: false}}\nrule_files: [rules.yml]\n\
json_targets:\n  - name: app\n    url: 'http://scraper:pw-json-1@127.0.0.1:{echo}/m?apikey=key-json-2'\n    interval: 1s\n    metrics: [{{name: x, path: $.x}}]\n\
alerting:\n  alertmanagers:\n    - url: 'http://am:pw-am-3@127.0.0.1:{echo}/?token=tok-am-4'\n"
        ),
    )
    .unwrap();
    let args = vec![
        format!("--config={}", cfg.display()),
        "--web.listen-address=127.0.0.1:{port}".to_string(),
    ];
    let p = common::spawn(&common::bin(), &args, "/-/ready");
    // The Alertmanager's answer (the echoed request) reaches the log as a delivery failure.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.log_text().contains("delivery failed") {
        assert!(
            Instant::now() < deadline,
            "no delivery failure: {}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let targets = common::get(&p.addr(), "/api/v1/targets");
    let page = common::get(&p.addr(), "/");
    let metrics = common::get(&p.addr(), "/metrics");
    let log = p.log_text();
    assert!(
        log.contains("bad response status 500") && log.contains("<secret>"),
        "{log}"
    );
    assert!(
        targets.contains("http://scraper:<secret>@127.0.0.1"),
        "{targets}"
    );
    assert!(
        metrics.contains("notifier=\"http://am:<secret>@127.0.0.1"),
        "{metrics}"
    );
    // The credentials in clear and as sent (basic auth is base64 of user:password).
    let secrets = [
        "pw-json-1",
        "key-json-2",
        "pw-am-3",
        "tok-am-4",
        "c2NyYXBlcjpwdy1qc29uLTE=",
        "YW06cHctYW0tMw==",
    ];
    for (what, text) in [
        ("targets", &targets),
        ("page", &page),
        ("metrics", &metrics),
        ("log", &log),
    ] {
        for s in secrets {
            assert!(!text.contains(s), "{s} in {what}:\n{text}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
