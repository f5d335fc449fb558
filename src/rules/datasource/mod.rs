//! Datasource mode: a client for a Prometheus-compatible query API (`/api/v1/query`). Rules of a
//! group with `datasource:` (or of every group, with the config's `rules: {datasource: …}`) are
//! evaluated there with the full PromQL language instead of by the local evaluator.
//!
//! The HTTP side (timeout, auth, headers, TLS, body cap) is the one every source uses
//! (`sources::http`), so a datasource is configured like any other HTTP target.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::config::yaml;
use crate::config::yaml::{Decoder, Node, Pos};
use crate::http_client;
use crate::http_client::HttpConfig;
use crate::promql::Sample;

/// The query timeout when `timeout:` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A decoded `datasource:` mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasourceConfig {
    /// Base URL, normalized, without a trailing slash: `http://host:port[/prefix]`.
    pub url: String,
    /// Timeout, headers, basic_auth / bearer_token, tls_config and body_size_limit.
    pub http: HttpConfig,
}

impl DatasourceConfig {
    /// The instant-query endpoint.
    pub fn endpoint(&self) -> String {
        format!("{}/api/v1/query", self.url)
    }
}

/// Decodes a `datasource:` mapping (from a rule group or the config's `rules:` section);
/// `None` when it has problems, all of which are reported on `d`.
pub fn decode(d: &mut Decoder, n: &Node, path: &str) -> Option<DatasourceConfig> {
    let before = d.diags.len();
    let mut f = d.map(n, path)?;
    let mut url = None;
    match f.get("url") {
        Some(v) => {
            if let Some(s) = d.string(v, &f.at("url")) {
                match check_url(&s) {
                    Ok(u) => url = Some(u),
                    Err(e) => d.error(v.pos, &f.at("url"), e),
                }
            }
        }
        None => d.error(first_key_pos(n), path, "datasource needs a url"),
    }
    let http = http_client::decode(d, &mut f, DEFAULT_TIMEOUT);
    if http.timeout.is_zero() {
        d.error(
            n.value_pos("timeout"),
            &f.at("timeout"),
            "must be greater than 0",
        );
    }
    // A bad CA file is a load error, not a failure of every evaluation.
    if http.ca_file.is_some() && d.diags.len() == before {
        if let Err(e) = http_client::client(&http) {
            d.error(n.value_pos("tls_config"), &f.at("tls_config"), e);
        }
    }
    f.finish(d, "datasource");
    if d.diags.len() > before {
        return None;
    }
    Some(DatasourceConfig { url: url?, http })
}

/// Where a mapping starts: its first key (a block mapping's own position is its first value).
fn first_key_pos(n: &Node) -> Pos {
    match &n.value {
        yaml::Value::Map(entries) if !entries.is_empty() => entries[0].0.pos,
        _ => n.pos,
    }
}

/// Validates a base URL (http or https, a host, no query or fragment) and normalizes it.
pub fn check_url(s: &str) -> Result<String, String> {
    const WANT: &str = "want http://host:port[/prefix] or https://…";
    let shown = crate::config::redact::url(s);
    let u = reqwest::Url::parse(s).map_err(|e| format!("invalid URL {shown:?}: {e} ({WANT})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "URL scheme must be http or https, not {:?} ({WANT})",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL {shown:?} has no host ({WANT})"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!(
            "URL {shown:?} must not have a query or fragment ({WANT})"
        ));
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// One remote query API with its HTTP client (connections are reused between queries).
pub struct Datasource {
    cfg: DatasourceConfig,
    endpoint: String,
    client: reqwest::Client,
}

impl Datasource {
    pub fn new(cfg: &DatasourceConfig) -> Result<Self, String> {
        Ok(Datasource {
            cfg: cfg.clone(),
            endpoint: cfg.endpoint(),
            client: http_client::client(&cfg.http)?,
        })
    }

    /// Evaluates `expr` at `t_ms` (unix ms) as an instant query. A scalar result is one sample
    /// without labels; anything else but a vector is an error, as for a local rule.
    ///
    /// POST with a form body (not GET) so long expressions never hit URL length limits; the
    /// server-side `timeout` is ours, so the server stops working when we stop waiting.
    pub async fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<Sample>, String> {
        let timeout_ms = self.cfg.http.timeout.as_millis() as i64;
        let form = [
            ("query", expr.to_string()),
            ("time", seconds(t_ms)),
            ("timeout", seconds(timeout_ms)),
        ];
        let req = self
            .client
            .post(&self.endpoint)
            .header("Accept", "application/json")
            .form(&form);
        let shown = crate::config::redact::url(&self.endpoint);
        let got = http_client::fetch(&self.cfg.http, req)
            .await
            .map_err(|e| format!("POST {shown}: {e}"))?;
        let body = String::from_utf8_lossy(&got.body);
        let result = if (200..300).contains(&got.status) {
            parse_response(&body)
        } else {
            Err(http_error(got.status, &body))
        };
        // An error quotes the server: without the request's own credentials.
        result.map_err(|e| format!("POST {shown}: {}", got.scrub.text(&e)))
    }
}

/// Unix milliseconds as the API's seconds with millisecond precision (`1700000000.123`).
pub fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
    #[serde(default)]
    histogram: Option<serde_json::Value>,
}

/// The server's own message of an error body: `errorType: error`.
fn api_error(r: &Response) -> String {
    let msg = r.error.as_deref().unwrap_or("no error message");
    match r.error_type.as_deref() {
        Some(t) if !t.is_empty() => format!("{t}: {msg}"),
        _ => msg.to_string(),
    }
}

/// Decodes a query answer into samples (`warnings` are ignored). The labels of each sample
/// come back sorted by name, as `Labels` requires.
pub fn parse_response(body: &str) -> Result<Vec<Sample>, String> {
    let r: Response = serde_json::from_str(body)
        .map_err(|e| format!("cannot decode response: {e}: {}", snippet(body)))?;
    match r.status.as_str() {
        "success" => {}
        "error" => return Err(api_error(&r)),
        s => return Err(format!("unexpected response status {s:?}")),
    }
    let data = r.data.ok_or("response has no data")?;
    match data.result_type.as_str() {
        "vector" => {
            let items: Vec<VectorSample> = serde_json::from_value(data.result)
                .map_err(|e| format!("cannot decode vector result: {e}"))?;
            items
                .into_iter()
                .map(|s| {
                    if s.histogram.is_some() {
                        return Err("native histogram samples are not supported".to_string());
                    }
                    let (_, v) = s.value.ok_or("vector sample without a value")?;
                    Ok(Sample {
                        labels: s.metric.into_iter().collect(),
                        value: float(&v)?,
                    })
                })
                .collect()
        }
        "scalar" => {
            let (_, v): (f64, String) = serde_json::from_value(data.result)
                .map_err(|e| format!("cannot decode scalar result: {e}"))?;
            Ok(vec![Sample {
                labels: Vec::new(),
                value: float(&v)?,
            }])
        }
        "matrix" | "string" => Err(format!(
            "query returned a {}; a rule needs a vector or a scalar",
            data.result_type
        )),
        t => Err(format!("unknown result type {t:?}")),
    }
}

/// A sample value as the API writes it: a decimal, `NaN`, `+Inf` or `-Inf`.
fn float(s: &str) -> Result<f64, String> {
    yaml::parse_float(s).ok_or_else(|| format!("bad sample value {s:?}"))
}

/// A non-2xx answer: the server's message when the body is the API's error JSON (bad_data 400,
/// execution 422, timeout 503, …), else the start of the body.
pub fn http_error(status: u16, body: &str) -> String {
    match serde_json::from_str::<Response>(body) {
        Ok(r) if r.status == "error" => format!("HTTP {status}: {}", api_error(&r)),
        _ => format!("HTTP {status}: {}", snippet(body)),
    }
}

/// The first 200 characters of a body, on one line.
fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None if one_line.is_empty() => "(empty body)".to_string(),
        None => one_line,
    }
}
