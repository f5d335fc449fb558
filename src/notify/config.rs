//! The `alerting:` section of the config, decoded strictly in the house style (unknown key =
//! error with its position; URLs, durations, label names, addresses and templates checked at
//! load). The receivers' keys follow Alertmanager's (`send_resolved`, `max_alerts`,
//! `group_by`, `smarthost`, `auth_username`, ...) and the HTTP ones Prometheus' (`basic_auth`,
//! `bearer_token[_file]`, `tls_config`).

use std::time::Duration;

use super::group::GroupSettings;
use crate::sources::http::{self, HttpConfig};
use crate::yaml::{Decoder, Fields, Node, Pos, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct AlertingConfig {
    pub alertmanagers: Vec<AlertmanagerConfig>,
    pub webhooks: Vec<WebhookConfig>,
    pub email: Vec<EmailConfig>,
    pub slack: Vec<SlackConfig>,
    /// How often a firing alert is re-sent (Prometheus' `--rules.alert.resend-delay`); the
    /// engine reads it.
    pub resend_delay: Duration,
    /// Per target, in alerts (Prometheus' `--alertmanager.notification-queue-capacity`).
    pub queue_capacity: usize,
    /// Alerts per Alertmanager request (Prometheus: 64 until 3.4, 256 since).
    pub batch_size: usize,
    /// telltale's own URL, as webhooks' `externalURL` and links in messages.
    pub external_url: String,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            alertmanagers: Vec::new(),
            webhooks: Vec::new(),
            email: Vec::new(),
            slack: Vec::new(),
            resend_delay: Duration::from_secs(60),
            queue_capacity: 10_000,
            batch_size: 64,
            external_url: String::new(),
        }
    }
}

impl AlertingConfig {
    pub fn is_empty(&self) -> bool {
        self.alertmanagers.is_empty()
            && self.webhooks.is_empty()
            && self.email.is_empty()
            && self.slack.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerConfig {
    /// `scheme://host:port`, without a trailing slash.
    pub url: String,
    /// `""` or `/prefix` (no trailing slash).
    pub path_prefix: String,
    pub http: HttpConfig,
}

impl AlertmanagerConfig {
    pub fn api(&self, endpoint: &str) -> String {
        format!("{}{}/api/v2/{endpoint}", self.url, self.path_prefix)
    }
}

/// Grouping and per-receiver delivery keys shared by webhooks, Slack and email.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiverCommon {
    pub name: String,
    pub group: GroupSettings,
    /// At most this many alerts per notification (0 = all); the rest are counted as truncated.
    pub max_alerts: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookConfig {
    pub common: ReceiverCommon,
    pub url: String,
    pub http: HttpConfig,
    /// A custom body (see `render::template_data` for what it sees) instead of the v4 payload.
    pub body_template: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SlackConfig {
    pub common: ReceiverCommon,
    pub url: String,
    pub http: HttpConfig,
    pub channel: Option<String>,
    pub username: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmailConfig {
    pub common: ReceiverCommon,
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    pub hello: String,
    pub tls: SmtpTls,
    pub auth: Option<(String, String)>,
    pub ca_file: Option<String>,
    pub insecure_skip_verify: bool,
    pub timeout: Duration,
    pub subject: Option<String>,
}

/// Decodes `alerting:`.
pub fn decode(d: &mut Decoder, n: &Node, path: &str) -> AlertingConfig {
    let mut c = AlertingConfig::default();
    let Some(mut f) = d.map(n, path) else {
        return c;
    };
    if let Some(v) = f.get("external_url") {
        if let Some(u) = d.string(v, &f.at("external_url")) {
            if let Err(e) = check_url(&u) {
                d.error(v.pos, &f.at("external_url"), e);
            }
            c.external_url = u.trim_end_matches('/').to_string();
        }
    }
    if let Some(v) = positive_duration(d, &mut f, "resend_delay") {
        c.resend_delay = v;
    }
    positive_count(d, &mut f, "queue_capacity", &mut c.queue_capacity);
    positive_count(d, &mut f, "batch_size", &mut c.batch_size);
    let mut names: Vec<String> = Vec::new();
    if let Some(v) = f.get("alertmanagers") {
        let p = f.at("alertmanagers");
        for (i, item) in d.seq(v, &p).iter().enumerate() {
            if let Some(am) = decode_am(d, item, &format!("{p}[{i}]")) {
                let at = format!("{p}[{i}].url");
                let pos = item_pos(item, "url");
                unique(d, &mut names, &am.api("alerts"), pos, &at);
                c.alertmanagers.push(am);
            }
        }
    }
    for (key, kind) in [("webhooks", 0), ("slack", 1), ("email", 2)] {
        let Some(v) = f.get(key) else { continue };
        let p = f.at(key);
        // `email:` may be one mapping or a list of them.
        let items: Vec<(&Node, String)> = match (&v.value, kind) {
            (Value::Map(_), 2) => vec![(v, p.clone())],
            _ => d
                .seq(v, &p)
                .iter()
                .enumerate()
                .map(|(i, n)| (n, format!("{p}[{i}]")))
                .collect(),
        };
        for (item, ip) in items {
            let Some(mut rf) = d.map(item, &ip) else {
                continue;
            };
            let common = super::config_receivers::decode_common(d, &mut rf, kind == 0);
            if let Some(cm) = &common {
                let pos = item_pos(item, "name");
                unique(d, &mut names, &cm.name, pos, &rf.at("name"));
            }
            match kind {
                0 => {
                    let w = super::config_receivers::decode_webhook(d, &mut rf, common);
                    c.webhooks.extend(w);
                }
                1 => c
                    .slack
                    .extend(super::config_receivers::decode_slack(d, &mut rf, common)),
                _ => c
                    .email
                    .extend(super::config_email::decode(d, &mut rf, common)),
            }
            rf.finish(d, key);
        }
    }
    f.finish(d, "alerting");
    c
}

fn unique(d: &mut Decoder, seen: &mut Vec<String>, name: &str, pos: Pos, path: &str) {
    if seen.iter().any(|s| s == name) {
        d.error(pos, path, format!("duplicate notifier {name:?}"));
    } else {
        seen.push(name.to_string());
    }
}

/// Where a key's value is written in a mapping (the mapping's position if absent).
fn item_pos(map: &Node, key: &str) -> Pos {
    match &map.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
            .map_or(map.pos, |(_, v)| v.pos),
        _ => map.pos,
    }
}

pub fn check_url(u: &str) -> Result<(), String> {
    match reqwest::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => Ok(()),
        Ok(_) => Err(format!("not an http(s) URL: {u:?}")),
        Err(e) => Err(format!("invalid URL {u:?}: {e}")),
    }
}

pub fn positive_duration(d: &mut Decoder, f: &mut Fields, key: &str) -> Option<Duration> {
    let v = f.get(key)?;
    let dur = d.duration(v, &f.at(key))?;
    if dur.is_zero() {
        d.error(v.pos, &f.at(key), "must be greater than 0");
        return None;
    }
    Some(dur)
}

/// A count that must be above 0, written into `into` when given and valid.
pub fn positive_count(d: &mut Decoder, f: &mut Fields, key: &str, into: &mut usize) {
    if let Some(v) = f.get(key) {
        match d.u64(v, &f.at(key)) {
            Some(0) => d.error(v.pos, &f.at(key), "must be greater than 0"),
            Some(x) => *into = x as usize,
            None => {}
        }
    }
}

/// The URL (required, http or https), with its node for positions.
pub fn required_url(d: &mut Decoder, f: &mut Fields, what: &str) -> Option<String> {
    let Some(v) = f.get("url") else {
        d.error(f.pos, &f.path, format!("{what} needs a url"));
        return None;
    };
    let u = d.string(v, &f.at("url"))?;
    match check_url(&u) {
        Ok(()) => Some(u),
        Err(e) => {
            d.error(v.pos, &f.at("url"), e);
            None
        }
    }
}

/// The shared HTTP keys, with the CA file read now so that a bad one fails the load.
pub fn decode_http(d: &mut Decoder, f: &mut Fields) -> HttpConfig {
    let h = http::decode(d, f, Duration::from_secs(10));
    if h.timeout.is_zero() {
        let pos = f.get("timeout").map_or(f.pos, |n| n.pos);
        d.error(pos, &f.at("timeout"), "must be greater than 0");
    }
    if h.ca_file.is_some() {
        if let Err(e) = http::client(&h) {
            let pos = f.get("tls_config").map_or(f.pos, |n| n.pos);
            d.error(pos, &format!("{}.ca_file", f.at("tls_config")), e);
        }
    }
    h
}

fn decode_am(d: &mut Decoder, n: &Node, path: &str) -> Option<AlertmanagerConfig> {
    let mut f = d.map(n, path)?;
    let url = required_url(d, &mut f, "an alertmanager");
    let mut prefix = String::new();
    if let Some(v) = f.get("path_prefix") {
        if let Some(p) = d.string(v, &f.at("path_prefix")) {
            if !p.is_empty() && !p.starts_with('/') {
                d.error(v.pos, &f.at("path_prefix"), "must start with /");
            }
            prefix = p.trim_end_matches('/').to_string();
        }
    }
    let http = decode_http(d, &mut f);
    f.finish(d, "alertmanager");
    Some(AlertmanagerConfig {
        url: url?.trim_end_matches('/').to_string(),
        path_prefix: prefix,
        http,
    })
}

/// A custom template: parsed now so that a bad one fails the load.
pub fn template(d: &mut Decoder, f: &mut Fields, key: &str) -> Option<String> {
    let v = f.get(key)?;
    let text = d.string(v, &f.at(key))?;
    match super::render::parse_template(key, &text) {
        Err(e) => d.error(v.pos, &f.at(key), e),
        // A trial run catches fields that do not exist (`.Alerts`); errors that depend on the
        // data (a function given a value it cannot take) are left to delivery time.
        Ok(t) => {
            if let Err(e) = t.execute(&super::render::sample_data()) {
                if e.contains("can't evaluate field") {
                    d.error(v.pos, &f.at(key), e);
                }
            }
        }
    }
    Some(text)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
