//! A JSON-RPC client for the Zabbix API, 5.0 through 7.2+. It asks `apiinfo.version` first
//! (without credentials) and picks the dialect from it: the login field (`user` before 5.4,
//! `username` after) and where the session or token goes (body `auth` before 6.4, an
//! `Authorization: Bearer` header from 6.4; 7.2 rejects the body field). A session that the
//! server forgot is renewed once, transparently, so a poll is not lost to it.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http_client;
use crate::http_client::{FetchError, HttpConfig};

/// Why a request failed: the bounded set of reasons behind `zabbix_poll_errors_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Connect,
    Timeout,
    HttpStatus,
    Decode,
    Auth,
    Api,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::Connect,
        Reason::Timeout,
        Reason::HttpStatus,
        Reason::Decode,
        Reason::Auth,
        Reason::Api,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Connect => "connect",
            Reason::Timeout => "timeout",
            Reason::HttpStatus => "http_status",
            Reason::Decode => "decode",
            Reason::Auth => "auth",
            Reason::Api => "api",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub reason: Reason,
    pub msg: String,
}

impl Failure {
    pub fn new(reason: Reason, msg: impl Into<String>) -> Self {
        Failure {
            reason,
            msg: msg.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.msg)
    }
}

/// The `error` member of a JSON-RPC response.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: i64,
    pub message: String,
    pub data: String,
}

impl ApiError {
    /// The server no longer knows the session (expired, logged out, server-side cleanup): a
    /// fresh login fixes it. "Not authorised." is the spelling of servers before 5.4.
    pub fn needs_relogin(&self) -> bool {
        matches!(
            self.data.as_str(),
            "Session terminated, re-login, please." | "Not authorized." | "Not authorised."
        )
    }

    /// A credentials problem rather than a bad request: counted as `auth`.
    pub fn is_auth(&self) -> bool {
        self.needs_relogin()
            || self.data.contains("API token expired")
            || self.data.contains("name or password is incorrect")
            || self.data.contains("temporarily blocked")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}) {}", self.message, self.code, self.data)
    }
}

/// A Zabbix version as major.minor; the patch level never changes the API dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

/// `"6.0.14"`, `"7.2.0rc1"`, `"5.4"` → `Version`.
pub fn parse_version(s: &str) -> Option<Version> {
    let mut parts = s.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(Version(major, minor.parse().ok()?))
}

/// How to talk to one server version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheme {
    /// The `user.login` parameter holding the user name.
    pub login_key: &'static str,
    /// Session/token as `Authorization: Bearer` (else as the body's `auth`).
    pub bearer: bool,
}

/// The dialect of `v`. With HTTP basic auth to the frontend the Authorization header is taken,
/// so 6.4–7.0 fall back to body `auth` (still accepted there); 7.2+ has only the header.
pub fn scheme(v: Version, frontend_basic_auth: bool) -> Scheme {
    let bearer = v >= Version(6, 4) && !(frontend_basic_auth && v < Version(7, 2));
    Scheme {
        login_key: if v < Version(5, 4) {
            "user"
        } else {
            "username"
        },
        bearer,
    }
}

/// A JSON-RPC request body; `body_auth` goes into the `auth` member (pre-6.4 servers).
pub fn request_body(method: &str, params: &Value, id: u64, body_auth: Option<&str>) -> Value {
    let mut v = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id});
    if let Some(a) = body_auth {
        v["auth"] = Value::String(a.to_string());
    }
    v
}

/// What a response body says: the `result`, an API error, or a decoding failure (the tests read
/// recorded answers this way; the client types its results with `decode_response_as`).
#[cfg(test)]
pub fn decode_response(body: &[u8]) -> Result<Result<Value, ApiError>, Failure> {
    decode_response_as(body)
}

/// A JSON-RPC response with its result still to be typed.
#[derive(Deserialize)]
struct Envelope<T> {
    result: Option<T>,
    error: Option<Value>,
}

/// As `decode_response`, with the result decoded straight into `T`: item.get's answer runs to
/// megabytes, and a `Value` tree of it would cost several times its size on every poll.
pub fn decode_response_as<T: DeserializeOwned>(
    body: &[u8],
) -> Result<Result<T, ApiError>, Failure> {
    let env: Envelope<T> = serde_json::from_slice(body).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            return Failure::new(Reason::Decode, format!("unexpected result: {e}"));
        }
        let head = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        Failure::new(Reason::Decode, format!("not JSON ({e}): {head:?}"))
    })?;
    if let Some(err) = env.error {
        let text = |k: &str| match err.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        return Ok(Err(ApiError {
            code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: text("message"),
            data: text("data"),
        }));
    }
    env.result.map(Ok).ok_or_else(|| {
        Failure::new(
            Reason::Decode,
            "JSON-RPC response has neither result nor error",
        )
    })
}

/// How the client proves who it is.
#[derive(Clone, PartialEq)]
pub enum Credentials {
    Password { user: String, password: String },
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "Password({user:?}, <secret>)"),
            Credentials::Token(_) => f.write_str("Token(<secret>)"),
        }
    }
}

enum CallError {
    Failed(Failure),
    Api(ApiError),
}

fn api_failure(method: &str, e: &ApiError) -> Failure {
    let reason = if e.is_auth() || method == "user.login" {
        Reason::Auth
    } else {
        Reason::Api
    };
    Failure::new(reason, format!("{method}: {e}"))
}

/// One server's client; the poller owns it (polls of a source never overlap).
pub struct Client {
    url: String,
    http: HttpConfig,
    client: reqwest::Client,
    creds: Credentials,
    /// `apiinfo.version`'s answer, cached until a transport failure (the server may have been
    /// upgraded while it was away).
    version: Option<(String, Version)>,
    session: Option<String>,
    next_id: u64,
}

impl Client {
    pub fn new(url: &str, http_cfg: &HttpConfig, creds: Credentials) -> Result<Self, String> {
        Ok(Client {
            url: url.to_string(),
            client: http_client::client(http_cfg)?,
            http: http_cfg.clone(),
            creds,
            version: None,
            session: None,
            next_id: 1,
        })
    }

    /// The version string last reported by the server.
    pub fn version_string(&self) -> Option<&str> {
        self.version.as_ref().map(|(s, _)| s.as_str())
    }

    async fn rpc<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: &Value,
        auth: Option<(&str, Scheme)>,
    ) -> Result<T, CallError> {
        let id = self.next_id;
        self.next_id += 1;
        let body_auth = auth.filter(|(_, s)| !s.bearer).map(|(a, _)| a);
        let body = request_body(method, params, id, body_auth);
        let mut req = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json-rpc")
            .header("Accept", "application/json")
            .body(body.to_string());
        if let Some((token, s)) = auth {
            if s.bearer {
                req = req.bearer_auth(token);
            }
        }
        let fetched = http_client::fetch(&self.http, req).await.map_err(|e| {
            let reason = match e {
                FetchError::Timeout => Reason::Timeout,
                FetchError::BodyTooLarge(_) => Reason::Decode,
                _ => Reason::Connect,
            };
            if reason != Reason::Decode {
                self.version = None;
            }
            CallError::Failed(Failure::new(reason, format!("{method}: {e}")))
        })?;
        if fetched.status != 200 {
            self.version = None;
            return Err(CallError::Failed(Failure::new(
                Reason::HttpStatus,
                format!("{method}: HTTP status {}", fetched.status),
            )));
        }
        // What the server says is shown (lastError, logs): without the request's credentials,
        // those in the JSON-RPC body (password, session or token) included.
        let mut scrub = fetched.scrub.clone();
        match &self.creds {
            Credentials::Password { password, .. } => scrub.add(password),
            Credentials::Token(t) => scrub.add(t),
        }
        if let Some((token, _)) = auth {
            scrub.add(token);
        }
        match decode_response_as(&fetched.body) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(CallError::Api(ApiError {
                message: scrub.text(&e.message),
                data: scrub.text(&e.data),
                ..e
            })),
            Err(f) => Err(CallError::Failed(Failure::new(
                f.reason,
                format!("{method}: {}", scrub.text(&f.msg)),
            ))),
        }
    }

    /// The server's version, asked once (no credentials) and cached.
    pub async fn version(&mut self) -> Result<Version, Failure> {
        if let Some((_, v)) = self.version {
            return Ok(v);
        }
        let r: Value = match self.rpc("apiinfo.version", &json!({}), None).await {
            Ok(r) => r,
            Err(CallError::Failed(f)) => return Err(f),
            Err(CallError::Api(e)) => return Err(api_failure("apiinfo.version", &e)),
        };
        let s = r.as_str().unwrap_or_default().to_string();
        let v = parse_version(&s).ok_or_else(|| {
            Failure::new(
                Reason::Decode,
                format!("apiinfo.version: not a version: {r}"),
            )
        })?;
        self.version = Some((s, v));
        Ok(v)
    }

    async fn login(&mut self, s: Scheme) -> Result<String, Failure> {
        let Credentials::Password { user, password } = &self.creds else {
            unreachable!("login is only called with password credentials");
        };
        let params = json!({ s.login_key: user, "password": password });
        match self.rpc("user.login", &params, None).await {
            Ok(Value::String(sid)) => {
                self.session = Some(sid.clone());
                Ok(sid)
            }
            Ok(other) => Err(Failure::new(
                Reason::Decode,
                format!("user.login: expected a session id, got {other}"),
            )),
            Err(CallError::Failed(f)) => Err(f),
            Err(CallError::Api(e)) => Err(api_failure("user.login", &e)),
        }
    }

    /// Calls an authenticated method, its result decoded as `T`; a forgotten session is renewed
    /// and the call retried once.
    pub async fn call<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: &Value,
    ) -> Result<T, Failure> {
        let v = self.version().await?;
        let s = scheme(v, self.http.basic_auth.is_some());
        let token = match (&self.creds, &self.session) {
            (Credentials::Token(_), _) if v < Version(5, 4) => {
                return Err(Failure::new(
                    Reason::Auth,
                    "API tokens need Zabbix 5.4 or later",
                ));
            }
            (Credentials::Token(t), _) => t.clone(),
            (Credentials::Password { .. }, Some(sid)) => sid.clone(),
            (Credentials::Password { .. }, None) => self.login(s).await?,
        };
        match self.rpc(method, params, Some((&token, s))).await {
            Ok(r) => Ok(r),
            Err(CallError::Api(e))
                if e.needs_relogin() && matches!(self.creds, Credentials::Password { .. }) =>
            {
                tracing::info!(url = %crate::config::redact::url(&self.url), error = %e, "Zabbix session lost; logging in again");
                self.session = None;
                let token = self.login(s).await?;
                match self.rpc(method, params, Some((&token, s))).await {
                    Ok(r) => Ok(r),
                    Err(CallError::Failed(f)) => Err(f),
                    Err(CallError::Api(e)) => Err(api_failure(method, &e)),
                }
            }
            Err(CallError::Failed(f)) => Err(f),
            Err(CallError::Api(e)) => Err(api_failure(method, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Unit tests of the Zabbix client's pure parts, on responses recorded from a real Zabbix 6.0.

    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!(
            "{}/tests/fixtures/zabbix-client/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn api_error(name: &str) -> ApiError {
        match decode_response(&fixture(name)) {
            Ok(Err(e)) => e,
            other => panic!("{name}: expected an API error, got {other:?}"),
        }
    }

    #[test]
    fn versions_parse_to_major_minor() {
        assert_eq!(parse_version("6.0.14"), Some(Version(6, 0)));
        assert_eq!(parse_version("7.2.0rc1"), Some(Version(7, 2)));
        assert_eq!(parse_version("5.4"), Some(Version(5, 4)));
        assert_eq!(parse_version(" 7.4.1 "), Some(Version(7, 4)));
        assert_eq!(parse_version("seven"), None);
        assert_eq!(parse_version("7"), None);
    }

    #[test]
    fn the_auth_scheme_follows_the_version() {
        let s = |v| scheme(v, false);
        assert_eq!(
            s(Version(5, 0)),
            Scheme {
                login_key: "user",
                bearer: false
            }
        );
        assert_eq!(s(Version(5, 2)).login_key, "user");
        assert_eq!(
            s(Version(5, 4)),
            Scheme {
                login_key: "username",
                bearer: false
            }
        );
        assert_eq!(
            s(Version(6, 0)),
            Scheme {
                login_key: "username",
                bearer: false
            }
        );
        assert!(!s(Version(6, 2)).bearer);
        assert_eq!(
            s(Version(6, 4)),
            Scheme {
                login_key: "username",
                bearer: true
            }
        );
        assert!(s(Version(7, 0)).bearer);
        assert!(s(Version(7, 2)).bearer);
        assert!(s(Version(8, 0)).bearer);
        // Basic auth to the frontend holds the Authorization header: body auth where still allowed.
        assert!(!scheme(Version(6, 4), true).bearer);
        assert!(!scheme(Version(7, 0), true).bearer);
        assert!(scheme(Version(7, 2), true).bearer);
    }

    #[test]
    fn request_bodies_carry_auth_only_when_asked() {
        let p = serde_json::json!({"output": ["itemid"]});
        let b = request_body("item.get", &p, 7, None);
        assert_eq!(
            b,
            serde_json::json!({"jsonrpc": "2.0", "method": "item.get", "params": {"output": ["itemid"]}, "id": 7})
        );
        let b = request_body("item.get", &p, 8, Some("abc"));
        assert_eq!(b["auth"], "abc");
        assert_eq!(b["id"], 8);
    }

    #[test]
    fn recorded_results_decode() {
        let v = decode_response(&fixture("apiinfo_version.json"))
            .unwrap()
            .unwrap();
        assert_eq!(v, serde_json::json!("6.0.14"));
        let v = decode_response(&fixture("user_login.json"))
            .unwrap()
            .unwrap();
        assert_eq!(v.as_str().map(str::len), Some(32));
        let v = decode_response(&fixture("item_get.json")).unwrap().unwrap();
        assert!(v.as_array().is_some_and(|a| a.len() > 50));
    }

    #[test]
    fn recorded_errors_are_classified() {
        let e = api_error("error_session_terminated.json");
        assert_eq!(e.code, -32602);
        assert_eq!(e.message, "Invalid params.");
        assert!(e.needs_relogin() && e.is_auth());
        let e = api_error("error_not_authorized.json");
        assert!(e.needs_relogin() && e.is_auth());
        let e = api_error("error_wrong_password.json");
        assert!(!e.needs_relogin());
        assert!(e.is_auth(), "{e}");
        assert_eq!(api_failure("user.login", &e).reason, Reason::Auth);
        let e = api_error("error_method_not_found.json");
        assert_eq!(e.code, -32601);
        assert!(!e.needs_relogin() && !e.is_auth());
        let f = api_failure("item.nosuch", &e);
        assert_eq!(f.reason, Reason::Api);
        assert_eq!(
            f.to_string(),
            "api: item.nosuch: Method not found. (-32601) Incorrect method \"item.nosuch\"."
        );
    }

    #[test]
    fn old_spelling_and_7_2_errors() {
        let old = br#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params.","data":"Not authorised."},"id":1}"#;
        assert!(decode_response(old).unwrap().unwrap_err().needs_relogin());
        let v72 = br#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request.","data":"Invalid parameter \"/\": unexpected parameter \"auth\"."},"id":1}"#;
        let e = decode_response(v72).unwrap().unwrap_err();
        assert!(!e.needs_relogin());
        assert_eq!(api_failure("item.get", &e).reason, Reason::Api);
        let expired = br#"{"jsonrpc":"2.0","error":{"code":-32500,"message":"Application error.","data":"API token expired."},"id":1}"#;
        let e = decode_response(expired).unwrap().unwrap_err();
        assert_eq!(api_failure("item.get", &e).reason, Reason::Auth);
    }

    #[test]
    fn garbage_is_a_decode_failure() {
        let f = decode_response(b"<html>502 Bad Gateway</html>").unwrap_err();
        assert_eq!(f.reason, Reason::Decode);
        assert!(f.msg.contains("<html>"), "{}", f.msg);
        let f = decode_response(br#"{"jsonrpc":"2.0","id":1}"#).unwrap_err();
        assert_eq!(f.reason, Reason::Decode);
        assert_eq!(decode_response(b"").unwrap_err().reason, Reason::Decode);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Credentials::Password {
            user: "Admin".into(),
            password: "zabbix".into(),
        };
        assert!(!format!("{c:?}").contains("zabbix"));
        assert!(!format!("{:?}", Credentials::Token("t0k3n".into())).contains("t0k3n"));
    }
}
