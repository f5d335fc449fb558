//! Helpers for tests that run the real binary (and real peers) on loopback.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_telltale"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Directories of the fixture trees that are empty on purpose (a process that vanished, a
/// btrfs filesystem without feature flags): git keeps no empty directory, so they are made here.
const EMPTY_FIXTURE_DIRS: &[&str] = &[
    "proc/99",
    "sys/fs/btrfs/7f07c59f-6136-449c-ab87-e1cf2328731b/features",
];

pub fn fixtures() -> PathBuf {
    let dir = root().join("tests/fixtures");
    for d in EMPTY_FIXTURE_DIRS {
        std::fs::create_dir_all(dir.join(d)).expect("fixture directory");
    }
    dir
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A peer program (from Debian's packages in CI); a missing one fails the test with the fix.
pub fn peer(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: run scripts/install-peers.sh (as .ci/run does) to install the real peers"
    );
    p
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// SIGTERM, then waits for the exit (state files are written on the way out).
    pub fn terminate(mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                Instant::now() < deadline,
                "no exit on SIGTERM: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
    }
}

/// Starts `program args...` with `{port}` in args replaced by a free port; waits until it answers.
pub fn spawn(program: &Path, args: &[String], ready_path: &str) -> Proc {
    spawn_on(program, args, ready_path, free_port())
}

/// `spawn` on a port chosen beforehand (when a peer must know it first).
pub fn spawn_on(program: &Path, args: &[String], ready_path: &str, port: u16) -> Proc {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    let log = std::env::temp_dir().join(format!("telltale-test-{}-{port}.log", std::process::id()));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(program)
        .args(&args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let mut p = Proc { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http(&p.addr(), "GET", ready_path, &[], "") {
            if r.status == 200 {
                return p;
            }
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!(
                "{} exited with {status}: {}",
                program.display(),
                p.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} did not become ready: {}",
            program.display(),
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client (Connection: close), enough for tests on loopback.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 2 + size + 2..];
    }
    out
}

pub fn get(addr: &str, path: &str) -> String {
    let r = http(addr, "GET", path, &[], "").unwrap();
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.text()
}

/// Series lines (no comments), as `name{labels} value`.
pub fn series(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(String::from)
        .collect()
}

/// Runs promtool on text; returns its combined output.
pub fn promtool_check_metrics(text: &str) -> (bool, String) {
    let mut child = Command::new(peer("/usr/bin/promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// promtool's style lints that node_exporter's own names trigger: names taken verbatim from kernel
/// fields (`node_memory_MemTotal_bytes`, `node_netstat_Tcp_InSegs`, ...) and entropy counted in
/// bits. telltale keeps node_exporter's names so existing dashboards and rules work; any other
/// finding (missing HELP, counter naming, invalid text) is a failure.
const COMPAT_LINTS: &[(&str, &str)] = &[
    (
        "node_memory_",
        "should be written in 'snake_case' not 'camelCase'",
    ),
    (
        "node_netstat_",
        "should be written in 'snake_case' not 'camelCase'",
    ),
    (
        "node_sockstat_",
        "should be written in 'snake_case' not 'camelCase'",
    ),
    (
        "node_vmstat_",
        "should be written in 'snake_case' not 'camelCase'",
    ),
    (
        "node_entropy_",
        "use base unit \"bytes\" instead of \"bits\"",
    ),
    // Recording rules' output, named `level:metric:operations` as Prometheus' own naming
    // convention for recording rules asks; the lint is aimed at exporters' own names.
    ("", "metric names should not contain ':'"),
];

/// promtool check metrics, minus the node_exporter-compatibility lints: what remains must be empty.
pub fn promtool_unexpected(text: &str) -> Vec<String> {
    let (ok, out) = promtool_check_metrics(text);
    let rest: Vec<String> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !COMPAT_LINTS
                .iter()
                .any(|(prefix, lint)| l.starts_with(prefix) && l.contains(lint))
        })
        .map(String::from)
        .collect();
    if !ok && rest.is_empty() && out.trim().is_empty() {
        return vec!["promtool failed without output".into()];
    }
    rest
}

/// Flags that point the binary (or node_exporter, which takes the same ones) at the fixture trees.
pub fn fixture_args() -> Vec<String> {
    let f = fixtures();
    let p = |s: &str| f.join(s).display().to_string();
    vec![
        "--web.listen-address=127.0.0.1:{port}".into(),
        format!("--path.procfs={}", p("proc")),
        format!("--path.sysfs={}", p("sys")),
        format!("--path.rootfs={}", p("rootfs")),
        format!("--path.udev.data={}", p("udev/data")),
        format!("--collector.textfile.directory={}", p("textfile")),
    ]
}

/// Polls `/metrics` until `ok` holds (up to `secs`); returns the last text, or fails with it and
/// the process log.
pub fn wait_metrics(p: &Proc, secs: u64, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = get(&p.addr(), "/metrics");
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}:\n{text}\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `python3 -m aiosmtpd` on `port`, storing what it receives in the maildir `maildir` (with
/// STARTTLS when `tls` gives a certificate and key); waits until it listens.
pub fn aiosmtpd(port: u16, maildir: &Path, log: PathBuf, tls: Option<(&Path, &Path)>) -> Proc {
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
    if let Some((cert, key)) = tls {
        cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
    }
    cmd.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(maildir);
    let child = cmd
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (scripts/install-peers.sh installs it)");
    let mut proc = Proc { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = proc.child.try_wait() {
            panic!(
                "aiosmtpd exited with {st}: {} (scripts/install-peers.sh installs it)",
                proc.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "aiosmtpd not listening: {}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    proc
}

/// A `/proc/<pid>/status` figure given in kB (`VmHWM:`, `VmRSS:`), in bytes.
pub fn proc_status_bytes(pid: u32, key: &str) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 1024
}
