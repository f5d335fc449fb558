//! telltale against a REAL Zabbix 6.0 (server, PHP frontend API, agent, PostgreSQL on loopback)
//! started by scripts/zabbix-up.sh: the agent items of the "Zabbix server" host come out with
//! values; a wrong password and a stopped API give `zabbix_up 0` with a reason and recover.
//!
//! The peer: `ZABBIX_URL` when set (with `ZBX_STATE_DIR`, default /tmp/zbx, for stopping the API);
//! otherwise the one recorded in `ZBX_STATE_DIR/env`, started with zabbix-up.sh when the state
//! directory is absent or its API does not answer. `ZABBIX_SCRIPTS_DIR` (default `scripts/`)
//! says where zabbix-up.sh and zabbix-api.sh are. The tests take turns: one stops the API.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

struct Peer {
    url: String,
    state: PathBuf,
    scripts: PathBuf,
}

static PEER: OnceLock<Peer> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

fn api_answers(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let body = r#"{"jsonrpc":"2.0","method":"apiinfo.version","params":{},"id":1}"#;
    common::http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json-rpc")],
        body,
    )
    .is_ok_and(|r| r.status == 200 && r.text().contains("\"result\""))
}

fn env_url(state: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(state.join("env")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("ZABBIX_URL="))
        .map(String::from)
}

fn script(scripts: &std::path::Path, name: &str, args: &[&str]) {
    let path = scripts.join(name);
    let out = Command::new(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn peer() -> &'static Peer {
    PEER.get_or_init(|| {
        let state = PathBuf::from(std::env::var("ZBX_STATE_DIR").unwrap_or("/tmp/zbx".into()));
        let scripts = std::env::var("ZABBIX_SCRIPTS_DIR")
            .map_or_else(|_| common::root().join("scripts"), PathBuf::from);
        if let Ok(url) = std::env::var("ZABBIX_URL") {
            return Peer {
                url,
                state,
                scripts,
            };
        }
        let running = env_url(&state).is_some_and(|u| api_answers(&u));
        if !running {
            let s = state.display().to_string();
            script(&scripts, "zabbix-up.sh", &[&s]);
        }
        let url = env_url(&state).expect("zabbix-up.sh writes ZABBIX_URL to STATE/env");
        Peer {
            url,
            state,
            scripts,
        }
    })
}

fn telltale(dir_name: &str, body: &str) -> (common::Proc, PathBuf) {
    let dir = std::env::temp_dir().join(format!("telltale-{dir_name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("telltale.yml");
    write_config(&cfg, body);
    let args = vec![
        format!("--config={}", cfg.display()),
        "--web.listen-address=127.0.0.1:{port}".to_string(),
    ];
    (common::spawn(&common::bin(), &args, "/-/ready"), cfg)
}

fn write_config(cfg: &std::path::Path, creds: &str) {
    let url = &peer().url;
    std::fs::write(
        cfg,
        format!(
            "system: {{enabled: false}}\nzabbix:\n  - name: real\n    url: {url}\n    interval: 2s\n    hosts: [Zabbix server]\n{creds}"
        ),
    )
    .unwrap();
}

const GOOD: &str = "    username: Admin\n    password: zabbix\n";
/// A user that does not exist: failed logins of Admin would lock it for 30 s.
const BAD: &str = "    username: telltale-no-such-user\n    password: wrong\n";

/// The value of the first series line starting with `prefix` (labels hold no `}`).
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l[l.rfind('}')? + 1..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn up(text: &str) -> Option<f64> {
    value(text, "zabbix_up{zabbix=\"real\"}")
}

use common::wait_metrics as wait;

fn last_error(p: &common::Proc) -> String {
    let t: Value = serde_json::from_str(&common::get(&p.addr(), "/api/v1/targets")).unwrap();
    t["data"]["activeTargets"][0]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn item(key: &str) -> String {
    format!("zabbix_item_value{{host=\"Zabbix server\",key=\"{key}\",")
}

#[test]
fn agent_items_of_the_zabbix_server_host_are_exported() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (p, _) = telltale("zbx-items", GOOD);
    let text = wait(&p, 60, "agent items with values", |t| {
        value(t, &item("agent.ping")).is_some()
            && value(t, &item("system.cpu.load[all,avg1]")).is_some()
    });
    assert_eq!(up(&text), Some(1.0));
    assert_eq!(value(&text, &item("agent.ping")), Some(1.0));
    let load = value(&text, &item("system.cpu.load[all,avg1]")).unwrap();
    assert!(load.is_finite() && load >= 0.0, "{load}");
    assert!(
        text.contains("zabbix_api_version_info{version=\"6.0."),
        "{text}"
    );
    let count = value(&text, "zabbix_items{zabbix=\"real\"}").unwrap();
    assert!(count >= 10.0, "only {count} items exported");
    // Samples carry the item's lastclock (in ms) as their timestamp.
    let line = text
        .lines()
        .find(|l| l.starts_with(&item("agent.ping")))
        .unwrap();
    let ts: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now - 3_600_000..=now + 60_000).contains(&ts), "{line}");
    let (ok, out) = common::promtool_check_metrics(&text);
    assert!(ok && out.trim().is_empty(), "promtool: {out}");
}

#[test]
fn a_wrong_password_is_down_with_a_reason_and_a_fixed_config_recovers() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (p, cfg) = telltale("zbx-badpass", BAD);
    let text = wait(&p, 30, "an auth failure", |t| {
        value(
            t,
            "zabbix_poll_errors_total{reason=\"auth\",zabbix=\"real\"}",
        )
        .is_some_and(|v| v >= 1.0)
    });
    assert_eq!(up(&text), Some(0.0));
    assert!(!text.contains("zabbix_item_value"));
    let err = last_error(&p);
    assert!(
        err.starts_with("auth: user.login: ") && err.contains("Incorrect user name or password"),
        "{err}"
    );
    write_config(&cfg, GOOD);
    let r = common::http(&p.addr(), "POST", "/-/reload", &[], "").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    wait(&p, 30, "zabbix_up 1 after the fix", |t| up(t) == Some(1.0));
    assert_eq!(last_error(&p), "");
}

/// Starts the API again even when the test fails half-way.
struct RestartApi<'a>(&'a Peer);

impl Drop for RestartApi<'_> {
    fn drop(&mut self) {
        let s = self.0.state.display().to_string();
        script(&self.0.scripts, "zabbix-api.sh", &[&s, "start"]);
    }
}

#[test]
fn a_stopped_api_is_down_and_recovers_by_itself() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let peer = peer();
    let (p, _) = telltale("zbx-apistop", GOOD);
    wait(&p, 60, "zabbix_up 1", |t| {
        up(t) == Some(1.0) && t.contains("zabbix_item_value")
    });
    let state = peer.state.display().to_string();
    let restart = RestartApi(peer);
    script(&peer.scripts, "zabbix-api.sh", &[&state, "stop"]);
    let text = wait(&p, 30, "zabbix_up 0", |t| up(t) == Some(0.0));
    assert!(
        !text.contains("zabbix_item_value{"),
        "items go away with the API"
    );
    let err = last_error(&p);
    assert!(err.starts_with("connect: "), "{err}");
    // Let a few polls fail (and the backoff grow) before the API comes back.
    std::thread::sleep(Duration::from_secs(5));
    drop(restart);
    let text = wait(&p, 45, "recovery", |t| {
        up(t) == Some(1.0) && t.contains("zabbix_item_value")
    });
    assert!(
        value(
            &text,
            "zabbix_poll_errors_total{reason=\"connect\",zabbix=\"real\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        p.log_text().matches("Zabbix poll failed").count(),
        1,
        "{}",
        p.log_text()
    );
}
