//! Blackbox-style probes: an HTTP(S) request or a TCP connect per probe, exported under
//! blackbox_exporter's names with a `probe` label. A probe never fails its poll: a failure is
//! `probe_success 0`, with the reason in `health()` for `/api/v1/targets`.

mod config;
#[cfg(test)]
mod tests;
pub mod x509;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::{decode, HttpProbe, Pattern, ProbeConfig, ProbeKind};

use super::{BoxFuture, Health, HealthCell, Source, Target};
use crate::config::redact;
use crate::http_client;
use crate::model::Family;

pub struct Probe {
    target: Target,
    cfg: ProbeConfig,
    /// Built once per probe; `None` for TCP probes.
    client: Option<reqwest::Client>,
    health: HealthCell,
}

/// What one probe found: the failure reason, if any, and for HTTP probes what the response said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub error: Option<String>,
    pub http: Option<HttpResult>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpResult {
    /// 0 when no response arrived.
    pub status: u16,
    pub content_length: usize,
    pub failed_due_to_regex: bool,
    pub ssl: bool,
    /// The leaf certificate's notAfter, unix seconds.
    pub cert_expiry: Option<i64>,
}

/// Makes one source per configured probe.
/// `probes:` in the config.
pub const KIND: super::Kind = super::Kind {
    key: "probes",
    decode: |d, n, path, global| Arc::new(decode(d, n, path, global)),
};

impl super::Entry for ProbeConfig {
    fn build(entries: &[Self]) -> Result<Vec<Arc<dyn Source>>, String> {
        sources(entries)
    }
}

pub fn sources(cfgs: &[ProbeConfig]) -> Result<Vec<Arc<dyn Source>>, String> {
    cfgs.iter()
        .map(|c| Probe::new(c.clone()).map(|p| Arc::new(p) as Arc<dyn Source>))
        .collect()
}

impl Probe {
    pub fn new(cfg: ProbeConfig) -> Result<Probe, String> {
        let (client, url) = match &cfg.kind {
            ProbeKind::Http(h) => {
                let policy = if h.follow_redirects {
                    reqwest::redirect::Policy::limited(10)
                } else {
                    reqwest::redirect::Policy::none()
                };
                // No idle connections: every probe measures a fresh connect (and TLS handshake).
                let client = http_client::builder(&h.http)?
                    .redirect(policy)
                    .pool_max_idle_per_host(0)
                    .build()
                    .map_err(|e| format!("probe {}: cannot build HTTP client: {e}", cfg.name))?;
                (Some(client), redact::url(&h.url))
            }
            ProbeKind::Tcp(addr) => (None, format!("tcp://{addr}")),
        };
        Ok(Probe {
            target: Target {
                kind: "probe",
                name: cfg.name.clone(),
                url,
                interval: cfg.interval,
                timeout: cfg.timeout,
                key: format!("probe {cfg:?}"),
            },
            cfg,
            client,
            health: HealthCell::default(),
        })
    }

    async fn run(&self) -> Outcome {
        match (&self.cfg.kind, &self.client) {
            (ProbeKind::Http(h), Some(client)) => probe_http(h, client).await,
            (ProbeKind::Tcp(addr), _) => probe_tcp(addr, self.cfg.timeout).await,
            (ProbeKind::Http(_), None) => Outcome {
                error: Some("no HTTP client".into()),
                http: Some(HttpResult::default()),
            },
        }
    }
}

impl Source for Probe {
    fn target(&self) -> &Target {
        &self.target
    }
    fn poll(&self, now_ms: i64) -> BoxFuture<'_, Vec<Family>> {
        Box::pin(async move {
            let start = Instant::now();
            // The fetch and connect are bounded by the timeout already; this is the backstop.
            let limit = self.cfg.timeout + Duration::from_millis(500);
            let outcome = match tokio::time::timeout(limit, self.run()).await {
                Ok(o) => o,
                Err(_) => Outcome {
                    error: Some("timed out".into()),
                    http: matches!(self.cfg.kind, ProbeKind::Http(_)).then(HttpResult::default),
                },
            };
            let took = start.elapsed();
            if let Some(e) = &outcome.error {
                tracing::debug!(probe = %self.cfg.name, error = %e, "probe failed");
            }
            self.health.set(
                outcome.error.is_none(),
                outcome.error.clone().unwrap_or_default(),
                now_ms,
                took,
            );
            families(&self.cfg.name, &outcome, took)
        })
    }
    fn health(&self) -> Health {
        self.health.get()
    }
}

async fn probe_http(h: &HttpProbe, client: &reqwest::Client) -> Outcome {
    let method = reqwest::Method::from_bytes(h.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    match http_client::fetch(&h.http, client.request(method, &h.url)).await {
        Err(e) => Outcome {
            error: Some(e.to_string()),
            http: Some(HttpResult::default()),
        },
        Ok(f) => {
            let cert_expiry = f
                .peer_cert_der
                .as_deref()
                .and_then(|der| match x509::validity(der) {
                    Ok(v) => Some(v.not_after),
                    Err(e) => {
                        tracing::warn!(url = %redact::url(&h.url), error = %e, "cannot read the peer certificate's validity");
                        None
                    }
                });
            let (error, failed_due_to_regex) = match check(h, f.status, &f.body) {
                Ok(()) => (None, false),
                Err(Failure { reason, regex }) => (Some(reason), regex),
            };
            Outcome {
                error,
                http: Some(HttpResult {
                    status: f.status,
                    content_length: f.body.len(),
                    failed_due_to_regex,
                    ssl: f.peer_cert_der.is_some(),
                    cert_expiry,
                }),
            }
        }
    }
}

async fn probe_tcp(addr: &str, timeout: Duration) -> Outcome {
    let error = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => None,
        Ok(Err(e)) => Some(format!("connection failed: {e}")),
        Err(_) => Some("timed out".to_string()),
    };
    Outcome { error, http: None }
}

/// Why a response does not pass, and whether a body regex was the reason.
#[derive(Debug, PartialEq)]
pub struct Failure {
    pub reason: String,
    pub regex: bool,
}

/// Checks a response against the probe's expectations: the status first, then the body regexes.
pub fn check(h: &HttpProbe, status: u16, body: &[u8]) -> Result<(), Failure> {
    let status_ok = if h.expect_status.is_empty() {
        (200..300).contains(&status)
    } else {
        h.expect_status.contains(&status)
    };
    if !status_ok {
        let reason = if h.expect_status.is_empty() {
            format!("status {status} is not 2xx")
        } else {
            format!(
                "status {status} is not in expect_status {:?}",
                h.expect_status
            )
        };
        return Err(Failure {
            reason,
            regex: false,
        });
    }
    if let Some(Pattern(re)) = &h.body_regex {
        if !re.is_match(body) {
            return Err(Failure {
                reason: format!("body does not match body_regex {:?}", re.as_str()),
                regex: true,
            });
        }
    }
    if let Some(Pattern(re)) = &h.body_not_regex {
        if re.is_match(body) {
            return Err(Failure {
                reason: format!("body matches body_not_regex {:?}", re.as_str()),
                regex: true,
            });
        }
    }
    Ok(())
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The families of one probe, under blackbox_exporter's names and help texts.
pub fn families(name: &str, o: &Outcome, took: Duration) -> Vec<Family> {
    let l = [("probe", name)];
    let mut out = vec![
        Family::gauge(
            "probe_success",
            "Displays whether or not the probe was a success",
        )
        .with(&l, flag(o.error.is_none())),
        Family::gauge(
            "probe_duration_seconds",
            "Returns how long the probe took to complete in seconds",
        )
        .with(&l, took.as_secs_f64()),
    ];
    if let Some(h) = &o.http {
        out.push(
            Family::gauge("probe_http_status_code", "Response HTTP status code")
                .with(&l, f64::from(h.status)),
        );
        out.push(
            Family::gauge(
                "probe_http_content_length",
                "Length of http content response",
            )
            .with(&l, h.content_length as f64),
        );
        out.push(
            Family::gauge(
                "probe_failed_due_to_regex",
                "Indicates if probe failed due to regex",
            )
            .with(&l, flag(h.failed_due_to_regex)),
        );
        out.push(
            Family::gauge(
                "probe_http_ssl",
                "Indicates if SSL was used for the final redirect",
            )
            .with(&l, flag(h.ssl)),
        );
        if let Some(t) = h.cert_expiry {
            out.push(
                Family::gauge(
                    "probe_ssl_earliest_cert_expiry",
                    "Returns last SSL chain expiry in unixtime",
                )
                .with(&l, t as f64),
            );
        }
    }
    out
}
