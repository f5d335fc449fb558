//! The `probes:` section: one mapping per probe name, decoded strictly and validated completely
//! (URLs, addresses, status codes, regexes, CA files, timeouts), so `build` cannot fail on it.

use std::time::Duration;

use crate::config::common::Global;
use crate::config::yaml;
use crate::config::yaml::{Decoder, Fields, Node, Value};
use crate::http_client;
use crate::http_client::HttpConfig;

#[derive(Clone, Debug, PartialEq)]
pub struct ProbeConfig {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub kind: ProbeKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProbeKind {
    Http(Box<HttpProbe>),
    /// A TCP connect to `host:port`.
    Tcp(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpProbe {
    pub url: String,
    pub method: String,
    /// Shared HTTP settings; its timeout is the probe's.
    pub http: HttpConfig,
    /// Accepted status codes; empty means any 2xx.
    pub expect_status: Vec<u16>,
    pub body_regex: Option<Pattern>,
    pub body_not_regex: Option<Pattern>,
    pub follow_redirects: bool,
}

/// A compiled body regex; equal when the source text is, so configs stay comparable.
#[derive(Clone, Debug)]
pub struct Pattern(pub regex::bytes::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// Keys that only mean something for HTTP probes; a TCP probe with one of them is an error
/// rather than a silently ignored setting.
const HTTP_ONLY: &[&str] = &[
    "method",
    "headers",
    "basic_auth",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "body_size_limit",
    "expect_status",
    "body_regex",
    "body_not_regex",
    "follow_redirects",
];

/// Decodes `probes:` (a mapping of probe name to settings). Duplicate names are reported by the
/// mapping decoder.
pub fn decode(d: &mut Decoder, n: &Node, path: &str, global: &Global) -> Vec<ProbeConfig> {
    if d.map(n, path).is_none() {
        return Vec::new();
    }
    let Value::Map(entries) = &n.value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let Some(name) = k.scalar() else { continue };
        let p = format!("{path}.{name}");
        if name.is_empty() {
            d.error(k.pos, path, "probe name must not be empty");
            continue;
        }
        if let Some(c) = decode_one(d, name, v, &p, global) {
            out.push(c);
        }
    }
    out
}

fn decode_one(
    d: &mut Decoder,
    name: &str,
    n: &Node,
    path: &str,
    global: &Global,
) -> Option<ProbeConfig> {
    let mut f = d.map(n, path)?;
    let mut interval = global.scrape_interval;
    if let Some(v) = f.get("interval") {
        if let Some(i) = d.duration(v, &f.at("interval")) {
            if i.is_zero() {
                d.error(v.pos, &f.at("interval"), "must be greater than 0");
            } else {
                interval = i;
            }
        }
    }
    let default_timeout = global.scrape_timeout.min(interval);
    let mut timeout = default_timeout;
    let kind = match (f.get("url"), f.get("tcp")) {
        (Some(u), None) => {
            let h = decode_http(d, &mut f, u, default_timeout);
            timeout = h.as_ref().map_or(timeout, |h| h.http.timeout);
            h.map(|h| ProbeKind::Http(Box::new(h)))
        }
        (None, Some(t)) => {
            let mut misplaced: Vec<(&str, yaml::Pos)> = HTTP_ONLY
                .iter()
                .filter_map(|key| f.get(key).map(|v| (*key, v.pos)))
                .collect();
            misplaced.sort_by_key(|(_, pos)| (pos.line, pos.col));
            for (key, pos) in misplaced {
                d.error(
                    pos,
                    &f.at(key),
                    format!("{key} applies only to HTTP probes (url), not tcp"),
                );
            }
            if let Some(v) = f.get("timeout") {
                timeout = d.duration(v, &f.at("timeout")).unwrap_or(timeout);
            }
            decode_tcp(d, t, &f.at("tcp")).map(ProbeKind::Tcp)
        }
        _ => {
            d.error(f.pos, path, "exactly one of url and tcp must be set");
            // The other keys are fine as far as anyone can tell; do not call them unknown.
            for key in HTTP_ONLY.iter().chain(&["timeout"]) {
                f.get(key);
            }
            None
        }
    };
    let timeout_pos = f.get("timeout").map_or(f.pos, |v| v.pos);
    if timeout.is_zero() {
        d.error(timeout_pos, &f.at("timeout"), "must be greater than 0");
    } else if timeout > interval {
        d.error(
            timeout_pos,
            &f.at("timeout"),
            format!(
                "timeout ({}) greater than interval ({})",
                yaml::format_duration(timeout),
                yaml::format_duration(interval)
            ),
        );
    }
    f.finish(d, "probe");
    Some(ProbeConfig {
        name: name.to_string(),
        interval,
        timeout,
        kind: kind?,
    })
}

fn decode_http(
    d: &mut Decoder,
    f: &mut Fields,
    url_node: &Node,
    default_timeout: Duration,
) -> Option<HttpProbe> {
    let http = http_client::decode(d, f, default_timeout);
    if http.ca_file.is_some() {
        // Reading and parsing the CA here keeps a bad file from failing the (re)load later.
        if let Err(e) = http_client::client(&http) {
            let pos = f
                .get("tls_config")
                .and_then(|t| child(t, "ca_file"))
                .map_or(f.pos, |n| n.pos);
            d.error(pos, &format!("{}.ca_file", f.at("tls_config")), e);
        }
    }
    let url = d.string(url_node, &f.at("url"));
    if let Some(u) = &url {
        if let Err(e) = check_url(u) {
            d.error(url_node.pos, &f.at("url"), e);
        }
    }
    let mut method = "GET".to_string();
    if let Some(v) = f.get("method") {
        if let Some(m) = d.string(v, &f.at("method")) {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                d.error(
                    v.pos,
                    &f.at("method"),
                    format!("not an HTTP method (upper case, e.g. GET or HEAD): {m:?}"),
                );
            }
            method = m;
        }
    }
    let mut expect_status = Vec::new();
    if let Some(v) = f.get("expect_status") {
        let path = f.at("expect_status");
        let items = d.seq(v, &path);
        if items.is_empty() && matches!(v.value, Value::Seq(_)) {
            d.error(v.pos, &path, "must list at least one status code");
        }
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            match item.scalar().and_then(|s| s.parse::<u16>().ok()) {
                Some(c) if (100..=599).contains(&c) => expect_status.push(c),
                _ => d.error(
                    item.pos,
                    &p,
                    format!(
                        "not an HTTP status code (100-599): {}",
                        item.scalar().unwrap_or("?")
                    ),
                ),
            }
        }
    }
    let body_regex = pattern(d, f, "body_regex");
    let body_not_regex = pattern(d, f, "body_not_regex");
    let mut follow_redirects = true;
    if let Some(v) = f.get("follow_redirects") {
        follow_redirects = d.bool(v, &f.at("follow_redirects")).unwrap_or(true);
    }
    Some(HttpProbe {
        url: url?,
        method,
        http,
        expect_status,
        body_regex,
        body_not_regex,
        follow_redirects,
    })
}

fn child<'n>(map: &'n Node, key: &str) -> Option<&'n Node> {
    match &map.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

pub fn check_url(u: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(u).map_err(|e| format!("invalid URL {:?}: {e}", crate::config::redact::url(u)))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "URL scheme must be http or https, found {:?}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL {:?} has no host", crate::config::redact::url(u)));
    }
    Ok(())
}

/// Compiles a body regex; the regex crate's multi-line message is folded onto one line.
fn pattern(d: &mut Decoder, f: &mut Fields, key: &str) -> Option<Pattern> {
    let v = f.get(key)?;
    let s = d.string(v, &f.at(key))?;
    match regex::bytes::Regex::new(&s) {
        Ok(r) => Some(Pattern(r)),
        Err(e) => {
            d.error(v.pos, &f.at(key), regex_error(&s, &e));
            None
        }
    }
}

pub fn regex_error(pattern: &str, e: &regex::Error) -> String {
    let text = e.to_string();
    let reason = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .trim_start_matches("error: ");
    format!("invalid regex {pattern:?}: {reason}")
}

/// `host:port` with a non-zero port; IPv6 hosts in brackets.
pub fn check_tcp(addr: &str) -> Result<(), String> {
    let bad = || format!("not a host:port address: {addr:?}");
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty() && !host.contains(':') && !host.contains('/')
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && host_ok => Ok(()),
        _ => Err(bad()),
    }
}

fn decode_tcp(d: &mut Decoder, n: &Node, path: &str) -> Option<String> {
    let addr = d.string(n, path)?;
    match check_tcp(&addr) {
        Ok(()) => Some(addr),
        Err(e) => {
            d.error(n.pos, path, e);
            None
        }
    }
}
