//! Webhook receivers: Alertmanager's webhook payload, version "4", so a receiver built for
//! Alertmanager takes telltale's notifications unchanged; or a custom templated body.
//!
//! The fields are those Alertmanager 0.25 sends (`receiver`, `status`, `alerts[]` with
//! `status`, `labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`, `fingerprint`;
//! `groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`, `version`, `groupKey`,
//! `truncatedAlerts`), in its order and with its time format (Go's RFC3339Nano; a firing
//! alert's `endsAt` is Go's zero time). The fingerprint is `notify::fingerprint`.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;

use super::config::{template, ReceiverCommon};
use super::payload::{AlertJson, LabelObj};
use super::render::{self, alert_status, common, rfc3339_nano, ZERO_TIME};
use super::{Message, Mode, Notifier, SendFuture};
use crate::config::common::required_url;
use crate::config::yaml::{Decoder, Fields};
use crate::http_client;
use crate::http_client::decode_http;
use crate::http_client::retry::{classify_fetch, classify_response, SendError};
use crate::http_client::HttpConfig;
use crate::http_client::USER_AGENT;
use crate::model::Labels;
use crate::template::Template;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookConfig {
    pub common: ReceiverCommon,
    pub url: String,
    pub http: HttpConfig,
    /// A custom body (see `render::template_data` for what it sees) instead of the v4 payload.
    pub body_template: Option<String>,
}

/// `alerting.webhooks`: Alertmanager-style webhooks (send_resolved by default, as there).
pub const RECEIVER: super::Receiver = super::Receiver {
    key: "webhooks",
    send_resolved: true,
    one_or_many: false,
    decode: |d, f, common| decode(d, f, common).map(|c| Arc::new(c) as _),
};

impl super::BuildNotifier for WebhookConfig {
    fn build(&self, external_url: &str) -> Result<Arc<dyn Notifier>, String> {
        Ok(Arc::new(Webhook::new(self, external_url)?))
    }
}

/// One `alerting.webhooks` entry.
pub fn decode(
    d: &mut Decoder,
    f: &mut Fields,
    common: Option<ReceiverCommon>,
) -> Option<WebhookConfig> {
    let url = required_url(d, f, "a webhook");
    let body_template = template(d, f, "body_template");
    let http = decode_http(d, f);
    Some(WebhookConfig {
        common: common?,
        url: url?,
        http,
        body_template,
    })
}

#[derive(Serialize)]
pub struct PayloadAlert<'a> {
    status: &'static str,
    #[serde(flatten)]
    alert: AlertJson<'a>,
    fingerprint: String,
}

#[derive(Serialize)]
struct Payload<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: &'a [PayloadAlert<'a>],
    #[serde(rename = "groupLabels")]
    group_labels: LabelObj<'a>,
    #[serde(rename = "commonLabels")]
    common_labels: LabelObj<'a>,
    #[serde(rename = "commonAnnotations")]
    common_annotations: LabelObj<'a>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    #[serde(rename = "groupKey")]
    group_key: &'a str,
    #[serde(rename = "truncatedAlerts")]
    truncated_alerts: usize,
}

/// The first `max_alerts` alerts of a message (0 = all) and how many were left out; the
/// message itself (not a copy) when nothing is left out.
pub fn truncate(m: &Message, max_alerts: usize) -> (Cow<'_, Message>, usize) {
    if max_alerts == 0 || m.alerts.len() <= max_alerts {
        return (Cow::Borrowed(m), 0);
    }
    let out = Message {
        seq: m.seq,
        group_key: m.group_key.clone(),
        group_labels: m.group_labels.clone(),
        alerts: m.alerts[..max_alerts].to_vec(),
        at_ms: m.at_ms,
    };
    (Cow::Owned(out), m.alerts.len() - max_alerts)
}

pub fn payload_alerts(m: &Message) -> Vec<PayloadAlert<'_>> {
    m.alerts
        .iter()
        .map(|a| {
            let status = alert_status(m, a);
            PayloadAlert {
                status,
                alert: AlertJson {
                    labels: LabelObj(&a.labels),
                    annotations: LabelObj(&a.annotations),
                    starts_at: rfc3339_nano(a.starts_at_ms),
                    ends_at: if status == "firing" {
                        ZERO_TIME.to_string()
                    } else {
                        rfc3339_nano(a.ends_at_ms)
                    },
                    generator_url: &a.generator_url,
                },
                fingerprint: format!("{:016x}", a.fingerprint()),
            }
        })
        .collect()
}

/// The version-4 body and the alerts array alone (for custom templates), for an already
/// truncated message.
pub fn payload(
    m: &Message,
    receiver: &str,
    external_url: &str,
    truncated: usize,
) -> (String, String) {
    let alerts = payload_alerts(m);
    (
        body_json(m, &alerts, receiver, external_url, truncated),
        serde_json::to_string(&alerts).expect("alerts serialise"),
    )
}

/// The version-4 body from the message's payload alerts.
fn body_json(
    m: &Message,
    alerts: &[PayloadAlert<'_>],
    receiver: &str,
    external_url: &str,
    truncated: usize,
) -> String {
    let common_labels: Labels = common(m.alerts.iter().map(|a| &a.labels));
    let common_annotations: Labels = common(m.alerts.iter().map(|a| &a.annotations));
    let p = Payload {
        receiver,
        status: render::status(m),
        alerts,
        group_labels: LabelObj(&m.group_labels),
        common_labels: LabelObj(&common_labels),
        common_annotations: LabelObj(&common_annotations),
        external_url,
        version: "4",
        group_key: &m.group_key,
        truncated_alerts: truncated,
    };
    serde_json::to_string(&p).expect("payload serialises")
}

pub struct Webhook {
    cfg: WebhookConfig,
    external_url: String,
    template: Option<Template>,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(cfg: &WebhookConfig, external_url: &str) -> Result<Self, String> {
        let template = match &cfg.body_template {
            Some(t) => Some(render::parse_template("body_template", t)?),
            None => None,
        };
        Ok(Webhook {
            cfg: cfg.clone(),
            external_url: external_url.to_string(),
            template,
            client: client(&cfg.http)?,
        })
    }

    /// The body to POST for a message.
    pub fn body(&self, m: &Message) -> Result<String, SendError> {
        let (m, truncated) = truncate(m, self.cfg.common.max_alerts);
        let name = &self.cfg.common.name;
        match &self.template {
            None => Ok(body_json(
                &m,
                &payload_alerts(&m),
                name,
                &self.external_url,
                truncated,
            )),
            Some(t) => {
                let (body, alerts) = payload(&m, name, &self.external_url, truncated);
                let data =
                    render::template_data(&m, name, &self.external_url, &alerts, &body, truncated);
                t.execute(&data)
                    .map_err(|e| SendError::new(false, "template", e))
            }
        }
    }
}

pub fn client(h: &HttpConfig) -> Result<reqwest::Client, String> {
    http_client::builder(h)?
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// POSTs a JSON body and classifies the answer.
pub async fn post_json(
    client: &reqwest::Client,
    h: &HttpConfig,
    url: &str,
    body: String,
) -> Result<(), SendError> {
    let req = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body);
    let mut r = http_client::fetch(h, req).await.map_err(classify_fetch)?;
    // A webhook's path is often its credential (Slack, Teams, Discord): not quoted back either.
    if let Ok(u) = reqwest::Url::parse(url) {
        if u.path().len() > 1 {
            r.scrub.add(u.path());
        }
    }
    classify_response(&r)
}

impl Notifier for Webhook {
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
            let body = self.body(msg)?;
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

    fn alert(instance: &str, ends: i64, resolved: bool) -> OutAlert {
        OutAlert {
            labels: vec![
                ("alertname".into(), "InstanceDown".into()),
                ("instance".into(), instance.into()),
                ("job".into(), "node".into()),
            ],
            annotations: vec![("summary".into(), format!("{instance} down"))],
            starts_at_ms: 1_787_306_700_000,
            ends_at_ms: ends,
            generator_url: "http://t:8465/graph?g0.expr=up+%3D%3D+0&g0.tab=1".into(),
            resolved,
        }
    }

    fn message() -> Message {
        Message {
            seq: 7,
            group_key: "{}:{alertname=\"InstanceDown\"}".into(),
            group_labels: vec![("alertname".into(), "InstanceDown".into())],
            alerts: vec![
                alert("a:9100", 1_787_306_940_000, false),
                alert("b:9100", 1_787_306_760_500, true),
            ],
            at_ms: 1_787_306_800_000,
        }
    }

    fn hook(max_alerts: usize, body_template: Option<&str>) -> Webhook {
        let cfg = WebhookConfig {
            common: ReceiverCommon {
                name: "team-x".into(),
                group: GroupSettings::default(),
                max_alerts,
            },
            url: "http://127.0.0.1:1/hook".into(),
            http: HttpConfig::default(),
            body_template: body_template.map(String::from),
        };
        Webhook::new(&cfg, "http://telltale:8465").unwrap()
    }

    #[test]
    fn version_4_payload_golden() {
        let body = hook(0, None).body(&message()).unwrap();
        let want = concat!(
            r#"{"receiver":"team-x","status":"firing","alerts":["#,
            r#"{"status":"firing","labels":{"alertname":"InstanceDown","instance":"a:9100","job":"node"},"#,
            r#""annotations":{"summary":"a:9100 down"},"startsAt":"2026-08-21T10:05:00Z","endsAt":"0001-01-01T00:00:00Z","#,
            r#""generatorURL":"http://t:8465/graph?g0.expr=up+%3D%3D+0&g0.tab=1","fingerprint":"FP_A"},"#,
            r#"{"status":"resolved","labels":{"alertname":"InstanceDown","instance":"b:9100","job":"node"},"#,
            r#""annotations":{"summary":"b:9100 down"},"startsAt":"2026-08-21T10:05:00Z","endsAt":"2026-08-21T10:06:00.5Z","#,
            r#""generatorURL":"http://t:8465/graph?g0.expr=up+%3D%3D+0&g0.tab=1","fingerprint":"FP_B"}],"#,
            r#""groupLabels":{"alertname":"InstanceDown"},"commonLabels":{"alertname":"InstanceDown","job":"node"},"#,
            r#""commonAnnotations":{},"externalURL":"http://telltale:8465","version":"4","#,
            r#""groupKey":"{}:{alertname=\"InstanceDown\"}","truncatedAlerts":0}"#
        );
        let m = message();
        let want = want
            .replace("FP_A", &format!("{:016x}", m.alerts[0].fingerprint()))
            .replace("FP_B", &format!("{:016x}", m.alerts[1].fingerprint()));
        assert_eq!(body, want);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn max_alerts_truncates_and_counts() {
        let body = hook(1, None).body(&message()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(v["truncatedAlerts"], 1);
        // Common labels are those of the alerts sent.
        assert_eq!(v["commonLabels"]["instance"], "a:9100");
    }

    #[test]
    fn all_resolved_is_a_resolved_notification() {
        let mut m = message();
        m.alerts.remove(0);
        let v: serde_json::Value = serde_json::from_str(&hook(0, None).body(&m).unwrap()).unwrap();
        assert_eq!(v["status"], "resolved");
        assert_eq!(v["commonAnnotations"]["summary"], "b:9100 down");
    }

    #[test]
    fn a_custom_body_template_sees_the_notification() {
        let t = r#"{"text": "{{ $labels.alertname }} {{ .ExternalLabels.status }} {{ $value }} via {{ $externalLabels.receiver }}", "alerts": {{ $externalLabels.alerts }}}"#;
        let body = hook(0, Some(t)).body(&message()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).expect("the template makes JSON");
        assert_eq!(v["text"], "InstanceDown firing 2 via team-x");
        assert_eq!(v["alerts"][1]["status"], "resolved");
        let bad = hook(0, Some("{{ index .Labels 1 }}")).body(&message());
        let e = bad.unwrap_err();
        assert!(!e.retryable && e.reason == "template", "{e:?}");
    }

    /// The `body_template` of the example in docs/configuration.md, decoded as a user's config.
    fn documented_template() -> String {
        let doc = include_str!("../../docs/configuration.md");
        let start = doc.find("  ```yaml\n  webhooks:").expect("the example") + 10;
        let end = start + doc[start..].find("  ```").unwrap();
        let block: String = doc[start..end]
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
            .collect();
        let root = crate::config::yaml::parse("doc", &block).unwrap();
        let mut d = crate::config::yaml::Decoder::new("doc");
        let c = crate::notify::config::decode(&mut d, &root, "alerting");
        assert!(d.ok(), "{:?}\n{block}", d.diags);
        let w = c.receivers_of::<WebhookConfig>();
        w[0].body_template.clone().expect("a body_template")
    }

    /// Label and annotation values an attacker can push, through the documented example
    /// template: the body stays valid JSON and every value stays one string.
    #[test]
    fn hostile_labels_stay_strings_with_the_json_function() {
        let t = documented_template();
        let t = t.as_str();
        let hostile = [
            r#"a", "injected": "yes"#,
            r#"a\", "injected": "yes"#,
            "line\nbreak\u{0}\u{1f}\t",
            r#"}, "injected": {"x": 1"#,
            "\u{2028}</script>ünïcode \\",
        ];
        for h in hostile {
            let mut m = message();
            for a in &mut m.alerts {
                a.labels[0].1 = h.to_string();
                a.annotations = vec![("summary".into(), h.to_string())];
            }
            m.group_labels = vec![("alertname".into(), h.to_string())];
            let body = hook(0, Some(t)).body(&m).unwrap();
            let v: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("invalid JSON for {h:?}: {e}\n{body}"));
            let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
            let want = ["alerts", "count", "labels", "status", "summary", "text"];
            assert_eq!(keys, want, "{body}");
            assert_eq!(v["text"], h);
            assert_eq!(v["summary"], h);
            assert_eq!(v["labels"]["alertname"], h);
            assert_eq!(v["count"], 2);
            assert_eq!(v["alerts"][0]["labels"]["alertname"], h);
        }
        // Without `json` the same label adds a key: why the function exists.
        let raw = hook(0, Some(r#"{"text": "{{ $labels.alertname }}"}"#));
        let mut m = message();
        for a in &mut m.alerts {
            a.labels[0].1 = hostile[0].to_string();
        }
        let v: serde_json::Value = serde_json::from_str(&raw.body(&m).unwrap()).unwrap();
        assert_eq!(v["injected"], "yes");
    }

    #[tokio::test]
    async fn a_webhook_path_is_not_quoted_back_in_errors() {
        let port = crate::http_client::testkit::echo_server().await;
        let url = format!("http://127.0.0.1:{port}/services/T0/B0/XXXXSECRET");
        let h = HttpConfig::default();
        let e = post_json(&client(&h).unwrap(), &h, &url, "{}".into())
            .await
            .unwrap_err();
        assert!(e.message.contains("POST <secret> HTTP/1.1"), "{}", e.message);
        assert!(!e.message.contains("XXXXSECRET"), "{}", e.message);
    }

    #[test]
    fn a_template_error_is_permanent() {
        let bad = hook(0, Some("{{ index .Labels 1 }}")).body(&message());
        let e = bad.unwrap_err();
        assert!(!e.retryable && e.reason == "template", "{e:?}");
    }
}
