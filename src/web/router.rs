//! The HTTP server: `/metrics` (text 0.0.4 or OpenMetrics by `Accept`, gzip by `Accept-Encoding`),
//! `/`, `/-/healthy`, `/-/ready`, `/-/reload`; SIGHUP reloads, SIGTERM/SIGINT shut down gracefully.

use std::io::Write;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::app::App;
use crate::collector;
use crate::model::Format;
use crate::web::WebState;

/// Read routes and write routes are authenticated separately (see `web::routes`): a new
/// endpoint that changes state belongs in `writes`.
pub fn router(app: Arc<App>, web: &Arc<WebState>) -> Router {
    let telemetry = app.args.telemetry_path.clone();
    let mut reads = Router::new()
        .route(
            "/-/healthy",
            get(|| async { "Healthy\n" }).head(|| async { "" }),
        )
        .route(
            "/-/ready",
            get(|| async { "Ready\n" }).head(|| async { "" }),
        )
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/rules", get(rules_api))
        .route("/api/v1/alerts", get(alerts_api))
        .route("/api/v1/status/config", get(status_config));
    if telemetry != "/" {
        reads = reads.route("/", get(landing));
    }
    reads = reads.route(&telemetry, get(metrics));
    // Pushes are writes: with a web config they take the write users' credentials.
    let writes = Router::new()
        .route("/-/reload", post(reload).put(reload))
        .merge(super::push::routes());
    crate::web::routes(reads, writes, web).with_state(app)
}

/// Splits a query string into decoded pairs (`collect%5B%5D=cpu` → `("collect[]", "cpu")`).
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// node_exporter's `collect[]` / `exclude[]` filters, checked against the enabled collectors.
fn filter(query: &str, enabled: &[&str]) -> Result<(Vec<String>, bool), String> {
    let pairs = query_pairs(query);
    let collect: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "collect[]")
        .map(|(_, v)| v.clone())
        .collect();
    let exclude: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "exclude[]")
        .map(|(_, v)| v.clone())
        .collect();
    if !collect.is_empty() && !exclude.is_empty() {
        return Err("Combined collect and exclude queries are not allowed.".into());
    }
    let (names, include) = if exclude.is_empty() {
        (collect, true)
    } else {
        (exclude, false)
    };
    for n in &names {
        if !enabled.contains(&n.as_str()) {
            let why = if collector::spec(n).is_some() {
                "disabled"
            } else {
                "unknown"
            };
            return Err(format!(
                "Couldn't create filtered metrics handler: {why} collector: {n}"
            ));
        }
    }
    Ok((names, include))
}

async fn metrics(
    State(app): State<Arc<App>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let running = app.current();
    let enabled = running
        .system
        .as_ref()
        .map(|s| s.names())
        .unwrap_or_default();
    let (names, include) = match filter(q.as_deref().unwrap_or(""), &enabled) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let hv = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    let format = Format::negotiate(hv(header::ACCEPT));
    let body = app
        .scrape(
            |c| names.is_empty() || names.iter().any(|n| n == c) == include,
            format,
        )
        .await;
    let gzip = hv(header::ACCEPT_ENCODING).is_some_and(|e| {
        e.split(',')
            .any(|p| p.split(';').next().map(str::trim) == Some("gzip"))
    });
    let mut resp = if gzip {
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4),
            flate2::Compression::fast(),
        );
        let _ = enc.write_all(body.as_bytes());
        let bytes = enc.finish().unwrap_or_default();
        let mut r = bytes.into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        body.into_response()
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp
}

async fn targets(State(app): State<Arc<App>>) -> Response {
    let running = app.current();
    axum::Json(super::api::targets(&running.sources)).into_response()
}

/// Prometheus' API answers with empty lists when nothing is configured.
async fn rules_api(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    use super::api;
    let query = match api::RulesQuery::parse(&query_pairs(q.as_deref().unwrap_or(""))) {
        Ok(q) => q,
        Err(e) => {
            let body = serde_json::json!({"status": "error", "errorType": "bad_data", "error": e});
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    };
    let data = match &app.current().alerting.engine {
        Some(e) => api::rules(e, &query),
        None => serde_json::json!({"groups": []}),
    };
    axum::Json(api::success(data)).into_response()
}

async fn alerts_api(State(app): State<Arc<App>>) -> Response {
    use super::api;
    let data = match &app.current().alerting.engine {
        Some(e) => api::alerts(e),
        None => serde_json::json!({"alerts": []}),
    };
    axum::Json(api::success(data)).into_response()
}

async fn reload(State(app): State<Arc<App>>) -> Response {
    let a = Arc::clone(&app);
    match tokio::task::spawn_blocking(move || a.reload()).await {
        Ok(Ok(())) => (StatusCode::OK, "configuration reloaded\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload task failed: {e}\n"),
        )
            .into_response(),
    }
}

async fn landing(State(app): State<Arc<App>>) -> Html<String> {
    let running = app.current();
    let page = super::status_page::page(
        &running,
        &app.store,
        &app.args.telemetry_path,
        crate::model::time::now_ms(),
    );
    Html(page)
}

/// Prometheus' view of the loaded configuration, secrets shown as `<secret>`.
async fn status_config(State(app): State<Arc<App>>) -> Response {
    let yaml = app.current().config.shown.clone();
    axum::Json(serde_json::json!({"status": "success", "data": {"yaml": yaml}})).into_response()
}

/// Serves until SIGTERM or SIGINT; SIGHUP reloads the configuration and the web config.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    web: Arc<WebState>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let reloader = Arc::clone(&app);
    let web_reloader = Arc::clone(&web);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let a = Arc::clone(&reloader);
            let w = Arc::clone(&web_reloader);
            let _ = tokio::task::spawn_blocking(move || {
                let _ = w.reload();
                a.reload()
            })
            .await;
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::info!("shutting down");
    };
    let routes = router(app, &web);
    crate::web::serve::serve(listener, routes, web, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            query_pairs("collect%5B%5D=cpu&collect[]=meminfo&x"),
            vec![
                ("collect[]".to_string(), "cpu".to_string()),
                ("collect[]".to_string(), "meminfo".to_string()),
                ("x".to_string(), String::new())
            ]
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }

    #[test]
    fn collect_and_exclude_filters() {
        let on = ["cpu", "meminfo"];
        assert_eq!(
            filter("collect[]=cpu", &on).unwrap(),
            (vec!["cpu".to_string()], true)
        );
        assert_eq!(
            filter("exclude[]=cpu", &on).unwrap(),
            (vec!["cpu".to_string()], false)
        );
        assert!(filter("collect[]=cpu&exclude[]=meminfo", &on)
            .unwrap_err()
            .contains("Combined"));
        assert!(filter("collect[]=nosuch", &on)
            .unwrap_err()
            .contains("unknown collector: nosuch"));
        assert_eq!(filter("", &on).unwrap(), (vec![], true));
    }
}
