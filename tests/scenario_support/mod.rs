//! Peers for the end-to-end scenarios: `telltale demo-app` with its fault switches, a real SMTP
//! server (aiosmtpd, as tests/notify_email.rs runs it), telltale itself on a config and rule
//! file of the test's, and the real Zabbix 6.0 that scripts/test brings up.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common;

/// `telltale demo-app` on a free port.
pub fn demo_app() -> common::Proc {
    let args = ["demo-app", "--listen", "127.0.0.1:{port}"].map(String::from);
    common::spawn(&common::bin(), &args, "/health")
}

/// `POST /fault?<query>` (or `/fault/clear` with `clear`) on the demo app.
pub fn fault(app: &common::Proc, query: &str) {
    let path = match query {
        "clear" => "/fault/clear".to_string(),
        q => format!("/fault?{q}"),
    };
    let r = common::http(&app.addr(), "POST", &path, &[], "").unwrap();
    assert_eq!(r.status, 200, "POST {path}: {}", r.text());
}

/// telltale on `config` and `rules` (both written into `dir`).
pub fn telltale(dir: &Path, config: &str, rules: &str) -> common::Proc {
    std::fs::write(dir.join("telltale.yml"), config).unwrap();
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let args = vec![
        format!("--config={}", dir.join("telltale.yml").display()),
        "--web.listen-address=127.0.0.1:{port}".to_string(),
    ];
    common::spawn(&common::bin(), &args, "/-/ready")
}

/// The alerts at telltale's `/api/v1/alerts` named `name`.
pub fn alerts(tt: &common::Proc, name: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&common::get(&tt.addr(), "/api/v1/alerts")).unwrap();
    (v["data"]["alerts"].as_array().unwrap().iter())
        .filter(|a| a["labels"]["alertname"] == name)
        .cloned()
        .collect()
}

/// `python3 -m aiosmtpd` writing what it receives into a maildir; killed when dropped.
pub struct Smtp {
    pub proc: common::Proc,
    maildir: PathBuf,
}

impl Smtp {
    pub fn start(dir: &Path) -> Smtp {
        let port = common::free_port();
        let maildir = dir.join("maildir");
        let log = dir.join("smtp.log");
        let proc = common::aiosmtpd(port, &maildir, log, None);
        Smtp { proc, maildir }
    }

    /// The messages received so far, oldest first, quoted-printable soft breaks joined.
    pub fn messages(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        (files.iter())
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|m| {
                m.replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "=")
            })
            .collect()
    }
}

/// A header of a raw message.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    (msg.lines())
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// The real Zabbix 6.0 API URL, found as tests/zabbix_real.rs finds it: `ZABBIX_URL`, or the
/// instance recorded in `ZBX_STATE_DIR/env`, started with scripts/zabbix-up.sh when its API does
/// not answer. scripts/test starts one and exports `ZBX_STATE_DIR`; in CI (`CI=true`) a missing
/// `ZBX_STATE_DIR` fails the test instead of quietly starting or skipping anything. Elsewhere
/// the default /tmp/zbx is used, as zabbix_real.rs does.
pub fn zabbix_url() -> String {
    if let Ok(url) = std::env::var("ZABBIX_URL") {
        return url;
    }
    let state = match std::env::var("ZBX_STATE_DIR") {
        Ok(s) => PathBuf::from(s),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => panic!(
            "CI=true but neither ZBX_STATE_DIR nor ZABBIX_URL is set: this scenario needs the real \
             Zabbix 6.0 that scripts/test starts with scripts/zabbix-up.sh (run the suite through \
             scripts/test, or export ZBX_STATE_DIR of a running instance)"
        ),
        Err(_) => PathBuf::from("/tmp/zbx"),
    };
    if let Some(url) = env_url(&state).filter(|u| api_answers(u)) {
        return url;
    }
    let script = common::root().join("scripts/zabbix-up.sh");
    let out = Command::new(&script)
        .arg(&state)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} {} failed (the scenario needs a real Zabbix):\n{}{}",
        script.display(),
        state.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    env_url(&state).expect("zabbix-up.sh writes ZABBIX_URL to STATE/env")
}

fn env_url(state: &Path) -> Option<String> {
    let text = std::fs::read_to_string(state.join("env")).ok()?;
    (text.lines())
        .find_map(|l| l.strip_prefix("ZABBIX_URL="))
        .map(String::from)
}

fn api_answers(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let body = r#"{"jsonrpc":"2.0","method":"apiinfo.version","params":{},"id":1}"#;
    let headers = [("Content-Type", "application/json-rpc")];
    common::http(addr, "POST", path, &headers, body)
        .is_ok_and(|r| r.status == 200 && r.text().contains("\"result\""))
}
