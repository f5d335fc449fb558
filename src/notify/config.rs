//! The `alerting:` section of the config, decoded strictly in the house style (unknown key =
//! error with its position; URLs, durations, label names, addresses and templates checked at
//! load). The receivers' keys follow Alertmanager's (`send_resolved`, `max_alerts`,
//! `group_by`, `smarthost`, `auth_username`, ...) and the HTTP ones Prometheus' (`basic_auth`,
//! `bearer_token[_file]`, `tls_config`).

use std::time::Duration;

use super::group::GroupSettings;
use super::{ReceiverConfig, RECEIVERS};
use crate::config::common::{check_url, positive_count, positive_duration, required_url};
use crate::config::yaml::{Decoder, Fields, Node, Pos, Value};
use crate::http_client::decode_http;
use crate::http_client::HttpConfig;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct AlertingConfig {
    pub alertmanagers: Vec<AlertmanagerConfig>,
    /// Webhooks, Slack and email receivers (every kind in `RECEIVERS`), in file order by kind.
    pub receivers: Vec<Arc<dyn ReceiverConfig>>,
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
            receivers: Vec::new(),
            resend_delay: Duration::from_secs(60),
            queue_capacity: 10_000,
            batch_size: 64,
            external_url: String::new(),
        }
    }
}

impl AlertingConfig {
    pub fn is_empty(&self) -> bool {
        self.alertmanagers.is_empty() && self.receivers.is_empty()
    }

    /// The receivers of one kind, by its config type.
    #[cfg(test)]
    pub fn receivers_of<T: 'static>(&self) -> Vec<&T> {
        self.receivers
            .iter()
            .filter_map(|r| r.as_any().downcast_ref::<T>())
            .collect()
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
                let pos = item.value_pos("url");
                unique(d, &mut names, &am.api("alerts"), pos, &at);
                c.alertmanagers.push(am);
            }
        }
    }
    for kind in RECEIVERS {
        let key = kind.key;
        let Some(v) = f.get(key) else { continue };
        let p = f.at(key);
        let items: Vec<(&Node, String)> = match &v.value {
            Value::Map(_) if kind.one_or_many => vec![(v, p.clone())],
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
            let common = super::receiver::decode_common(d, &mut rf, kind.send_resolved);
            if let Some(cm) = &common {
                let pos = item.value_pos("name");
                unique(d, &mut names, &cm.name, pos, &rf.at("name"));
            }
            c.receivers.extend((kind.decode)(d, &mut rf, common));
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
mod tests {
    use super::*;
    use crate::config::yaml;
    use crate::notify::email::{EmailConfig, SmtpTls};
    use crate::notify::slack::SlackConfig;
    use crate::notify::webhook::WebhookConfig;

    fn parse(text: &str) -> Result<AlertingConfig, Vec<String>> {
        let root = yaml::parse("a.yml", text).unwrap();
        let mut d = Decoder::new("a.yml");
        let c = decode(&mut d, &root, "alerting");
        if d.ok() {
            Ok(c)
        } else {
            Err(d.diags.iter().map(|x| x.to_string()).collect())
        }
    }

    #[test]
    fn defaults_follow_prometheus_and_alertmanager() {
        let c = parse("").unwrap();
        assert_eq!(c.resend_delay, Duration::from_secs(60));
        assert_eq!(c.queue_capacity, 10_000);
        assert_eq!(c.batch_size, 64);
        assert!(c.is_empty());
        let c = parse(
            "webhooks: [{name: w, url: 'http://h/x'}]\n\
         email: {name: m, smarthost: 'mx:25', from: a@b.c, to: 'x@y.z, q@y.z'}\n\
         slack: [{name: s, url: 'http://h/s'}]\n",
        )
        .unwrap();
        let w = &c.receivers_of::<WebhookConfig>()[0].common;
        assert!(w.group.send_resolved);
        assert_eq!(w.group.group_wait_ms, 30_000);
        assert_eq!(w.group.group_interval_ms, 300_000);
        assert_eq!(w.group.repeat_interval_ms, 4 * 3_600_000);
        assert_eq!(w.group.group_by, Some(vec!["alertname".to_string()]));
        let e = &c.receivers_of::<EmailConfig>()[0];
        assert!(!e.common.group.send_resolved);
        assert!(
            !c.receivers_of::<SlackConfig>()[0]
                .common
                .group
                .send_resolved
        );
        assert_eq!(e.to, vec!["x@y.z", "q@y.z"]);
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("mx", 25, SmtpTls::StartTls)
        );
        assert_eq!(e.hello, "localhost");
    }

    #[test]
    fn a_full_section_decodes() {
        let c = parse(
        "external_url: http://telltale:8465/\n\
         resend_delay: 30s\nqueue_capacity: 100\nbatch_size: 10\n\
         alertmanagers:\n\
         - url: http://am1:9093/\n  path_prefix: /am/\n  timeout: 3s\n  basic_auth: {username: u, password: p}\n\
         - url: https://am2:9093\n  bearer_token: t\n  tls_config: {insecure_skip_verify: true}\n\
         webhooks:\n\
         - name: hook\n  url: http://h:1/x\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n  send_resolved: false\n  max_alerts: 5\n  body_template: '{\"n\": \"{{ $value }}\"}'\n\
         slack:\n- {name: chat, url: 'https://hooks.example/T', channel: '#ops'}\n\
         email:\n- name: mail\n  smarthost: 'mail:465'\n  from: telltale@example.org\n  to: [ops@example.org]\n  auth_username: u\n  auth_password: p\n  subject: '{{ $labels.alertname }}'\n",
    )
    .unwrap();
        assert_eq!(c.external_url, "http://telltale:8465");
        assert_eq!(c.resend_delay, Duration::from_secs(30));
        assert_eq!((c.queue_capacity, c.batch_size), (100, 10));
        assert_eq!(
            c.alertmanagers[0].api("alerts"),
            "http://am1:9093/am/api/v2/alerts"
        );
        assert_eq!(c.alertmanagers[0].http.timeout, Duration::from_secs(3));
        assert_eq!(c.alertmanagers[1].http.bearer_token.as_deref(), Some("t"));
        let w = &c.receivers_of::<WebhookConfig>()[0];
        assert_eq!(w.common.group.group_by, None);
        assert_eq!(w.common.group.group_wait_ms, 0);
        assert!(!w.common.group.send_resolved);
        assert_eq!(w.common.max_alerts, 5);
        assert!(w.body_template.is_some());
        assert_eq!(
            c.receivers_of::<SlackConfig>()[0].channel.as_deref(),
            Some("#ops")
        );
        let e = &c.receivers_of::<EmailConfig>()[0];
        assert_eq!(e.tls, SmtpTls::Implicit);
        assert_eq!(e.auth, Some(("u".into(), "p".into())));
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let got = parse(
        "resend_delay: 0s\nqueue_capacity: 0\nbogus: 1\n\
         alertmanagers:\n- url: ftp://am\n  path_prefix: am\n  extra: 1\n\
         webhooks:\n- url: http://h\n- name: w\n  url: http://h\n  group_by: [bad-label]\n  body_template: '{{ nosuch }}'\n\
         - name: w\n  url: http://h\n\
         email:\n  name: m\n  smarthost: mail\n  from: not-an-address\n  to: []\n  tls: ssl\n",
    )
    .unwrap_err();
        let want = [
            "a.yml:1:15: alerting.resend_delay: must be greater than 0",
            "a.yml:2:17: alerting.queue_capacity: must be greater than 0",
            "a.yml:3:1: alerting: unknown field \"bogus\" in alerting",
            "a.yml:5:8: alerting.alertmanagers[0].url: not an http(s) URL: \"ftp://am\"",
            "a.yml:6:16: alerting.alertmanagers[0].path_prefix: must start with /",
            "a.yml:7:3: alerting.alertmanagers[0]: unknown field \"extra\" in alertmanager",
            "a.yml:9:6: alerting.webhooks[0]: a receiver needs a name",
            "a.yml:12:13: alerting.webhooks[1].group_by: invalid label name \"bad-label\"",
            "a.yml:14:9: alerting.webhooks[2].name: duplicate notifier \"w\"",
        ];
        for w in want {
            assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:#?}");
        }
        for part in [
            "alerting.webhooks[1].body_template: error parsing template",
            "alerting.email.smarthost: want host:port, got \"mail\"",
            "alerting.email.from: invalid address \"not-an-address\"",
            "alerting.email.to: needs at least one address",
            "alerting.email.tls: unknown tls mode \"ssl\"",
        ] {
            assert!(
                got.iter().any(|g| g.contains(part)),
                "missing {part:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn a_bad_ca_file_fails_the_load() {
        let got = parse(
            "alertmanagers:\n- url: https://am\n  tls_config: {ca_file: /nonexistent/ca.pem}\n",
        )
        .unwrap_err();
        assert!(
            got[0].contains("tls_config.ca_file: cannot read ca_file /nonexistent/ca.pem"),
            "{got:?}"
        );
        let got = parse(
        "email: {name: m, smarthost: 'h:25', from: a@b.c, to: d@e.f, tls_config: {ca_file: /nonexistent/ca.pem}}\n",
    )
    .unwrap_err();
        assert!(got[0].contains("cannot read ca_file"), "{got:?}");
    }
}
