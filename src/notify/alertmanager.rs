//! Alertmanager's API v2, as Prometheus talks to it: `POST <url><path_prefix>/api/v2/alerts`
//! with a JSON array of `{labels, annotations, startsAt, endsAt, generatorURL}` (times RFC 3339
//! with milliseconds), one target per configured instance (HA: every instance gets every alert,
//! never a load balancer). At start, `GET /api/v2/status` checks that the instance speaks v2.

use std::time::Duration;

use super::config::AlertmanagerConfig;
use super::payload::{AlertJson, LabelObj};
use super::{Message, Mode, Notifier, OutAlert, SendFuture};
use crate::http_client;
use crate::http_client::retry::{classify_fetch, classify_response};
use crate::http_client::USER_AGENT;

/// The request body for a batch.
pub fn payload(alerts: &[OutAlert]) -> String {
    let items: Vec<AlertJson> = alerts
        .iter()
        .map(|a| AlertJson {
            labels: LabelObj(&a.labels),
            annotations: LabelObj(&a.annotations),
            starts_at: crate::model::time::format_millis(a.starts_at_ms),
            ends_at: crate::model::time::format_millis(a.ends_at_ms),
            generator_url: &a.generator_url,
        })
        .collect();
    serde_json::to_string(&items).expect("alerts serialise")
}

pub struct Alertmanager {
    name: String,
    cfg: AlertmanagerConfig,
    client: reqwest::Client,
    batch: usize,
}

impl Alertmanager {
    pub fn new(cfg: &AlertmanagerConfig, batch: usize) -> Result<Self, String> {
        let client = http_client::builder(&cfg.http)?
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Alertmanager {
            // The `notifier` label and log field: without the URL's credentials.
            name: crate::config::redact::url(&cfg.api("alerts")),
            cfg: cfg.clone(),
            client,
            batch: batch.max(1),
        })
    }
}

/// What `GET /api/v2/status` says about the instance (a log line; the queue works regardless).
pub fn describe_status(status: u16, body: &[u8]) -> Result<String, String> {
    match status {
        200 => {
            let v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| format!("answers /api/v2/status with something that is not JSON: {e}"))?;
            match v.pointer("/versionInfo/version").and_then(|x| x.as_str()) {
                Some(ver) => Ok(ver.to_string()),
                None => Err("answers /api/v2/status without versionInfo: is it an Alertmanager?".into()),
            }
        }
        404 => Err("has no /api/v2/status (404): telltale speaks only Alertmanager API v2 (Alertmanager 0.16 or later); check url and path_prefix".into()),
        s => Err(format!("answers /api/v2/status with status {s}")),
    }
}

impl Notifier for Alertmanager {
    fn name(&self) -> &str {
        &self.name
    }

    fn mode(&self) -> Mode {
        Mode::Batch(self.batch)
    }

    fn timeout(&self) -> Duration {
        self.cfg.http.timeout
    }

    fn send<'a>(&'a self, msg: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let req = self
                .client
                .post(self.cfg.api("alerts"))
                .header("Content-Type", "application/json")
                .body(payload(&msg.alerts));
            let r = http_client::fetch(&self.cfg.http, req)
                .await
                .map_err(classify_fetch)?;
            classify_response(&r)
        })
    }

    fn startup_check(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let req = self.client.get(self.cfg.api("status"));
            match http_client::fetch(&self.cfg.http, req).await {
                Ok(r) => match describe_status(r.status, &r.body) {
                    Ok(version) => {
                        tracing::info!(alertmanager = %self.name, version = %version, "Alertmanager API v2 reachable")
                    }
                    Err(e) => tracing::error!(alertmanager = %self.name, "Alertmanager {e}"),
                },
                Err(e) => tracing::warn!(
                    alertmanager = %self.name,
                    err = %e,
                    "Alertmanager not reachable yet; alerts wait in its queue"
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_matches_prometheus_shape() {
        let a = OutAlert {
            labels: vec![
                ("alertname".into(), "InstanceDown".into()),
                ("instance".into(), "localhost:9100".into()),
            ],
            annotations: vec![("summary".into(), "Instance \"x\" down".into())],
            starts_at_ms: 1_787_306_700_000,
            ends_at_ms: 1_787_306_940_123,
            generator_url: "http://t:8465/graph?g0.expr=up+%3D%3D+0&g0.tab=1".into(),
            resolved: false,
        };
        let want = r#"[{"labels":{"alertname":"InstanceDown","instance":"localhost:9100"},"annotations":{"summary":"Instance \"x\" down"},"startsAt":"2026-08-21T10:05:00.000Z","endsAt":"2026-08-21T10:09:00.123Z","generatorURL":"http://t:8465/graph?g0.expr=up+%3D%3D+0&g0.tab=1"}]"#;
        assert_eq!(payload(&[a]), want);
        assert_eq!(payload(&[]), "[]");
    }

    #[test]
    fn the_version_check_explains_what_is_wrong() {
        let ok = br#"{"versionInfo":{"version":"0.25.0"},"cluster":{}}"#;
        assert_eq!(describe_status(200, ok).unwrap(), "0.25.0");
        assert!(describe_status(404, b"")
            .unwrap_err()
            .contains("only Alertmanager API v2"));
        assert!(describe_status(200, b"<html>")
            .unwrap_err()
            .contains("not JSON"));
        assert!(describe_status(200, b"{}")
            .unwrap_err()
            .contains("versionInfo"));
        assert!(describe_status(503, b"").unwrap_err().contains("503"));
    }

    #[test]
    fn api_urls_take_the_path_prefix() {
        let c = AlertmanagerConfig {
            url: "http://am:9093".into(),
            path_prefix: "/am".into(),
            http: http_client::HttpConfig::default(),
        };
        assert_eq!(c.api("alerts"), "http://am:9093/am/api/v2/alerts");
        let n = Alertmanager::new(&c, 0).unwrap();
        assert_eq!(n.name(), "http://am:9093/am/api/v2/alerts");
        assert_eq!(n.mode(), Mode::Batch(1));
        // The name is the `notifier` label and the log field: no credentials in it.
        let c = AlertmanagerConfig {
            url: "http://user:hunter2@am:9093/?token=t0k3n".into(),
            ..c
        };
        let n = Alertmanager::new(&c, 0).unwrap();
        assert!(!n.name().contains("hunter2") && !n.name().contains("t0k3n"));
        assert!(
            n.name().starts_with("http://user:<secret>@am:9093/"),
            "{}",
            n.name()
        );
        let d = crate::notify::Dispatcher::new(vec![std::sync::Arc::new(n)], 10, Vec::new());
        let m = crate::model::encode(&d.families(), crate::model::Format::Text);
        assert!(
            !m.contains("hunter2") && m.contains("notifier=\"http://user:<secret>@am"),
            "{m}"
        );
    }
}
