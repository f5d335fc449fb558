//! telltale against a loopback stub of the Zabbix JSON-RPC API that enforces each version's
//! authentication rules strictly: ≤6.2 only body `auth`, 6.4/7.0 Bearer or body, 7.2+ only Bearer
//! (body `auth` rejected with 7.2's error), `user` vs `username` at login. It also forgets
//! sessions on demand, to test the re-login, and refuses wrong passwords.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[derive(Default)]
struct Stub {
    version: (u32, u32),
    version_text: String,
    sessions: Vec<String>,
    logins: usize,
    /// One line per request: `method auth-kind result`, e.g. `item.get bearer ok`.
    log: Vec<String>,
    polls: u64,
}

fn error(code: i64, message: &str, data: &str) -> Value {
    json!({"code": code, "message": message, "data": data})
}

impl Stub {
    /// Answers one JSON-RPC request: Ok(result) or Err(error object), plus the log line.
    fn answer(&mut self, req: &Value, bearer: Option<&str>) -> Result<Value, Value> {
        let method = req["method"].as_str().unwrap_or_default();
        let body_auth = req.get("auth").and_then(Value::as_str);
        let v = self.version;
        if v >= (7, 2) && req.get("auth").is_some() {
            return Err(error(
                -32600,
                "Invalid request.",
                "Invalid parameter \"/\": unexpected parameter \"auth\".",
            ));
        }
        // Before 6.4 the header means nothing; from 6.4 it is the way (body still read until 7.2).
        let presented = if v >= (6, 4) {
            bearer.or(body_auth)
        } else {
            body_auth
        };
        let params = &req["params"];
        match method {
            "apiinfo.version" | "user.login" if presented.is_some() => Err(error(
                -32602,
                "Invalid params.",
                &format!("The \"{method}\" method must be called without the \"auth\" parameter."),
            )),
            "apiinfo.version" => Ok(json!(self.version_text)),
            "user.login" => {
                let key = if v < (5, 4) { "user" } else { "username" };
                let other = if v < (5, 4) { "username" } else { "user" };
                if params.get(other).is_some() && v >= (6, 4) || params.get(key).is_none() {
                    return Err(error(
                        -32602,
                        "Invalid params.",
                        &format!("Invalid parameter \"/\": unexpected parameter \"{other}\"."),
                    ));
                }
                if params[key] != "Admin" || params["password"] != "zabbix" {
                    return Err(error(
                        -32602,
                        "Invalid params.",
                        "Incorrect user name or password or account is temporarily blocked.",
                    ));
                }
                self.logins += 1;
                let sid = format!("{:032x}", 0xabc000 + self.logins);
                self.sessions.push(sid.clone());
                Ok(json!(sid))
            }
            _ => {
                match presented {
                    None => {
                        return Err(error(-32602, "Invalid params.", "Not authorized."));
                    }
                    Some(t) if t == TOKEN && v >= (5, 4) => {}
                    Some(t) if self.sessions.iter().any(|s| s == t) => {}
                    Some(_) => {
                        return Err(error(
                            -32602,
                            "Invalid params.",
                            "Session terminated, re-login, please.",
                        ));
                    }
                }
                match method {
                    "host.get" => Ok(json!([{"hostid": "10084", "host": "stub host"}])),
                    "item.get" => {
                        assert_eq!(params["hostids"], json!(["10084"]));
                        assert_eq!(params["monitored"], json!(true));
                        self.polls += 1;
                        Ok(items(self.polls))
                    }
                    _ => Err(error(-32601, "Method not found.", "Incorrect method.")),
                }
            }
        }
    }
}

fn items(poll: u64) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let host = json!([{"hostid": "10084", "host": "stub host", "name": "Stub host"}]);
    json!([
        {"itemid": "1", "hostid": "10084", "name": "Polls", "key_": "stub.polls", "value_type": "3",
         "units": "", "lastvalue": poll.to_string(), "lastclock": now.to_string(), "state": "0",
         "status": "0", "hosts": host},
        {"itemid": "2", "hostid": "10084", "name": "Load", "key_": "system.cpu.load[all,avg1]",
         "value_type": "0", "units": "", "lastvalue": "0.75", "lastclock": now.to_string(),
         "state": "0", "status": "0", "hosts": host},
    ])
}

fn serve(stream: TcpStream, stub: &Mutex<Stub>) {
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap_or(0);
    let (mut len, mut ctype, mut bearer) = (0usize, String::new(), None);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        let v = v.trim().to_string();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.parse().unwrap_or(0),
            "content-type" => ctype = v,
            "authorization" => bearer = v.strip_prefix("Bearer ").map(String::from),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    let mut out = stream;
    if ctype.split(';').next() != Some("application/json-rpc") {
        let _ = out.write_all(
            b"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let req: Value = serde_json::from_slice(&body).unwrap();
    let mut s = stub.lock().unwrap();
    let kind = match (&bearer, req.get("auth")) {
        (Some(_), Some(_)) => "both",
        (Some(_), None) => "bearer",
        (None, Some(_)) => "body",
        (None, None) => "none",
    };
    let answer = s.answer(&req, bearer.as_deref());
    let method = req["method"].as_str().unwrap_or_default().to_string();
    let mut resp = json!({"jsonrpc": "2.0", "id": req["id"]});
    match answer {
        Ok(v) => {
            s.log.push(format!("{method} {kind} ok"));
            resp["result"] = v;
        }
        Err(e) => {
            s.log.push(format!(
                "{method} {kind} {}",
                e["data"].as_str().unwrap_or("")
            ));
            resp["error"] = e;
        }
    }
    drop(s);
    let text = resp.to_string();
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn start_stub(version: &str) -> (String, Arc<Mutex<Stub>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api_jsonrpc.php", l.local_addr().unwrap());
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
    let stub = Arc::new(Mutex::new(Stub {
        version: (parts.next().unwrap(), parts.next().unwrap()),
        version_text: version.to_string(),
        ..Stub::default()
    }));
    let s = Arc::clone(&stub);
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            serve(c, &s);
        }
    });
    (url, stub)
}

fn telltale(url: &str, auth: &str) -> common::Proc {
    let dir = std::env::temp_dir().join(format!("telltale-zbx-stub-{}", common::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        format!("system: {{enabled: false}}\nzabbix:\n  - name: stub\n    url: {url}\n    interval: 1s\n{auth}"),
    )
    .unwrap();
    let args = vec![
        format!("--config={}", cfg.display()),
        "--web.listen-address=127.0.0.1:{port}".to_string(),
    ];
    common::spawn(&common::bin(), &args, "/-/ready")
}

/// The value of the first series line starting with `prefix` (labels hold no `}`).
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l[l.rfind('}')? + 1..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

const PASSWORD: &str = "    username: Admin\n    password: zabbix\n";

fn polls_exported(p: &common::Proc, n: f64) -> String {
    common::wait_metrics(p, 15, &format!("{n} polls"), |t| {
        value(t, "zabbix_item_value{host=\"stub host\",key=\"stub.polls\"").is_some_and(|v| v >= n)
    })
}

#[test]
fn v7_2_password_uses_bearer_and_never_body_auth() {
    let (url, stub) = start_stub("7.2.3");
    let p = telltale(&url, PASSWORD);
    let text = polls_exported(&p, 2.0);
    assert_eq!(value(&text, "zabbix_up{zabbix=\"stub\"}"), Some(1.0));
    assert!(text.contains("zabbix_api_version_info{version=\"7.2.3\",zabbix=\"stub\"} 1"));
    assert_eq!(
        value(&text, "zabbix_item_value{host=\"stub host\",key=\"system.cpu.load[all,avg1]\",name=\"Load\",units=\"\",zabbix=\"stub\"}"),
        Some(0.75)
    );
    let s = stub.lock().unwrap();
    assert_eq!(s.logins, 1, "{:?}", s.log);
    assert_eq!(s.log[0], "apiinfo.version none ok");
    assert_eq!(s.log[1], "user.login none ok");
    for l in &s.log[2..] {
        assert!(l.ends_with(" bearer ok"), "{:?}", s.log);
    }
}

#[test]
fn v7_2_token_skips_login() {
    let (url, stub) = start_stub("7.2.0");
    let p = telltale(&url, &format!("    api_token: {TOKEN}\n"));
    polls_exported(&p, 2.0);
    let s = stub.lock().unwrap();
    assert_eq!(s.logins, 0);
    assert!(
        s.log
            .iter()
            .all(|l| !l.contains("user.login") && !l.contains(" body ")),
        "{:?}",
        s.log
    );
}

#[test]
fn v6_4_token_goes_in_the_header() {
    let (url, stub) = start_stub("6.4.21");
    let p = telltale(&url, &format!("    api_token: {TOKEN}\n"));
    polls_exported(&p, 1.0);
    let s = stub.lock().unwrap();
    assert!(
        s.log.iter().any(|l| l == "item.get bearer ok"),
        "{:?}",
        s.log
    );
}

#[test]
fn v6_2_and_v5_0_use_body_auth_and_their_login_field() {
    for version in ["6.2.9", "5.0.40"] {
        let (url, stub) = start_stub(version);
        let p = telltale(&url, PASSWORD);
        polls_exported(&p, 2.0);
        let s = stub.lock().unwrap();
        assert_eq!(s.log[1], "user.login none ok", "{version}: {:?}", s.log);
        assert!(
            s.log[2..].iter().all(|l| l.ends_with(" body ok")),
            "{version}: {:?}",
            s.log
        );
    }
}

#[test]
fn a_terminated_session_is_renewed_without_losing_the_poll() {
    let (url, stub) = start_stub("7.0.5");
    let p = telltale(&url, PASSWORD);
    polls_exported(&p, 2.0);
    stub.lock().unwrap().sessions.clear();
    let text = polls_exported(&p, 4.0);
    let s = stub.lock().unwrap();
    assert_eq!(s.logins, 2, "{:?}", s.log);
    let i = s
        .log
        .iter()
        .position(|l| l.contains("Session terminated"))
        .expect("the old session was refused");
    assert_eq!(
        s.log[i],
        "item.get bearer Session terminated, re-login, please."
    );
    assert_eq!(s.log[i + 1], "user.login none ok");
    assert_eq!(s.log[i + 2], "item.get bearer ok", "{:?}", s.log);
    // No poll failed and zabbix_up never dropped.
    for reason in ["auth", "api", "connect"] {
        let prefix = format!("zabbix_poll_errors_total{{reason=\"{reason}\",zabbix=\"stub\"}}");
        assert_eq!(value(&text, &prefix), Some(0.0), "{text}");
    }
}

#[test]
fn a_wrong_password_is_down_with_its_reason_and_backs_off() {
    let (url, stub) = start_stub("7.2.1");
    let p = telltale(&url, "    username: Admin\n    password: wrong\n");
    let text = common::wait_metrics(&p, 15, "auth errors", |t| {
        value(
            t,
            "zabbix_poll_errors_total{reason=\"auth\",zabbix=\"stub\"}",
        )
        .is_some_and(|v| v >= 2.0)
    });
    assert_eq!(value(&text, "zabbix_up{zabbix=\"stub\"}"), Some(0.0));
    assert!(!text.contains("zabbix_item_value"));
    let targets = common::get(&p.addr(), "/api/v1/targets");
    let t: Value = serde_json::from_str(&targets).unwrap();
    let target = &t["data"]["activeTargets"][0];
    assert_eq!(target["health"], "down");
    let err = target["lastError"].as_str().unwrap();
    assert!(
        err.starts_with("auth: user.login: ") && err.contains("Incorrect user name"),
        "{err}"
    );
    // Backoff: after 6 s of 1 s ticks, far fewer than 6 login attempts.
    std::thread::sleep(Duration::from_secs(6));
    let attempts = stub
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| l.starts_with("user.login"))
        .count();
    assert!((2..=5).contains(&attempts), "{attempts} attempts");
    assert_eq!(
        p.log_text().matches("Zabbix poll failed").count(),
        1,
        "logged once: {}",
        p.log_text()
    );
}
