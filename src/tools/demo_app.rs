//! `telltale demo-app`: a hyphenmon-style application for demos and end-to-end tests. `/metrics`
//! answers `{"timestamp", "response_time_ms", "error_rate"}` with plausible noise, `/health`
//! answers 200, and faults switched at run time (`POST /fault?...`) make alerts fire on demand.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:5001";

/// Injected faults; `None`/`false`/0 means normal behaviour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Reported instead of the normal error rate.
    pub error_rate: Option<f64>,
    /// Reported instead of the normal response time.
    pub latency_ms: Option<f64>,
    /// `/metrics` and `/health` answer this status.
    pub status: Option<u16>,
    /// `/metrics` answers invalid JSON.
    pub garbage: bool,
    /// Every answer is held back this long (for timeout tests).
    pub delay_ms: u64,
}

impl Faults {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "garbage": self.garbage,
            "delay_ms": self.delay_ms,
        })
    }

    /// Applies `POST /fault` query pairs; nothing changes when any pair is invalid.
    pub fn apply(&mut self, pairs: &[(String, String)]) -> Result<(), String> {
        let mut next = self.clone();
        for (k, v) in pairs {
            let bad = |what: &str| format!("{k}={v:?}: expected {what}");
            match k.as_str() {
                "error_rate" => {
                    let r: f64 = v.parse().map_err(|_| bad("a number in [0, 1]"))?;
                    if !(0.0..=1.0).contains(&r) {
                        return Err(bad("a number in [0, 1]"));
                    }
                    next.error_rate = Some(r);
                }
                "latency_ms" => {
                    let l: f64 = v.parse().map_err(|_| bad("milliseconds >= 0"))?;
                    if !(l.is_finite() && l >= 0.0) {
                        return Err(bad("milliseconds >= 0"));
                    }
                    next.latency_ms = Some(l);
                }
                "status" => match v.parse::<u16>() {
                    Ok(200) => next.status = None,
                    Ok(s) if (100..=599).contains(&s) => next.status = Some(s),
                    _ => return Err(bad("an HTTP status (100-599)")),
                },
                "garbage" => {
                    next.garbage = match v.as_str() {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(bad("1, 0, true or false")),
                    }
                }
                "delay_ms" => {
                    next.delay_ms = v
                        .parse()
                        .ok()
                        .filter(|d| *d <= 600_000)
                        .ok_or_else(|| bad("milliseconds up to 600000"))?;
                }
                _ => {
                    return Err(format!(
                        "unknown fault {k:?} (known: error_rate, latency_ms, status, garbage, delay_ms)"
                    ))
                }
            }
        }
        *self = next;
        Ok(())
    }
}

/// xorshift64*: noise for the demo values without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly bell-shaped in [-1, 1] (mean of three uniforms).
    fn bell(&mut self) -> f64 {
        (self.next_f64() + self.next_f64() + self.next_f64()) / 1.5 - 1.0
    }
}

/// One `/metrics` document: ~120 ms ± 30 and ~1% ± 0.5% unless a fault overrides them.
pub fn sample(f: &Faults, rng: &mut Rng, now_secs: u64) -> serde_json::Value {
    let rt = f
        .latency_ms
        .unwrap_or_else(|| ((120.0 + 30.0 * rng.bell()) * 10.0).round() / 10.0);
    let er = f
        .error_rate
        .unwrap_or_else(|| ((0.01 + 0.005 * rng.bell()).max(0.0) * 10_000.0).round() / 10_000.0);
    json!({"timestamp": now_secs, "response_time_ms": rt, "error_rate": er})
}

struct Demo {
    faults: Mutex<Faults>,
    rng: Mutex<Rng>,
}

impl Demo {
    fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn delayed(d: &Demo) -> Faults {
    let f = d.faults();
    if f.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
    }
    f
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn metrics(State(d): State<Arc<Demo>>) -> Response {
    let f = delayed(&d).await;
    let json_type = [(header::CONTENT_TYPE, "application/json")];
    if let Some(s) = f.status {
        return (status_of(s), "injected fault\n").into_response();
    }
    if f.garbage {
        return (
            json_type,
            "{\"timestamp\": 17180, \"response_time_ms\": <garbage>",
        )
            .into_response();
    }
    let now = crate::model::time::now_ms() / 1000;
    let doc = sample(
        &f,
        &mut d.rng.lock().unwrap_or_else(|e| e.into_inner()),
        now as u64,
    );
    (json_type, doc.to_string()).into_response()
}

async fn health(State(d): State<Arc<Demo>>) -> Response {
    match delayed(&d).await.status {
        Some(s) => (status_of(s), "injected fault\n").into_response(),
        None => "ok\n".into_response(),
    }
}

async fn show_fault(State(d): State<Arc<Demo>>) -> Response {
    axum::Json(d.faults().to_json()).into_response()
}

async fn set_fault(State(d): State<Arc<Demo>>, RawQuery(q): RawQuery) -> Response {
    let pairs = crate::web::router::query_pairs(q.as_deref().unwrap_or(""));
    let mut f = d.faults.lock().unwrap_or_else(|e| e.into_inner());
    match f.apply(&pairs) {
        Ok(()) => {
            tracing::info!(faults = %f.to_json(), "faults changed");
            axum::Json(f.to_json()).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

async fn clear_fault(State(d): State<Arc<Demo>>) -> Response {
    let mut f = d.faults.lock().unwrap_or_else(|e| e.into_inner());
    *f = Faults::default();
    tracing::info!("faults cleared");
    axum::Json(f.to_json()).into_response()
}

pub fn router() -> Router {
    let seed = crate::model::time::now_ms() as u64 ^ u64::from(std::process::id()) << 32;
    let demo = Arc::new(Demo {
        faults: Mutex::new(Faults::default()),
        rng: Mutex::new(Rng::new(seed)),
    });
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/fault", get(show_fault).post(set_fault))
        .route("/fault/clear", post(clear_fault))
        .with_state(demo)
}

/// Serves the demo app until SIGINT/SIGTERM.
pub fn run(listen: &str) -> ExitCode {
    crate::logging::init("info", "logfmt");
    let addr = match crate::web::serve::socket_addr(listen) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(err = %e, "cannot start the runtime");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(address = %addr, err = %e, "cannot listen");
                return ExitCode::from(1);
            }
        };
        tracing::info!(address = %addr, "demo app listening");
        let stop = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        match axum::serve(listener, router()).with_graceful_shutdown(stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(err = %e, "demo app failed");
                ExitCode::from(1)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        crate::web::router::query_pairs(q)
    }

    #[test]
    fn faults_apply_all_or_nothing() {
        let mut f = Faults::default();
        f.apply(&pairs(
            "error_rate=0.8&latency_ms=2500&status=500&garbage=1&delay_ms=100",
        ))
        .unwrap();
        assert_eq!(
            f,
            Faults {
                error_rate: Some(0.8),
                latency_ms: Some(2500.0),
                status: Some(500),
                garbage: true,
                delay_ms: 100
            }
        );
        let before = f.clone();
        for bad in [
            "error_rate=2",
            "status=99",
            "garbage=yes",
            "delay_ms=-1",
            "bogus=1",
            "latency_ms=x",
        ] {
            assert!(
                f.apply(&pairs(&format!("error_rate=0.1&{bad}"))).is_err(),
                "{bad}"
            );
            assert_eq!(f, before, "{bad} changed the faults");
        }
        f.apply(&pairs("status=200&garbage=0")).unwrap();
        assert_eq!((f.status, f.garbage), (None, false));
    }

    #[test]
    fn samples_are_plausible_and_faults_override_them() {
        let mut rng = Rng::new(42);
        for _ in 0..1000 {
            let s = sample(&Faults::default(), &mut rng, 1_718_000_000);
            let rt = s["response_time_ms"].as_f64().unwrap();
            let er = s["error_rate"].as_f64().unwrap();
            assert!((90.0..=150.0).contains(&rt), "{rt}");
            assert!((0.005..=0.015).contains(&er), "{er}");
            assert_eq!(s["timestamp"], 1_718_000_000);
        }
        let f = Faults {
            error_rate: Some(0.8),
            latency_ms: Some(2500.0),
            ..Faults::default()
        };
        let s = sample(&f, &mut rng, 1);
        assert_eq!(
            (s["error_rate"].as_f64(), s["response_time_ms"].as_f64()),
            (Some(0.8), Some(2500.0))
        );
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(7);
        let v: Vec<f64> = (0..10_000).map(|_| r.next_f64()).collect();
        assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
