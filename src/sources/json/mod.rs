//! JSON targets ("hyphenmon-style apps"): fetch a JSON document per interval, map it to metric
//! families by JSONPath mappings, and report per-target health with a bounded set of error
//! reasons. A failed poll exports only the health series, so stale data never looks current.

pub mod config;
pub mod jsonpath;
pub mod map;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use self::jsonpath::JsonPath;
use self::map::{MapError, Mapping};
use super::sink::Ingested;
use super::{BoxFuture, Health, HealthCell, Source, Target};
use crate::http_client;
use crate::http_client::HttpConfig;
use crate::model::Family;

pub use self::config::decode;

/// Every reason a poll can fail for; all are exported (at 0 too) so `rate()` works from the start.
/// `timestamp`: a `timestamp_path` value outside the accepted range (`model::time`);
/// `samples_rejected` and `series_limit`: the store refused samples of the poll (reported after
/// the poll is written, in `lastError` and counted here).
pub const REASONS: [&str; 10] = [
    "connect",
    "timeout",
    "http_status",
    "body_too_large",
    "decode",
    "path_missing",
    "value_type",
    "timestamp",
    "samples_rejected",
    "series_limit",
];

/// One `json_targets` entry, fully validated.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonTarget {
    pub name: String,
    pub url: String,
    pub interval: Duration,
    /// `GET` or `POST`.
    pub method: String,
    /// Request body (POST only).
    pub body: Option<String>,
    pub http: HttpConfig,
    /// The sample time of every mapping without its own (hyphenmon's `$.timestamp`).
    pub timestamp_path: Option<JsonPath>,
    pub metrics: Vec<Mapping>,
}

pub struct JsonSource {
    target: Target,
    cfg: JsonTarget,
    client: reqwest::Client,
    health: HealthCell,
    errors: [AtomicU64; REASONS.len()],
}

/// `json_targets:` in the config.
pub const KIND: super::Kind = super::Kind {
    key: "json_targets",
    decode: |d, n, path, global| std::sync::Arc::new(decode(d, n, path, global)),
};

impl super::Entry for JsonTarget {
    fn build(entries: &[Self]) -> Result<Vec<std::sync::Arc<dyn Source>>, String> {
        build(entries)
    }
}

/// Makes a source per configured target. Targets with the same HTTP settings share one client,
/// as a Prometheus scrape pool does: a client per target costs a TLS configuration and session
/// cache each (tens of KiB), which for a thousand targets was a third of the process's memory.
pub fn build(targets: &[JsonTarget]) -> Result<Vec<std::sync::Arc<dyn Source>>, String> {
    let mut users: HashMap<String, usize> = HashMap::new();
    for t in targets {
        *users.entry(format!("{:?}", t.http)).or_default() += 1;
    }
    let mut clients: HashMap<String, reqwest::Client> = HashMap::new();
    targets
        .iter()
        .map(|t| {
            let key = format!("{:?}", t.http);
            let client = match clients.get(&key) {
                Some(c) => c.clone(),
                None => {
                    let c = http_client::shared_client(&t.http, users[&key])
                        .map_err(|e| format!("json target {}: {e}", t.name))?;
                    clients.insert(key, c.clone());
                    c
                }
            };
            Ok(std::sync::Arc::new(JsonSource {
                target: Target {
                    kind: "json",
                    name: t.name.clone(),
                    url: crate::config::redact::url(&t.url),
                    interval: t.interval,
                    timeout: t.http.timeout,
                    key: format!("json/{t:?}"),
                },
                cfg: t.clone(),
                client,
                health: HealthCell::default(),
                errors: Default::default(),
            }) as std::sync::Arc<dyn Source>)
        })
        .collect()
}

impl JsonSource {
    /// Fetches and maps one document.
    async fn scrape(&self, now_ms: i64) -> Result<Vec<Family>, MapError> {
        let method = if self.cfg.method == "POST" {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let mut req = self
            .client
            .request(method, &self.cfg.url)
            .header("Accept", "application/json");
        if let Some(b) = &self.cfg.body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.clone());
        }
        let got = http_client::fetch(&self.cfg.http, req)
            .await
            .map_err(|e| MapError {
                reason: e.reason(),
                msg: e.to_string(),
            })?;
        if !(200..300).contains(&got.status) {
            let reason = reqwest::StatusCode::from_u16(got.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            return Err(MapError {
                reason: "http_status",
                msg: format!("HTTP status {} {reason}", got.status)
                    .trim_end()
                    .to_string(),
            });
        }
        let doc: serde_json::Value = serde_json::from_slice(&got.body).map_err(|e| MapError {
            reason: "decode",
            msg: format!("invalid JSON: {e}"),
        })?;
        map::map_all(
            &self.cfg.metrics,
            &self.cfg.name,
            self.cfg.timestamp_path.as_ref(),
            &doc,
            now_ms,
        )
    }

    fn health_families(&self, up: bool, took: Duration) -> Vec<Family> {
        let t = [("target", self.cfg.name.as_str())];
        let mut errors = Family::counter(
            "telltale_target_scrape_errors_total",
            "Failed polls of a JSON target, by reason.",
        );
        for (reason, n) in REASONS.iter().zip(&self.errors) {
            errors.add(
                &[("target", &self.cfg.name), ("reason", reason)],
                n.load(Ordering::Relaxed) as f64,
            );
        }
        vec![
            Family::gauge(
                "telltale_target_up",
                "Whether the last poll of a JSON target succeeded (1) or not (0).",
            )
            .with(&t, if up { 1.0 } else { 0.0 }),
            Family::gauge(
                "telltale_target_scrape_duration_seconds",
                "How long the last poll of a JSON target took.",
            )
            .with(&t, took.as_secs_f64()),
            errors,
        ]
    }
}

impl Source for JsonSource {
    fn target(&self) -> &Target {
        &self.target
    }
    fn poll(&self, now_ms: i64) -> BoxFuture<'_, Vec<Family>> {
        Box::pin(async move {
            let start = Instant::now();
            let result = self.scrape(now_ms).await;
            let took = start.elapsed();
            let (mut out, up) = match result {
                Ok(families) => {
                    self.health.set(true, String::new(), now_ms, took);
                    (families, true)
                }
                Err(e) => {
                    if let Some(i) = REASONS.iter().position(|r| *r == e.reason) {
                        self.errors[i].fetch_add(1, Ordering::Relaxed);
                    }
                    let msg = format!("{}: {}", e.reason, e.msg);
                    tracing::debug!(target_name = %self.cfg.name, err = %msg, "json target poll failed");
                    self.health.set(false, msg, now_ms, took);
                    (Vec::new(), false)
                }
            };
            out.extend(self.health_families(up, took));
            out
        })
    }
    fn health(&self) -> Health {
        self.health.get()
    }
    /// Refused samples and series become the target's `lastError` and are counted; the poll
    /// itself worked, so `up` stays.
    fn ingested(&self, report: &Ingested) {
        let Some(msg) = report.last_error() else {
            return;
        };
        for (reason, _) in report.errors() {
            if let Some(i) = REASONS.iter().position(|r| *r == reason) {
                self.errors[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.health.set_error(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> JsonTarget {
        JsonTarget {
            name: "app".into(),
            url: url.into(),
            interval: Duration::from_secs(1),
            method: "GET".into(),
            body: None,
            http: HttpConfig {
                timeout: Duration::from_millis(500),
                ..HttpConfig::default()
            },
            timestamp_path: None,
            metrics: vec![],
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_down_with_only_health_series() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let src = &build(&[target(&format!("http://127.0.0.1:{port}/"))]).unwrap()[0];
        let fams = src.poll(1000).await;
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "telltale_target_up",
                "telltale_target_scrape_duration_seconds",
                "telltale_target_scrape_errors_total"
            ]
        );
        assert_eq!(fams[0].samples[0].value, 0.0);
        let errs: Vec<(String, f64)> = fams[2]
            .samples
            .iter()
            .map(|s| (s.labels[1].1.clone(), s.value))
            .collect();
        assert_eq!(errs.len(), REASONS.len());
        assert!(errs.contains(&("connect".into(), 1.0)), "{errs:?}");
        assert_eq!(errs.iter().map(|e| e.1).sum::<f64>(), 1.0);
        let h = src.health();
        assert_eq!(h.up, Some(false));
        assert!(h.last_error.starts_with("connect: "), "{}", h.last_error);
    }
}
