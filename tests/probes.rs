//! Probes end to end: the real binary probing servers started by this test on loopback (a plain
//! HTTP server with canned answers, closed ports, and `openssl s_server` serving the self-signed
//! certificate in tests/fixtures/tls), checked on /metrics and /api/v1/targets.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// notAfter of tests/fixtures/tls/cert.pem: 2049-12-31T23:59:59Z.
const CERT_NOT_AFTER: f64 = 2_524_607_999.0;

/// Answers each request by path, then closes the connection.
fn serve_http(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || answer(stream));
    }
}

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/ok" => ("200 OK", "all good\n"),
        "/fail" => ("500 Internal Server Error", "oops\n"),
        "/degraded" => ("200 OK", "{\"status\": \"degraded\"}"),
        "/moved" => ("302 Found", ""),
        _ => ("404 Not Found", "no such page\n"),
    };
    let extra = if path == "/moved" {
        "Location: /ok\r\n"
    } else {
        ""
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// `openssl s_server -www` on a free port with the fixture certificate; killed on drop.
fn start_tls_server() -> common::Proc {
    let tls = common::fixtures().join("tls");
    let port = common::free_port();
    let log = std::env::temp_dir().join(format!("telltale-probe-tls-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(common::peer("/usr/bin/openssl"))
        .args(["s_server", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(tls.join("cert.pem"))
        .arg("-key")
        .arg(tls.join("key.pem"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("cannot start openssl s_server");
    let p = common::Proc { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(p.addr()).is_err() {
        assert!(
            Instant::now() < deadline,
            "s_server did not start: {}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

/// The value of one series in exposition text.
fn value(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(str::to_string)
}

#[test]
fn probes_report_success_failure_and_certificates() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let web = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || serve_http(listener));
    let tls = start_tls_server();
    let closed = format!("127.0.0.1:{}", common::free_port());
    let cert = common::fixtures().join("tls/cert.pem");

    let config = format!(
        r#"
system: {{enabled: false}}
global: {{scrape_interval: 2s}}
probes:
  ok: {{url: "http://{web}/ok", body_regex: "good"}}
  fail: {{url: "http://{web}/fail"}}
  fail_expected: {{url: "http://{web}/fail", expect_status: [500]}}
  refused: {{url: "http://{closed}/ok"}}
  regex: {{url: "http://{web}/degraded", body_not_regex: "degraded|down"}}
  no_redirect: {{url: "http://{web}/moved", follow_redirects: false}}
  redirect: {{url: "http://{web}/moved"}}
  tcp_open: {{tcp: "{web}"}}
  tcp_closed: {{tcp: "{closed}"}}
  tls_default: {{url: "https://{tls}/"}}
  tls_insecure: {{url: "https://{tls}/", tls_config: {{insecure_skip_verify: true}}}}
  tls_ca: {{url: "https://localhost:{tls_port}/", tls_config: {{ca_file: "{cert}"}}}}
"#,
        tls = tls.addr(),
        tls_port = tls.port,
        cert = cert.display(),
    );
    let dir = std::env::temp_dir().join(format!("telltale-probes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("probes.yml");
    std::fs::write(&file, config).unwrap();

    let args = vec![
        format!("--config={}", file.display()),
        "--web.listen-address=127.0.0.1:{port}".to_string(),
    ];
    let p = common::spawn(&common::bin(), &args, "/-/ready");

    // Every probe polls every 2s from an offset spread over the interval; wait until each has reported.
    let names = [
        "ok",
        "fail",
        "fail_expected",
        "refused",
        "regex",
        "no_redirect",
        "redirect",
        "tcp_open",
        "tcp_closed",
        "tls_default",
        "tls_insecure",
        "tls_ca",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = common::get(&p.addr(), "/metrics");
        let all = names
            .iter()
            .all(|n| value(&text, &format!("probe_success{{probe=\"{n}\"}}")).is_some());
        if all {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "not every probe reported:\n{text}\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let get = |name: &str, probe: &str| {
        value(&text, &format!("{name}{{probe=\"{probe}\"}}"))
            .unwrap_or_else(|| panic!("no {name} for {probe} in\n{text}"))
    };
    let has =
        |name: &str, probe: &str| value(&text, &format!("{name}{{probe=\"{probe}\"}}")).is_some();

    assert_eq!(get("probe_success", "ok"), "1");
    assert_eq!(get("probe_http_status_code", "ok"), "200");
    assert_eq!(get("probe_http_content_length", "ok"), "9");
    assert_eq!(get("probe_failed_due_to_regex", "ok"), "0");
    assert_eq!(get("probe_http_ssl", "ok"), "0");
    assert!(!has("probe_ssl_earliest_cert_expiry", "ok"));
    let took: f64 = get("probe_duration_seconds", "ok").parse().unwrap();
    assert!(took > 0.0 && took < 1.0, "{took}");

    assert_eq!(get("probe_success", "fail"), "0");
    assert_eq!(get("probe_http_status_code", "fail"), "500");
    assert_eq!(get("probe_success", "fail_expected"), "1");

    assert_eq!(get("probe_success", "refused"), "0");
    assert_eq!(get("probe_http_status_code", "refused"), "0");

    assert_eq!(get("probe_success", "regex"), "0");
    assert_eq!(get("probe_failed_due_to_regex", "regex"), "1");
    assert_eq!(get("probe_http_status_code", "regex"), "200");

    assert_eq!(get("probe_success", "no_redirect"), "0");
    assert_eq!(get("probe_http_status_code", "no_redirect"), "302");
    assert_eq!(get("probe_success", "redirect"), "1");
    assert_eq!(get("probe_http_status_code", "redirect"), "200");

    assert_eq!(get("probe_success", "tcp_open"), "1");
    assert_eq!(get("probe_success", "tcp_closed"), "0");
    assert!(has("probe_duration_seconds", "tcp_closed"));
    assert!(!has("probe_http_status_code", "tcp_open"));

    assert_eq!(get("probe_success", "tls_default"), "0");
    assert_eq!(get("probe_http_ssl", "tls_default"), "0");
    for probe in ["tls_insecure", "tls_ca"] {
        assert_eq!(get("probe_success", probe), "1", "{probe}");
        assert_eq!(get("probe_http_status_code", probe), "200", "{probe}");
        assert_eq!(get("probe_http_ssl", probe), "1", "{probe}");
        assert_eq!(
            get("probe_ssl_earliest_cert_expiry", probe).parse::<f64>(),
            Ok(CERT_NOT_AFTER),
            "{probe}"
        );
    }
    assert!(text.contains("# TYPE probe_success gauge\n"));
    assert!(text.contains(
        "# HELP probe_ssl_earliest_cert_expiry Returns last SSL chain expiry in unixtime\n"
    ));

    // The reasons are on /api/v1/targets.
    let targets: serde_json::Value =
        serde_json::from_str(&common::get(&p.addr(), "/api/v1/targets")).unwrap();
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    let target = |name: &str| {
        active
            .iter()
            .find(|t| t["labels"]["instance"] == name && t["labels"]["job"] == "probe")
            .unwrap_or_else(|| panic!("no target {name}: {targets}"))
    };
    let err = |name: &str| target(name)["lastError"].as_str().unwrap().to_string();
    assert_eq!(target("fail")["health"], "down");
    assert_eq!(err("fail"), "status 500 is not 2xx");
    assert_eq!(target("ok")["health"], "up");
    assert_eq!(err("ok"), "");
    assert_eq!(target("tcp_open")["scrapeUrl"], format!("tcp://{web}"));
    assert!(
        err("refused").starts_with("connection failed"),
        "{}",
        err("refused")
    );
    assert!(
        err("tcp_closed").starts_with("connection failed"),
        "{}",
        err("tcp_closed")
    );
    assert_eq!(
        err("regex"),
        "body matches body_not_regex \"degraded|down\""
    );
    let tls_err = err("tls_default");
    assert!(
        tls_err.contains("certificate") || tls_err.contains("UnknownIssuer"),
        "{tls_err}"
    );
}
