//! Slack-style incoming webhooks (Slack, Mattermost, Rocket.Chat accept the same): a `text`
//! (the fallback shown in notifications) and `blocks`: a header with Alertmanager's subject,
//! one section per alert (status, summary or description, labels, link to the rule), and a
//! context line with the truncated count and telltale's URL.

use std::time::Duration;

use serde_json::{json, Value};

use super::config::ReceiverCommon;
use super::render::{self, alert_status};
use super::webhook::{client, post_json, truncate};
use super::{Message, Mode, Notifier, SendFuture};
use crate::config::common::required_url;
use crate::config::yaml::{Decoder, Fields};
use crate::http_client::{decode_http, HttpConfig};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct SlackConfig {
    pub common: ReceiverCommon,
    pub url: String,
    pub http: HttpConfig,
    pub channel: Option<String>,
    pub username: Option<String>,
}

/// `alerting.slack`: Slack incoming webhooks.
pub const RECEIVER: super::Receiver = super::Receiver {
    key: "slack",
    send_resolved: false,
    one_or_many: false,
    decode: |d, f, common| decode(d, f, common).map(|c| Arc::new(c) as _),
};

impl super::BuildNotifier for SlackConfig {
    fn build(&self, external_url: &str) -> Result<Arc<dyn Notifier>, String> {
        Ok(Arc::new(Slack::new(self, external_url)?))
    }
}

/// One `alerting.slack` entry.
pub fn decode(
    d: &mut Decoder,
    f: &mut Fields,
    common: Option<ReceiverCommon>,
) -> Option<SlackConfig> {
    let url = required_url(d, f, "a slack receiver");
    let mut opt = |key: &str| f.get(key).and_then(|v| d.string(v, &f.at(key)));
    let channel = opt("channel");
    let username = opt("username");
    let http = decode_http(d, f);
    Some(SlackConfig {
        common: common?,
        url: url?,
        http,
        channel,
        username,
    })
}

/// Slack's limit on a section's text.
const SECTION_MAX: usize = 3000;
/// Slack allows 50 blocks; header and context take two.
const MAX_ALERT_BLOCKS: usize = 48;

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn payload(cfg: &SlackConfig, external_url: &str, msg: &Message) -> Value {
    let max = match cfg.common.max_alerts {
        0 => MAX_ALERT_BLOCKS,
        n => n.min(MAX_ALERT_BLOCKS),
    };
    let (m, truncated) = truncate(msg, max);
    let subject = render::subject(msg);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(&subject, 150)}
    })];
    for a in &m.alerts {
        let status = alert_status(&m, a);
        let icon = if status == "firing" {
            ":red_circle:"
        } else {
            ":large_green_circle:"
        };
        let name = a.label("alertname").unwrap_or("alert");
        let mut text = format!("{icon} *{}* {}", esc(name), status);
        let ann = |k: &str| {
            a.annotations
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        if let Some(s) = ann("summary").or_else(|| ann("description")) {
            text.push_str(&format!("\n{}", esc(s)));
        }
        let labels: Vec<String> = a
            .labels
            .iter()
            .filter(|(k, _)| k != "alertname")
            .map(|(k, v)| format!("`{}={}`", esc(k), esc(v)))
            .collect();
        if !labels.is_empty() {
            text.push_str(&format!("\n{}", labels.join(" ")));
        }
        if !a.generator_url.is_empty() {
            text.push_str(&format!("\n<{}|rule>", a.generator_url));
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&text, SECTION_MAX)}
        }));
    }
    let mut context = Vec::new();
    if truncated > 0 {
        context.push(format!("{truncated} more alert(s) not shown"));
    }
    if !external_url.is_empty() {
        context.push(format!("<{external_url}|telltale>"));
    }
    if !context.is_empty() {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": context.join(" · ")}]
        }));
    }
    let mut body = json!({"text": subject, "blocks": blocks});
    if let Some(c) = &cfg.channel {
        body["channel"] = json!(c);
    }
    if let Some(u) = &cfg.username {
        body["username"] = json!(u);
    }
    body
}

pub struct Slack {
    cfg: SlackConfig,
    external_url: String,
    client: reqwest::Client,
}

impl Slack {
    pub fn new(cfg: &SlackConfig, external_url: &str) -> Result<Self, String> {
        Ok(Slack {
            cfg: cfg.clone(),
            external_url: external_url.to_string(),
            client: client(&cfg.http)?,
        })
    }
}

impl Notifier for Slack {
    fn name(&self) -> &str {
        &self.cfg.common.name
    }

    fn mode(&self) -> Mode {
        Mode::Grouped(self.cfg.common.group.clone())
    }

    fn timeout(&self) -> Duration {
        self.cfg.http.timeout
    }

    fn send<'a>(&'a self, msg: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let body = payload(&self.cfg, &self.external_url, msg).to_string();
            post_json(&self.client, &self.cfg.http, &self.cfg.url, body).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::config::ReceiverCommon;
    use crate::notify::group::GroupSettings;
    use crate::notify::OutAlert;

    fn cfg(max_alerts: usize) -> SlackConfig {
        SlackConfig {
            common: ReceiverCommon {
                name: "chat".into(),
                group: GroupSettings::default(),
                max_alerts,
            },
            url: "http://127.0.0.1:1/hook".into(),
            http: Default::default(),
            channel: Some("#ops".into()),
            username: None,
        }
    }

    fn alert(i: usize, resolved: bool) -> OutAlert {
        OutAlert {
            labels: vec![
                ("alertname".into(), "Down".into()),
                ("instance".into(), format!("h{i}<x>")),
            ],
            annotations: vec![("summary".into(), format!("host {i} down"))],
            starts_at_ms: 0,
            ends_at_ms: 100,
            generator_url: "http://t/graph?g0.expr=up".into(),
            resolved,
        }
    }

    #[test]
    fn text_and_blocks() {
        let m = Message {
            group_key: "{}:{alertname=\"Down\"}".into(),
            group_labels: vec![("alertname".into(), "Down".into())],
            at_ms: 50,
            ..Message::batch(vec![alert(1, false), alert(2, true), alert(3, false)])
        };
        let p = payload(&cfg(2), "http://t", &m);
        assert_eq!(p["text"], "[FIRING:2] Down");
        assert_eq!(p["channel"], "#ops");
        assert!(p.get("username").is_none());
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[1]["text"]["text"],
            ":red_circle: *Down* firing\nhost 1 down\n`instance=h1&lt;x&gt;`\n<http://t/graph?g0.expr=up|rule>"
        );
        assert!(blocks[2]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("resolved"));
        assert_eq!(
            blocks[3]["elements"][0]["text"],
            "1 more alert(s) not shown · <http://t|telltale>"
        );
    }

    #[test]
    fn long_texts_are_clipped() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
