//! The `zabbix:` config section: one entry per Zabbix server, decoded strictly and validated
//! (credentials, regexes, durations) so an invalid config never reaches the poller.

use std::time::Duration;

use regex::Regex;

use super::api::Credentials;
use crate::config::common::{secret, Global};
use crate::config::yaml::{format_duration, Decoder, Node, Pos, Value};
use crate::http_client;
use crate::http_client::HttpConfig;

/// Items whose last value is older than this are not exported, unless `max_age` says otherwise.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Hosts per `item.get` request.
pub const DEFAULT_CHUNK_SIZE: usize = 500;
/// Zabbix answers can be large (a few hundred bytes per item).
pub const DEFAULT_BODY_LIMIT: usize = 64 << 20;

/// Key patterns, compiled at load; anchored like Prometheus' regexes.
#[derive(Clone, Debug, Default)]
pub struct Patterns(pub Vec<Regex>);

impl PartialEq for Patterns {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| a.as_str() == b.as_str())
    }
}

impl Patterns {
    /// True when no pattern is set or any of them matches the whole key.
    pub fn accepts(&self, key: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|r| r.is_match(key))
    }
}

/// An item tag condition: `value: None` means the tag only has to exist.
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ZabbixConfig {
    pub name: String,
    pub url: String,
    pub interval: Duration,
    /// Bounds one whole poll (each request and all of them together).
    pub http: HttpConfig,
    pub credentials: Credentials,
    pub hosts: Vec<String>,
    pub host_groups: Vec<String>,
    pub tags: Vec<Tag>,
    pub key_patterns: Patterns,
    pub text_items_as_info: bool,
    pub max_age: Duration,
    pub chunk_size: usize,
}

/// Decodes the `zabbix:` sequence; every problem is reported with its position.
pub fn decode(d: &mut Decoder, n: &Node, path: &str, global: &Global) -> Vec<ZabbixConfig> {
    let mut out: Vec<ZabbixConfig> = Vec::new();
    for (i, item) in d.seq(n, path).iter().enumerate() {
        let p = format!("{path}[{i}]");
        if let Some((c, name_pos)) = decode_one(d, item, &p, global) {
            if out.iter().any(|o| o.name == c.name) {
                d.error(name_pos, &p, format!("duplicate zabbix name {:?}", c.name));
            }
            out.push(c);
        }
    }
    out
}

/// One entry, and the position of its name (for the duplicate check).
fn decode_one(
    d: &mut Decoder,
    n: &Node,
    path: &str,
    global: &Global,
) -> Option<(ZabbixConfig, Pos)> {
    let mut f = d.map(n, path)?;
    let pos = entry_pos(n);
    let name_pos = f.get("name").map_or(pos, |v| v.pos);
    let name = match f.get("name") {
        Some(v) => d.string(v, &f.at("name")).unwrap_or_default(),
        None => {
            d.error(pos, path, "missing required field \"name\"");
            String::new()
        }
    };
    let url = match f.get("url") {
        Some(v) => {
            let u = d.string(v, &f.at("url")).unwrap_or_default();
            match reqwest::Url::parse(&u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") => {}
                _ => d.error(
                    v.pos,
                    &f.at("url"),
                    format!(
                        "not an http(s) URL: {:?} (e.g. http://zabbix/api_jsonrpc.php)",
                        crate::config::redact::url(&u)
                    ),
                ),
            }
            u
        }
        None => {
            d.error(pos, path, "missing required field \"url\"");
            String::new()
        }
    };
    let mut interval = global.scrape_interval;
    if let Some(v) = f.get("interval") {
        match d.duration(v, &f.at("interval")) {
            Some(x) if x.is_zero() => d.error(v.pos, &f.at("interval"), "must be greater than 0"),
            Some(x) => interval = x,
            None => {}
        }
    }
    let timeout_node = f.get("timeout");
    let has_limit = f.get("body_size_limit").is_some();
    let mut http = http_client::decode(d, &mut f, global.scrape_timeout.min(interval));
    if !has_limit {
        http.body_size_limit = DEFAULT_BODY_LIMIT;
    }
    if http.timeout > interval {
        d.error(
            timeout_node.map_or(pos, |t| t.pos),
            &f.at("timeout"),
            format!(
                "timeout ({}) greater than interval ({})",
                format_duration(http.timeout),
                format_duration(interval)
            ),
        );
    }
    if let Some(b) = f.get("bearer_token").or(f.get("bearer_token_file")) {
        d.error(
            b.pos,
            &f.at("bearer_token"),
            "use api_token for a Zabbix API token (the client picks header or body by version)",
        );
    }
    let username = f
        .get("username")
        .and_then(|v| d.string(v, &f.at("username")));
    let before = d.diags.len();
    let password = secret(d, &mut f, "password");
    let token = secret(d, &mut f, "api_token");
    let secrets_failed = d.diags.len() > before;
    let credentials = match (username, password, token) {
        // An unreadable secret file was reported already.
        _ if secrets_failed => Credentials::Token(String::new()),
        (Some(user), Some(password), None) => Credentials::Password { user, password },
        (None, None, Some(t)) => Credentials::Token(t),
        (None, None, None) => {
            d.error(
                pos,
                path,
                "give either username and password[_file] or api_token[_file]",
            );
            Credentials::Token(String::new())
        }
        (Some(_), None, None) => {
            d.error(pos, path, "username needs password or password_file");
            Credentials::Token(String::new())
        }
        (None, Some(_), None) => {
            d.error(pos, path, "password needs username");
            Credentials::Token(String::new())
        }
        (_, _, Some(_)) => {
            d.error(
                pos,
                path,
                "give either username and password[_file] or api_token[_file], not both",
            );
            Credentials::Token(String::new())
        }
    };
    let hosts = f
        .get("hosts")
        .map(|v| d.string_list(v, &f.at("hosts")))
        .unwrap_or_default();
    let host_groups = f
        .get("host_groups")
        .map(|v| d.string_list(v, &f.at("host_groups")))
        .unwrap_or_default();
    let tags = f
        .get("tags")
        .map(|v| decode_tags(d, v, &f.at("tags")))
        .unwrap_or_default();
    let key_patterns = f
        .get("key_patterns")
        .map(|v| decode_patterns(d, v, &f.at("key_patterns")))
        .unwrap_or_default();
    let text_items_as_info = f
        .get("text_items_as_info")
        .and_then(|v| d.bool(v, &f.at("text_items_as_info")))
        .unwrap_or(false);
    let mut max_age = DEFAULT_MAX_AGE;
    if let Some(v) = f.get("max_age") {
        match d.duration(v, &f.at("max_age")) {
            Some(x) if x.is_zero() => d.error(v.pos, &f.at("max_age"), "must be greater than 0"),
            Some(x) => max_age = x,
            None => {}
        }
    }
    let mut chunk_size = DEFAULT_CHUNK_SIZE;
    if let Some(v) = f.get("chunk_size") {
        match d.u64(v, &f.at("chunk_size")) {
            Some(0) => d.error(v.pos, &f.at("chunk_size"), "must be greater than 0"),
            Some(x) => chunk_size = x as usize,
            None => {}
        }
    }
    f.finish(d, "zabbix");
    let c = ZabbixConfig {
        name,
        url,
        interval,
        http,
        credentials,
        hosts,
        host_groups,
        tags,
        key_patterns,
        text_items_as_info,
        max_age,
        chunk_size,
    };
    Some((c, name_pos))
}

/// Where an entry's problems are reported: its first key (a mapping's own mark is its first colon).
fn entry_pos(n: &Node) -> Pos {
    match &n.value {
        Value::Map(entries) if !entries.is_empty() => entries[0].0.pos,
        _ => n.pos,
    }
}

fn decode_tags(d: &mut Decoder, n: &Node, path: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    for (i, item) in d.seq(n, path).iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(mut f) = d.map(item, &p) else {
            continue;
        };
        let name = f.get("name").and_then(|v| d.string(v, &f.at("name")));
        let value = f.get("value").and_then(|v| d.string(v, &f.at("value")));
        f.finish(d, "tag");
        match name {
            Some(name) if !name.is_empty() => out.push(Tag { name, value }),
            _ => d.error(entry_pos(item), &p, "a tag needs a name"),
        }
    }
    out
}

fn decode_patterns(d: &mut Decoder, n: &Node, path: &str) -> Patterns {
    let mut out = Vec::new();
    let items = d.seq(n, path);
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(s) = d.string(item, &p) else {
            continue;
        };
        match Regex::new(&format!("^(?:{s})$")) {
            Ok(r) => out.push(r),
            Err(e) => {
                // regex's message spans lines (pattern, caret, cause): keep the cause.
                let text = e.to_string();
                let cause = text.lines().last().unwrap_or_default();
                let cause = cause.trim().trim_start_matches("error: ");
                d.error(item.pos, &p, format!("invalid regex {s:?}: {cause}"))
            }
        }
    }
    Patterns(out)
}
