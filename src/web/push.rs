//! The push endpoints. Pushgateway's: `PUT`/`POST`/`DELETE /metrics/job/<job>{/<l>/<v>}`
//! answer 200 (push), 202 (delete) or an error status with a plain-text message; the seed
//! platform's `POST /api/v1/metrics` answers in the JSON envelope of telltale's API.
//! Statuses: 400 malformed or inconsistent, 404 push not enabled, 413 body or sample count
//! over its limit, 415 not the text format, 422 a series limit.

use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::Router;
use hyper::body::Body as _;

use crate::app::App;
use crate::sources::push::text::SampleLines;
use crate::sources::push::{grouping, json, text};
use crate::sources::push::{Mode, Refusal, Registry};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/metrics/{*group}", put(group).post(group).delete(group))
        .route("/api/v1/metrics", post(api))
}

fn plain(r: Refusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut msg = r.message;
    if !msg.ends_with('\n') {
        msg.push('\n');
    }
    (status, msg).into_response()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The body within `limit` bytes (gzip-encoded bodies are decoded within it too), read as it
/// arrives. With `max_lines` (text format), refused as soon as it has more sample lines than
/// that, unread past that point: a body is never read whole, or parsed, just to be refused.
async fn read_body(
    reg: &Registry,
    h: &HeaderMap,
    mut body: Body,
    limit: usize,
    max_lines: Option<usize>,
) -> Result<Vec<u8>, Refusal> {
    let too_large = || {
        reg.refuse(Refusal::new(
            413,
            "body_too_large",
            format!("push refused: the body is larger than push.max_body_size ({limit} bytes)"),
        ))
    };
    let malformed = |what: &str, e: &dyn std::fmt::Display| {
        reg.refuse(Refusal::new(400, "malformed", format!("{what}: {e}")))
    };
    let declared: Option<usize> = header_str(h, header::CONTENT_LENGTH).parse().ok();
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let gzip = match header_str(h, header::CONTENT_ENCODING) {
        "" | "identity" => false,
        "gzip" => true,
        other => {
            return Err(reg.refuse(Refusal::new(
                415,
                "unsupported_media_type",
                format!("Content-Encoding {other:?} is not supported (gzip or none)"),
            )))
        }
    };
    let mut lines = SampleLines::default();
    // Takes one decoded piece into `out`, within the byte and sample-line limits.
    let mut take = |out: &mut Vec<u8>, piece: &[u8]| -> Result<(), Refusal> {
        if out.len() + piece.len() > limit {
            return Err(too_large());
        }
        if let Some(max) = max_lines {
            lines.feed(piece);
            if lines.lines > max {
                return Err(reg.refuse(Refusal::new(
                    413,
                    "too_many_samples",
                    format!(
                        "push refused: at least {} samples in one request exceed push.max_samples_per_request ({max})",
                        lines.lines
                    ),
                )));
            }
        }
        out.extend_from_slice(piece);
        Ok(())
    };
    let mut raw = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| malformed("cannot read the body", &e))?;
        if let Ok(data) = frame.into_data() {
            if gzip {
                // Compressed, it is only held within the limit; lines are counted decoded.
                if raw.len() + data.len() > limit {
                    return Err(too_large());
                }
                raw.extend_from_slice(&data);
            } else {
                take(&mut raw, &data)?;
            }
        }
    }
    if !gzip {
        return Ok(raw);
    }
    let mut dec = flate2::read::GzDecoder::new(&raw[..]);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match dec.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => take(&mut out, &buf[..n])?,
            Err(e) => return Err(malformed("bad gzip body", &e)),
        }
    }
}

/// Hands freed heap back to the system after a refused request (at most once a second): glibc
/// keeps the small allocations of a large parsed request otherwise, and RSS stays at its peak.
fn release_memory() {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::model::time::now_ms();
    if now - LAST.swap(now, Ordering::Relaxed) < 1000 {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn group(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(_turn) = app.push.ingest_permit().await else {
        return plain(Refusal::new(503, "disabled", "push is shutting down"));
    };
    match push_group(&app.push, &method, &uri, &headers, body).await {
        Ok(status) => status.into_response(),
        Err(r) => {
            release_memory();
            plain(r)
        }
    }
}

async fn push_group(
    reg: &Registry,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<StatusCode, Refusal> {
    let Some(cfg) = reg.config() else {
        return Err(Refusal::new(
            404,
            "disabled",
            "push is not enabled: add a push: section to the config",
        ));
    };
    let Some(rest) = uri.path().strip_prefix("/metrics/") else {
        return Err(Refusal::new(404, "disabled", "not found"));
    };
    if !rest.starts_with("job/") && !rest.starts_with("job@base64/") {
        return Err(Refusal::new(
            404,
            "disabled",
            "push URLs are /metrics/job/<job>{/<label>/<value>}",
        ));
    }
    let key = grouping::parse(rest).map_err(|e| reg.refuse(Refusal::new(400, "invalid", e)))?;
    let now = crate::model::time::now_ms();
    if method == Method::DELETE {
        reg.delete(&key, now)?;
        return Ok(StatusCode::ACCEPTED);
    }
    // Client libraries that speak protobuf say so; the text format is what telltale reads.
    let ctype = header_str(headers, header::CONTENT_TYPE);
    if ctype.starts_with("application/vnd.google.protobuf") {
        return Err(reg.refuse(Refusal::new(
            415,
            "unsupported_media_type",
            "the protobuf push format is not supported: push the text format (text/plain; version=0.0.4)",
        )));
    }
    let max_lines = Some(cfg.max_samples_per_request);
    let bytes = read_body(reg, headers, body, cfg.max_body_size, max_lines).await?;
    let body = String::from_utf8(bytes).map_err(|e| {
        reg.refuse(Refusal::new(
            400,
            "malformed",
            format!("the body is not UTF-8: {e}"),
        ))
    })?;
    let fams = text::parse(&body, &key).map_err(|e| {
        let reason = if e.starts_with("text format") {
            "malformed"
        } else {
            "invalid"
        };
        reg.refuse(Refusal::new(400, reason, e))
    })?;
    // The text is not needed past the parse: freed before the checks and the write.
    drop(body);
    let mode = if method == Method::PUT {
        Mode::Replace
    } else {
        Mode::Merge
    };
    reg.push(&key, fams, mode, now)?;
    Ok(StatusCode::OK)
}

fn api_error(r: Refusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    let kind = if r.status == 422 || r.status == 413 {
        "limit"
    } else {
        "bad_data"
    };
    let body = serde_json::json!({"status": "error", "errorType": kind, "reason": r.reason, "error": r.message});
    (status, axum::Json(body)).into_response()
}

async fn api(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let reg = &app.push;
    let Some(cfg) = reg.config() else {
        return api_error(Refusal::new(
            404,
            "disabled",
            "push is not enabled: add a push: section to the config",
        ));
    };
    let Some(_turn) = reg.ingest_permit().await else {
        return api_error(Refusal::new(503, "disabled", "push is shutting down"));
    };
    let bytes = match read_body(reg, &headers, body, cfg.max_body_size, None).await {
        Ok(b) => b,
        Err(r) => {
            release_memory();
            return api_error(r);
        }
    };
    let fams = json::parse(
        &bytes,
        crate::model::time::now_ms(),
        cfg.max_samples_per_request,
    )
    .map_err(|e| {
        let (status, reason) = json::reason_of(&e);
        Refusal::new(status, reason, e)
    })
    .and_then(|p| json::families(p).map_err(|e| Refusal::new(400, "invalid", e)))
    .map_err(|r| reg.refuse(r));
    drop(bytes);
    match fams.and_then(|f| reg.push_api(f, crate::model::time::now_ms())) {
        Ok(n) => axum::Json(serde_json::json!({"status": "success", "data": {"accepted": n}}))
            .into_response(),
        Err(r) => {
            release_memory();
            api_error(r)
        }
    }
}
