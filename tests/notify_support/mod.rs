//! Helpers for the delivery tests: an HTTP sink that records what is POSTed to it, the hidden
//! `notify-driver` subcommand as a child process fed over stdin, and a real Alertmanager on a
//! fixed loopback port (so that it can be restarted where telltale expects it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::common;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A fresh directory for one test.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("telltale-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Polls `f` every 100 ms for up to `secs`; fails with `what` and `ctx()`.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool, ctx: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}\n{}",
            ctx()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Posted {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// An HTTP/1.1 server on 127.0.0.1:`port` answering 200 to everything and keeping the JSON
/// bodies (keep-alive connections are served, as Go's and reqwest's clients use them).
#[derive(Clone)]
pub struct Sink {
    pub port: u16,
    pub got: Arc<Mutex<Vec<Posted>>>,
}

impl Sink {
    pub fn start(port: u16) -> Sink {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("sink port {port}: {e}"));
        let sink = Sink {
            port,
            got: Arc::default(),
        };
        let got = Arc::clone(&sink.got);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let got = Arc::clone(&got);
                std::thread::spawn(move || serve(conn, &got));
            }
        });
        sink
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn posts(&self) -> Vec<Posted> {
        self.got.lock().unwrap().clone()
    }

    /// Every alert POSTed as a webhook payload: (alertname, status, the payload).
    pub fn alerts(&self) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for p in self.posts() {
            for a in p.body["alerts"].as_array().cloned().unwrap_or_default() {
                out.push((
                    a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    a["status"].as_str().unwrap_or("").to_string(),
                    p.body.clone(),
                ));
            }
        }
        out
    }

    pub fn count(&self, alertname: &str, status: &str) -> usize {
        self.alerts()
            .iter()
            .filter(|(n, s, _)| n == alertname && s == status)
            .count()
    }

    pub fn dump(&self) -> String {
        self.posts()
            .iter()
            .map(|p| format!("{} {}", p.path, p.body))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn serve(conn: TcpStream, got: &Mutex<Vec<Posted>>) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        got.lock().unwrap().push(Posted {
            path,
            headers,
            body,
        });
        if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// A real Alertmanager 0.25 on a fixed port, routing everything to `sink` (group_wait and
/// group_interval 1 s, grouped by alertname, resolutions sent).
pub struct Alertmanager {
    pub port: u16,
    pub dir: PathBuf,
    pub proc: Option<common::Proc>,
}

impl Alertmanager {
    pub fn new(port: u16, sink: &Sink, dir: &Path) -> Alertmanager {
        let cfg = format!(
            "route:\n  receiver: sink\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: sink\n    webhook_configs:\n      - url: {}\n        send_resolved: true\n",
            sink.url("/am")
        );
        std::fs::write(dir.join("alertmanager.yml"), cfg).unwrap();
        Alertmanager {
            port,
            dir: dir.to_path_buf(),
            proc: None,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        let bin = common::peer("/usr/bin/prometheus-alertmanager");
        let log = self.dir.join("alertmanager.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                self.dir.join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                self.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={}", self.addr()))
            .arg("--cluster.listen-address=")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut p = common::Proc {
            child,
            port: self.port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !common::http(&self.addr(), "GET", "/-/ready", &[], "").is_ok_and(|r| r.status == 200)
        {
            if let Ok(Some(st)) = p.child.try_wait() {
                panic!("alertmanager exited with {st}: {}", p.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "alertmanager not ready: {}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.proc = Some(p);
    }

    /// Graceful stop (SIGTERM), so its notification log is written to storage.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.signal("TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            while p.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// `GET /api/v2/alerts`: the active alerts.
    pub fn alerts(&self) -> Vec<Value> {
        match common::http(&self.addr(), "GET", "/api/v2/alerts", &[], "") {
            Ok(r) if r.status == 200 => {
                serde_json::from_slice::<Vec<Value>>(&r.body).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("alertmanager.log")).unwrap_or_default()
    }
}

/// `telltale notify-driver`, fed JSON commands over stdin.
pub struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub log: PathBuf,
}

impl Driver {
    pub fn start(config: &Path, state: Option<&Path>, log: &Path) -> Driver {
        let mut cmd = Command::new(common::bin());
        cmd.arg("notify-driver").arg("--config").arg(config);
        if let Some(s) = state {
            cmd.arg("--state").arg(s);
        }
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut d = Driver {
            child,
            stdin,
            stdout,
            log: log.to_path_buf(),
        };
        let ready = d.read_line();
        assert_eq!(
            ready,
            r#"{"ready":true}"#,
            "driver did not start: {}",
            d.log_text()
        );
        d
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn send(&mut self, cmd: Value) -> String {
        let stdin = self.stdin.as_mut().expect("driver stdin open");
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        self.read_line()
    }

    pub fn submit(&mut self, alerts: Vec<Value>) {
        assert_eq!(self.send(json!({ "submit": alerts })), r#"{"ok":true}"#);
    }

    pub fn metrics(&mut self) -> String {
        let stdin = self.stdin.as_mut().expect("driver stdin open");
        writeln!(stdin, r#"{{"metrics":true}}"#).unwrap();
        stdin.flush().unwrap();
        let mut out = String::new();
        loop {
            let l = self.read_line();
            if l == "# END" {
                return out;
            }
            out.push_str(&l);
            out.push('\n');
        }
    }

    /// The value of one sample line in the metrics (0 when absent).
    pub fn metric(&mut self, series: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    pub fn pending(&mut self) -> u64 {
        let v: Value = serde_json::from_str(&self.send(json!({"pending": true}))).unwrap();
        v["pending"].as_u64().unwrap()
    }

    /// Closes stdin (the driver flushes for up to 5 s and saves its state) and waits.
    pub fn finish(mut self) -> bool {
        drop(self.stdin.take());
        self.child.wait().unwrap().success()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An alert as the driver takes it: firing from `starts` until `ends` (or resolved at `ends`).
pub fn alert(name: &str, extra: &[(&str, &str)], starts: i64, ends: i64, resolved: bool) -> Value {
    let mut labels = json!({ "alertname": name, "instance": "host-1:9100", "severity": "warning" });
    for (k, v) in extra {
        labels[*k] = json!(v);
    }
    json!({
        "labels": labels,
        "annotations": { "summary": format!("{name} on host-1") },
        "starts_at_ms": starts,
        "ends_at_ms": ends,
        "generator_url": format!("http://telltale.test:8465/graph?g0.expr={name}&g0.tab=1"),
        "resolved": resolved,
    })
}
