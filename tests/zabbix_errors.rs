//! Each transport failure of a Zabbix server gets its reason: a refused port (`connect`), a server
//! that never answers (`timeout`), an HTTP error page (`http_status`) and garbage (`decode`), with
//! `zabbix_up 0` and the reason at /api/v1/targets.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A loopback server answering every request with `response` (or holding it open when `None`).
fn canned(response: Option<&'static str>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api_jsonrpc.php", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            match response {
                Some(r) => {
                    let _ = c.write_all(r.as_bytes());
                }
                None => held.push(c),
            }
        }
    });
    url
}

fn reason_of(url: &str, reason: &str) {
    let dir = std::env::temp_dir().join(format!("telltale-zbx-err-{}", common::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        format!("system: {{enabled: false}}\nzabbix:\n  - name: e\n    url: {url}\n    interval: 1s\n    timeout: 500ms\n    api_token: t\n"),
    )
    .unwrap();
    let args = vec![
        format!("--config={}", cfg.display()),
        "--web.listen-address=127.0.0.1:{port}".to_string(),
    ];
    let p = common::spawn(&common::bin(), &args, "/-/ready");
    let want = format!("zabbix_poll_errors_total{{reason=\"{reason}\",zabbix=\"e\"}} 1");
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = common::get(&p.addr(), "/metrics");
        if text.contains(&want) {
            break text;
        }
        assert!(Instant::now() < deadline, "no {reason} error:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(text.contains("zabbix_up{zabbix=\"e\"} 0"), "{text}");
    let targets = common::get(&p.addr(), "/api/v1/targets");
    assert!(
        targets.contains(&format!("\"lastError\":\"{reason}: apiinfo.version: ")),
        "{targets}"
    );
}

#[test]
fn a_refused_port_is_connect() {
    reason_of(
        &format!("http://127.0.0.1:{}/api_jsonrpc.php", common::free_port()),
        "connect",
    );
}

#[test]
fn a_silent_server_is_timeout() {
    reason_of(&canned(None), "timeout");
}

#[test]
fn a_412_is_http_status() {
    reason_of(
        &canned(Some(
            "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )),
        "http_status",
    );
}

#[test]
fn an_html_page_is_decode() {
    reason_of(
        &canned(Some("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>")),
        "decode",
    );
}
