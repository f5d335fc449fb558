//! Every outbound HTTP request goes through here: the client settings that sources, notifiers,
//! remote_write and the rules datasource share, their strict decoding, and a fetch that enforces
//! the timeout and a body-size cap while streaming, so a peer that stalls or sends a gigabyte
//! costs neither time nor memory. `retry` says what a failure means for the sender.

pub mod retry;

use std::time::{Duration, Instant};

use crate::config::common::secret;
use crate::config::redact;
use crate::config::redact::Scrub;
use crate::config::yaml::{Decoder, Fields};

#[derive(Clone, Debug, PartialEq)]
pub struct HttpConfig {
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub bearer_token: Option<String>,
    pub ca_file: Option<String>,
    pub insecure_skip_verify: bool,
    pub body_size_limit: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            basic_auth: None,
            bearer_token: None,
            ca_file: None,
            insecure_skip_verify: false,
            body_size_limit: 4 << 20,
        }
    }
}

/// Decodes the shared keys (`timeout`, `headers`, `basic_auth`, `bearer_token[_file]`,
/// `tls_config`, `body_size_limit`) from a target's mapping.
pub fn decode(d: &mut Decoder, f: &mut Fields, default_timeout: Duration) -> HttpConfig {
    let mut c = HttpConfig {
        timeout: default_timeout,
        ..HttpConfig::default()
    };
    if let Some(n) = f.get("timeout") {
        if let Some(t) = d.duration(n, &f.at("timeout")) {
            c.timeout = t;
        }
    }
    if let Some(n) = f.get("headers") {
        c.headers = d.string_map(n, &f.at("headers"));
    }
    if let Some(n) = f.get("basic_auth") {
        let path = f.at("basic_auth");
        if let Some(mut b) = d.map(n, &path) {
            let user = b
                .get("username")
                .and_then(|u| d.string(u, &b.at("username")));
            let pass = secret(d, &mut b, "password").unwrap_or_default();
            match user {
                Some(u) => c.basic_auth = Some((u, pass)),
                None => d.error(n.pos, &path, "basic_auth needs a username"),
            }
            b.finish(d, "basic_auth");
        }
    }
    c.bearer_token = secret(d, f, "bearer_token");
    if c.bearer_token.is_some() && c.basic_auth.is_some() {
        d.error(
            f.pos,
            &f.path,
            "at most one of basic_auth and bearer_token may be set",
        );
    }
    check_url_auth(d, f, &c);
    if let Some(n) = f.get("tls_config") {
        if let Some(mut t) = d.map(n, &f.at("tls_config")) {
            c.ca_file = t.get("ca_file").and_then(|v| d.string(v, &t.at("ca_file")));
            if let Some(v) = t.get("insecure_skip_verify") {
                c.insecure_skip_verify = d.bool(v, &t.at("insecure_skip_verify")).unwrap_or(false);
            }
            t.finish(d, "tls_config");
        }
    }
    if let Some(v) = decode_size(d, f, "body_size_limit") {
        c.body_size_limit = v;
    }
    c
}

/// A `url` with `user:password@` sends its own `Authorization` header; with `basic_auth`,
/// `bearer_token` or an `Authorization` header as well the request would carry two, and which
/// one a server takes is anyone's guess: refused at load, at the URL.
fn check_url_auth(d: &mut Decoder, f: &mut Fields, c: &HttpConfig) {
    let Some(n) = f.get("url") else { return };
    // Expanded as the kind's own decoding does, into a scratch decoder: its problems are
    // reported there once.
    let mut scratch = Decoder::new("");
    scratch.expand_env = d.expand_env;
    let Some(u) = scratch.string(n, "url") else {
        return;
    };
    let Ok(parsed) = reqwest::Url::parse(&u) else {
        return;
    };
    if parsed.username().is_empty() && parsed.password().is_none() {
        return;
    }
    let also = if c.basic_auth.is_some() {
        "basic_auth"
    } else if c.bearer_token.is_some() {
        "bearer_token"
    } else if c
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        "an Authorization header"
    } else {
        return;
    };
    d.error(
        n.pos,
        &f.at("url"),
        format!(
            "the URL has credentials (user:password@) and {also} is set too: the request \
             would carry two Authorization headers; keep one"
        ),
    );
}

/// A size key above 0 (`4MiB`, `512KiB`, `1048576`); `None` when absent or invalid (reported).
pub fn decode_size(d: &mut Decoder, f: &mut Fields, key: &str) -> Option<usize> {
    let n = f.get(key)?;
    let path = f.at(key);
    let s = d.string(n, &path)?;
    match parse_size(&s) {
        Some(v) if v > 0 => Some(v),
        _ => {
            d.error(
                n.pos,
                &path,
                format!("not a size: {s:?} (e.g. 4MiB, 512KiB, 1048576)"),
            );
            None
        }
    }
}

/// `4MiB`, `512KiB`, `1GB`, `1048576` → bytes.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: usize = s[..digits].parse().ok()?;
    let mult: usize = match s[digits..].trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Builds a client for one target (connection reuse within the target; no proxies from the
/// environment, since targets are addressed explicitly).
pub fn client(c: &HttpConfig) -> Result<reqwest::Client, String> {
    shared_client(c, 1)
}

/// A client for `users` targets with the same settings: one TLS setup and one pool, keeping up
/// to one idle connection per user to any one host.
pub fn shared_client(c: &HttpConfig, users: usize) -> Result<reqwest::Client, String> {
    builder(c)?
        .pool_max_idle_per_host(users.max(1))
        .build()
        .map_err(|e| format!("cannot build HTTP client: {}", root_cause(&e)))
}

/// The client settings of `client`, for sources that adjust them further (probes set the
/// redirect policy and open a fresh connection per probe).
pub fn builder(c: &HttpConfig) -> Result<reqwest::ClientBuilder, String> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .timeout(c.timeout)
        .connect_timeout(c.timeout)
        .pool_max_idle_per_host(1)
        .tls_info(true)
        .danger_accept_invalid_certs(c.insecure_skip_verify);
    if let Some(path) = &c.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read ca_file {path}: {e}"))?;
        // A bundle may hold several CAs; a file without any is a mistake, not an empty trust list.
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("bad ca_file {path}: {}", root_cause(&e)))?;
        if certs.is_empty() {
            return Err(format!("bad ca_file {path}: no PEM certificate in it"));
        }
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b)
}

/// Why a fetch failed, as a bounded set of reasons for counters.
#[derive(Clone, Debug, PartialEq)]
pub enum FetchError {
    Connect(String),
    Timeout,
    BodyTooLarge(usize),
    Other(String),
}

impl FetchError {
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Connect(_) => "connect",
            FetchError::Timeout => "timeout",
            FetchError::BodyTooLarge(_) => "body_too_large",
            FetchError::Other(_) => "connect",
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Connect(e) => write!(f, "connection failed: {e}"),
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::BodyTooLarge(n) => write!(f, "body larger than the limit of {n} bytes"),
            FetchError::Other(e) => f.write_str(e),
        }
    }
}

/// A completed response: status, body (within the cap), the leaf certificate when TLS was used,
/// how long it took, and the credentials the request carried (to keep out of messages).
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
    pub peer_cert_der: Option<Vec<u8>>,
    pub elapsed: Duration,
    pub scrub: Scrub,
}

/// How much of a peer's answer an error message quotes.
pub const EXCERPT_CHARS: usize = 256;

impl Fetched {
    /// The start of the body for an error message: cut at [`EXCERPT_CHARS`], the request's own
    /// credentials (auth headers, header values, URL userinfo and secret query values) removed,
    /// so an upstream that echoes the request cannot leak them into logs, `lastError` or
    /// metrics.
    pub fn excerpt(&self) -> String {
        self.scrub.excerpt(&self.body, EXCERPT_CHARS)
    }
}

/// The credentials of a built request: the config's header values, basic-auth password and
/// bearer token, every `Authorization` value (also the one made from a URL's userinfo) with
/// its token and decoded password, and the URL's secret query values.
fn request_secrets(c: &HttpConfig, req: &reqwest::Request) -> Scrub {
    use base64::Engine as _;
    let mut s = Scrub::default();
    for (_, v) in &c.headers {
        s.add(v);
    }
    if let Some((_, p)) = &c.basic_auth {
        s.add(p);
    }
    if let Some(t) = &c.bearer_token {
        s.add(t);
    }
    for name in [
        reqwest::header::AUTHORIZATION,
        reqwest::header::PROXY_AUTHORIZATION,
    ] {
        for v in req.headers().get_all(name) {
            let Ok(v) = v.to_str() else { continue };
            s.add(v);
            let Some((scheme, token)) = v.split_once(' ') else {
                continue;
            };
            s.add(token);
            if scheme.eq_ignore_ascii_case("basic") {
                let plain = base64::engine::general_purpose::STANDARD
                    .decode(token.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                if let Some((_, pw)) = plain.as_deref().and_then(|p| p.split_once(':')) {
                    s.add(pw);
                }
            }
        }
    }
    for v in redact::url_secrets(req.url().as_str()) {
        s.add(&v);
    }
    s
}

/// The URL is left out of the message: a Slack webhook's path and a `user:password@` are
/// credentials, and these messages are logged and exported.
fn classify(e: reqwest::Error) -> FetchError {
    let e = e.without_url();
    if e.is_timeout() {
        FetchError::Timeout
    } else if e.is_connect() {
        FetchError::Connect(root_cause(&e))
    } else {
        FetchError::Other(root_cause(&e))
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// Sends `req` (built from the target's client; the config's headers and auth are applied here) and reads
/// the body up to the cap, all within the timeout.
pub async fn fetch(
    c: &HttpConfig,
    mut req: reqwest::RequestBuilder,
) -> Result<Fetched, FetchError> {
    for (k, v) in &c.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some((u, p)) = &c.basic_auth {
        req = req.basic_auth(u, Some(p));
    }
    if let Some(t) = &c.bearer_token {
        req = req.bearer_auth(t);
    }
    let start = Instant::now();
    let (client, built) = req.build_split();
    let built = built.map_err(classify)?;
    let scrub = request_secrets(c, &built);
    let work = async {
        let mut resp = client.execute(built).await.map_err(classify)?;
        let status = resp.status().as_u16();
        let peer_cert_der = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|t| t.peer_certificate().map(<[u8]>::to_vec));
        if resp
            .content_length()
            .is_some_and(|n| n as usize > c.body_size_limit)
        {
            return Err(FetchError::BodyTooLarge(c.body_size_limit));
        }
        // Sized from Content-Length (within the cap) so a large body is not copied as it grows.
        let expected = resp.content_length().unwrap_or(0) as usize;
        let mut body = Vec::with_capacity(expected.min(c.body_size_limit));
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > c.body_size_limit {
                return Err(FetchError::BodyTooLarge(c.body_size_limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            body,
            peer_cert_der,
            elapsed: Duration::ZERO,
            scrub,
        })
    };
    match tokio::time::timeout(c.timeout, work).await {
        Ok(Ok(mut f)) => {
            f.elapsed = start.elapsed();
            Ok(f)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(FetchError::Timeout),
    }
}

pub const USER_AGENT: &str = concat!("telltale/", env!("CARGO_PKG_VERSION"));

/// The shared HTTP keys, with the CA file read now so that a bad one fails the load.
pub fn decode_http(d: &mut Decoder, f: &mut Fields) -> HttpConfig {
    let h = decode(d, f, Duration::from_secs(10));
    if h.timeout.is_zero() {
        let pos = f.get("timeout").map_or(f.pos, |n| n.pos);
        d.error(pos, &f.at("timeout"), "must be greater than 0");
    }
    if h.ca_file.is_some() {
        if let Err(e) = client(&h) {
            let pos = f.get("tls_config").map_or(f.pos, |n| n.pos);
            d.error(pos, &format!("{}.ca_file", f.at("tls_config")), e);
        }
    }
    h
}

/// For tests of what leaves the process in error messages.
#[cfg(test)]
pub mod testkit {
    /// A server that answers every request with `500` and the request itself as the body, as
    /// some proxies and debug endpoints do.
    pub async fn echo_server() -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let mut buf = vec![0u8; 8192];
                let n = c.read(&mut buf).await.unwrap_or(0);
                let body = &buf[..n];
                let head = format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(head.as_bytes()).await;
                let _ = c.write_all(body).await;
            }
        });
        port
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn fetch_errors_do_not_show_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = HttpConfig::default();
        let url = format!("http://user:hunter2@127.0.0.1:{port}/T00/B00/sekrit");
        let req = client(&c).unwrap().get(&url);
        let e = fetch(&c, req).await.err().expect("nothing listens there");
        let msg = format!("{e:?}");
        assert!(!msg.contains("hunter2") && !msg.contains("sekrit"), "{msg}");
    }

    use super::*;
    use crate::config::yaml;

    /// The shared keys of `text` (a target's mapping) and the problems found.
    fn decoded(text: &str) -> (HttpConfig, Vec<String>) {
        let root = yaml::parse("t", text).unwrap();
        let mut d = Decoder::new("t");
        let mut f = d.map(&root, "").unwrap();
        let c = decode(&mut d, &mut f, Duration::from_secs(5));
        (c, d.diags.iter().map(|x| x.to_string()).collect())
    }

    #[tokio::test]
    async fn an_echoed_request_leaves_no_credential_in_the_error() {
        let port = testkit::echo_server().await;
        let cases = [
            (
                "basic_auth: {username: u, password: hunter2pw}\nheaders: {X-Api-Key: hdr-secret-1}\n",
                format!("http://127.0.0.1:{port}/alerts?apikey=query-secret&x=1"),
                vec!["hdr-secret-1", "query-secret", "dTpodW50ZXIycHc="],
            ),
            (
                "bearer_token: tok-secret-2\n",
                format!("http://127.0.0.1:{port}/"),
                vec!["tok-secret-2"],
            ),
            (
                "{}\n",
                format!("http://user:url-pass-3@127.0.0.1:{port}/"),
                vec!["dXNlcjp1cmwtcGFzcy0z"],
            ),
        ];
        for (cfg, url, secrets) in cases {
            let (c, msgs) = decoded(cfg);
            assert!(msgs.is_empty(), "{msgs:?}");
            let req = client(&c).unwrap().post(&url).body("payload");
            let got = fetch(&c, req).await.unwrap();
            let raw = String::from_utf8_lossy(&got.body).into_owned();
            // The test means something: the peer did echo every credential.
            for s in &secrets {
                assert!(raw.contains(s), "{s} not echoed in {raw}");
            }
            let e = retry::classify_response(&got).unwrap_err();
            assert!(e.retryable && e.message.starts_with("bad response status 500: POST /"));
            for s in &secrets {
                assert!(!e.message.contains(s), "{s} leaked: {}", e.message);
            }
            assert!(e.message.contains("<secret>"), "{}", e.message);
            assert!(
                e.message.chars().count() <= EXCERPT_CHARS + 40,
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn url_credentials_with_other_auth_are_refused_at_the_url() {
        for (text, also) in [
            (
                "url: http://u:p@h/\nbasic_auth: {username: u, password: p}\n",
                "basic_auth",
            ),
            ("url: http://u:p@h/\nbearer_token: t\n", "bearer_token"),
            (
                "url: http://tok@h/\nheaders: {authorization: x}\n",
                "Authorization header",
            ),
        ] {
            let (_, msgs) = decoded(text);
            assert_eq!(msgs.len(), 1, "{msgs:?}");
            assert!(
                msgs[0].starts_with("t:1:6: url: the URL has credentials"),
                "{msgs:?}"
            );
            assert!(msgs[0].contains(also), "{msgs:?}");
        }
        for ok in [
            "url: http://u:p@h/\n",
            "url: http://h/\nbasic_auth: {username: u}\n",
        ] {
            let (_, msgs) = decoded(ok);
            assert!(msgs.is_empty(), "{ok}: {msgs:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4MiB"), Some(4 << 20));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1.5MiB"), None);
        assert_eq!(parse_size("4XB"), None);
    }

    #[test]
    fn decodes_auth_tls_and_limits() {
        let text = "timeout: 2s\nheaders: {X-A: b}\nbasic_auth: {username: u, password: p}\n\
tls_config: {insecure_skip_verify: true}\nbody_size_limit: 1MiB\n";
        let root = yaml::parse("t", text).unwrap();
        let mut d = Decoder::new("t");
        let mut f = d.map(&root, "").unwrap();
        let c = decode(&mut d, &mut f, Duration::from_secs(10));
        f.finish(&mut d, "target");
        assert!(d.ok(), "{:?}", d.diags);
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.basic_auth, Some(("u".into(), "p".into())));
        assert!(c.insecure_skip_verify);
        assert_eq!(c.body_size_limit, 1 << 20);
    }

    #[test]
    fn basic_and_bearer_together_is_an_error() {
        let root = yaml::parse("t", "basic_auth: {username: u}\nbearer_token: x\n").unwrap();
        let mut d = Decoder::new("t");
        let mut f = d.map(&root, "").unwrap();
        decode(&mut d, &mut f, Duration::from_secs(1));
        assert!(
            d.diags.iter().any(|x| x.msg.contains("at most one")),
            "{:?}",
            d.diags
        );
    }
}
