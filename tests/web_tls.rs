//! `--web.config.file`: TLS (certificates made by openssl at test time), basic auth with bcrypt
//! hashes, write endpoints with their own users, mutual TLS, hot reload of the web config,
//! secrets redacted in `/api/v1/status/config` and absent from the log, and a real Prometheus
//! scraping through TLS with basic auth.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=telltale test CA",
    ]);
    run(&ca);
    for (name, usage, san) in [
        ("server", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
        ("client", "clientAuth", "DNS:scraper"),
    ] {
        let mut req = vec!["req"];
        req.extend(ec);
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=telltale test"]);
        run(&req);
        std::fs::write(
            dir.join(&ext),
            format!("subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
}

fn hash(pw: &str) -> String {
    bcrypt::hash(pw, 5).unwrap()
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("telltale-web-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// curl over HTTPS: (status or 0 when no HTTP answer came, body).
fn curl(dir: &Path, url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "--cacert"])
        .arg(dir.join("ca.pem"))
        .args(["-w", "\n%{http_code}", "-D", "-"])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

struct Telltale {
    proc: common::Proc,
}

/// Starts telltale with a web config; waits until `/-/ready` answers over TLS (any status).
fn start(dir: &Path, config: Option<&Path>, probe: &[&str]) -> Telltale {
    let port = common::free_port();
    let log = dir.join("telltale.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(common::bin());
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--web.config.file={}",
            dir.join("web.yml").display()
        ))
        .args(["--collector.disable-defaults", "--collector.loadavg"])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    if let Some(c) = config {
        cmd.arg(format!("--config={}", c.display()));
    }
    let child = cmd.spawn().unwrap();
    let proc = common::Proc { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(20);
    while curl(dir, &format!("https://127.0.0.1:{port}/-/ready"), probe).0 == 0 {
        assert!(
            Instant::now() < deadline,
            "telltale did not come up: {}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Telltale { proc }
}

impl Telltale {
    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.proc.port)
    }
}

#[test]
fn tls_basic_auth_write_users_redaction_and_hot_reload() {
    let dir = tempdir("auth");
    make_certs(&dir);
    let web = dir.join("web.yml");
    let base = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: '{}'\ntelltale_write_users:\n  bob: '{}'\n",
        hash("alice-pw"),
        hash("bob-pw")
    );
    std::fs::write(&web, &base).unwrap();
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        "json_targets:\n  - name: guarded\n    url: http://127.0.0.1:9/metrics\n    bearer_token: sekrit-token-1\n    interval: 1s\n    metrics:\n      - {name: app_x, path: $.x}\n",
    )
    .unwrap();
    let tt = start(&dir, Some(&cfg), &[]);

    // Plain HTTP on the TLS port: Go's refusal, nothing served.
    let plain = common::http(&tt.proc.addr(), "GET", "/metrics", &[], "").unwrap();
    assert_eq!(plain.status, 400);
    assert!(
        plain.text().contains("HTTP request to an HTTPS server"),
        "{}",
        plain.text()
    );

    let (code, head) = curl(&dir, &tt.url("/metrics"), &[]);
    assert_eq!(code, 401, "{head}");
    assert!(head.contains("www-authenticate: Basic"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-frame-options: deny"),
        "{head}"
    );
    let (code, head) = curl(&dir, &tt.url("/metrics"), &["-u", "alice:wrong"]);
    assert_eq!(code, 401);
    assert!(head.contains("www-authenticate: Basic"), "{head}");
    assert_eq!(
        curl(&dir, &tt.url("/metrics"), &["-u", "mallory:alice-pw"]).0,
        401
    );
    let (code, body) = curl(&dir, &tt.url("/metrics"), &["-u", "alice:alice-pw"]);
    assert_eq!(code, 200);
    assert!(body.contains("node_load1 "), "{body}");
    // A second time comes from the verified-credentials cache: same answer.
    assert_eq!(
        curl(&dir, &tt.url("/-/healthy"), &["-u", "alice:alice-pw"]).0,
        200
    );
    // Unknown paths are authenticated too.
    assert_eq!(curl(&dir, &tt.url("/nope"), &[]).0, 401);
    assert_eq!(
        curl(&dir, &tt.url("/nope"), &["-u", "alice:alice-pw"]).0,
        404
    );

    // Writes need a write user; readers cannot write, the writer cannot read.
    let post = ["-X", "POST"];
    assert_eq!(
        curl(
            &dir,
            &tt.url("/-/reload"),
            &[&post[..], &["-u", "alice:alice-pw"]].concat()
        )
        .0,
        401
    );
    assert_eq!(
        curl(
            &dir,
            &tt.url("/-/reload"),
            &[&post[..], &["-u", "bob:bob-pw"]].concat()
        )
        .0,
        200
    );
    assert_eq!(
        curl(&dir, &tt.url("/metrics"), &["-u", "bob:bob-pw"]).0,
        401
    );

    // The loaded config, secrets hidden.
    let (code, body) = curl(
        &dir,
        &tt.url("/api/v1/status/config"),
        &["-u", "alice:alice-pw"],
    );
    assert_eq!(code, 200);
    assert!(body.contains("bearer_token: <secret>"), "{body}");
    assert!(!body.contains("sekrit-token-1"), "{body}");

    // Hot reload: a new user works without a restart.
    std::thread::sleep(Duration::from_millis(1100));
    let added = format!(
        "{}  carol: '{}'\ntelltale_write_users:\n  bob: '{}'\n",
        base.split("telltale_write_users").next().unwrap(),
        hash("carol-pw"),
        hash("bob-pw")
    );
    std::fs::write(&web, added).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl(&dir, &tt.url("/metrics"), &["-u", "carol:carol-pw"]).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "carol never got in: {}",
            tt.proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // A bad file is logged and the one in force stays.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &web,
        "tls_server_config: {cert_file: server.pem}\nbasic_auth_users: {dave: not-a-hash}\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        curl(&dir, &tt.url("/metrics"), &["-u", "carol:carol-pw"]).0,
        200
    );
    assert_eq!(
        curl(&dir, &tt.url("/metrics"), &["-u", "alice:alice-pw"]).0,
        200
    );
    let log = tt.proc.log_text();
    assert!(log.contains("web config not reloaded"), "{log}");
    assert!(log.contains("missing key_file"), "{log}");
    assert!(log.contains("not a bcrypt hash"), "{log}");
    // Secrets are never logged: not the bearer token, not a password, not a hash.
    for secret in ["sekrit-token-1", "alice-pw", "not-a-hash", "$2b$05$"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutual_tls_rejects_clients_without_a_certificate() {
    let dir = tempdir("mtls");
    make_certs(&dir);
    std::fs::write(
        dir.join("web.yml"),
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS12\n",
    )
    .unwrap();
    let port = common::free_port();
    let log = dir.join("telltale.log");
    let child = Command::new(common::bin())
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--web.config.file={}",
            dir.join("web.yml").display()
        ))
        .args(["--collector.disable-defaults", "--collector.loadavg"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let proc = common::Proc { child, port, log };
    let url = format!("https://127.0.0.1:{port}/metrics");
    let cert = dir.join("client.pem").display().to_string();
    let key = dir.join("client.key").display().to_string();
    let with_cert = |extra: &[&str]| {
        let mut a = vec!["--cert", cert.as_str(), "--key", key.as_str()];
        a.extend(extra);
        curl(&dir, &url, &a)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while with_cert(&[]).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "no answer with a client certificate: {}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(with_cert(&[]).1.contains("node_load1 "));
    assert_eq!(
        with_cert(&["--tls-max", "1.2"]).0,
        200,
        "TLS 1.2 with a certificate"
    );
    // Without a certificate the handshake fails: no HTTP answer at all, in 1.2 and 1.3.
    assert_eq!(curl(&dir, &url, &[]).0, 0);
    assert_eq!(curl(&dir, &url, &["--tls-max", "1.2"]).0, 0);
    // A certificate from another CA is refused the same way.
    let other = tempdir("mtls-other");
    make_certs(&other);
    let foreign = [
        "--cert".to_string(),
        other.join("client.pem").display().to_string(),
        "--key".to_string(),
        other.join("client.key").display().to_string(),
    ];
    let refs: Vec<&str> = foreign.iter().map(String::as_str).collect();
    assert_eq!(curl(&dir, &url, &refs).0, 0);
    drop(proc);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn prometheus_scrapes_through_tls_with_basic_auth() {
    let prometheus = common::peer("/usr/bin/prometheus");
    let dir = tempdir("prom");
    make_certs(&dir);
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\nbasic_auth_users:\n  prom: '{}'\n",
            hash("scrape-pw")
        ),
    )
    .unwrap();
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let tt = start(&dir, None, &["--cert", &cert, "--key", &key]);
    let d = dir.display();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: telltale\n    scheme: https\n    tls_config: {{ca_file: {d}/ca.pem, cert_file: {d}/client.pem, key_file: {d}/client.key}}\n    basic_auth: {{username: prom, password: scrape-pw}}\n    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            tt.proc.port
        ),
    )
    .unwrap();
    let prom = common::spawn(
        &prometheus,
        &[
            format!("--config.file={d}/prometheus.yml"),
            format!("--storage.tsdb.path={d}/data"),
            "--web.listen-address=127.0.0.1:{port}".into(),
        ],
        "/-/ready",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = common::http(&prom.addr(), "GET", "/api/v1/query?query=up", &[], "").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let up = v["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string);
        let load = common::http(
            &prom.addr(),
            "GET",
            "/api/v1/query?query=node_load1",
            &[],
            "",
        )
        .unwrap();
        if up.as_deref() == Some("1") && load.text().contains("node_load1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw telltale up over TLS: {v}\n{}",
            prom.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(prom);
    drop(tt);
    let _ = std::fs::remove_dir_all(&dir);
}
