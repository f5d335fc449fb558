//! Basic authentication against bcrypt hashes, per route: read routes check `basic_auth_users`,
//! write routes `telltale_write_users` (or `basic_auth_users` when that key is absent). Also the
//! configured response headers and the rate limit, which apply to every response.
//!
//! bcrypt is slow on purpose (~70 ms at cost 10), so outcomes are cached for a short while keyed
//! by a SHA-256 of user, hash and password (the password itself is never stored), and at most
//! two verifications run at once, on the blocking pool, so a flood of bad passwords cannot take
//! every core or stall the async workers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::WebState;

/// How long a verified (or refused) user/password pair is remembered.
const OK_TTL: Duration = Duration::from_secs(60);
const BAD_TTL: Duration = Duration::from_secs(10);
const CACHE_MAX: usize = 4096;

/// Remembered bcrypt outcomes.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
}

impl Cache {
    fn get(&self, key: &[u8; 32], now: Instant) -> Option<bool> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(_, until)| *until > now)
            .map(|(ok, _)| *ok)
    }
    fn put(&self, key: [u8; 32], ok: bool, now: Instant) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CACHE_MAX {
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(key, (ok, now + if ok { OK_TTL } else { BAD_TTL }));
    }
}

/// `Authorization: Basic …` as (user, password); `None` when absent or malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// A hash compared against when the user does not exist, so that an unknown user takes as long
/// as a wrong password.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| bcrypt::hash("telltale: no such user", 10).unwrap_or_default())
}

fn cache_key(user: &str, hash: &str, pass: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, hash, pass] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Whether the request's credentials name one of `users` with the right password.
pub async fn verify(web: &WebState, users: &BTreeMap<String, String>, headers: &HeaderMap) -> bool {
    let Some((user, pass)) = basic_credentials(headers) else {
        return false;
    };
    let (known, hash) = match users.get(&user) {
        Some(h) => (true, h.clone()),
        None => (false, dummy_hash().to_string()),
    };
    let key = cache_key(&user, &hash, &pass);
    if let Some(ok) = web.cache.get(&key, Instant::now()) {
        return ok && known;
    }
    let Ok(_permit) = web.bcrypt_slots.acquire().await else {
        return false;
    };
    let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash).unwrap_or(false))
        .await
        .unwrap_or(false);
    web.cache.put(key, ok, Instant::now());
    if !(ok && known) {
        tracing::debug!(user = %user, "basic auth failed");
    }
    ok && known
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"))],
        "Unauthorized\n",
    )
        .into_response()
}

/// Which users a request needs: `None` when it needs none, `Some(empty)` when none may pass.
pub(super) fn required(cfg: &super::WebConfig, write: bool) -> Option<&BTreeMap<String, String>> {
    let set = if write {
        cfg.write_users.as_ref().unwrap_or(&cfg.users)
    } else {
        &cfg.users
    };
    (!set.is_empty() || (write && cfg.write_users.is_some())).then_some(set)
}

async fn check(web: &WebState, headers: &HeaderMap, write: bool) -> Option<Response> {
    let active = web.current();
    let users = required(&active.config, write)?;
    if users.is_empty() {
        return Some(
            (
                StatusCode::FORBIDDEN,
                "writes are disabled (telltale_write_users is empty)\n",
            )
                .into_response(),
        );
    }
    if verify(web, users, headers).await {
        None
    } else {
        Some(unauthorized())
    }
}

/// Route layer for read endpoints.
pub async fn guard_read(State(web): State<Arc<WebState>>, req: Request, next: Next) -> Response {
    match check(&web, req.headers(), false).await {
        Some(refused) => refused,
        None => next.run(req).await,
    }
}

/// Route layer for write endpoints (`/-/reload`, push).
pub async fn guard_write(State(web): State<Arc<WebState>>, req: Request, next: Next) -> Response {
    match check(&web, req.headers(), true).await {
        Some(refused) => refused,
        None => next.run(req).await,
    }
}

/// Unknown paths: authenticated like reads, then 404.
pub async fn not_found(State(web): State<Arc<WebState>>, req: Request) -> Response {
    match check(&web, req.headers(), false).await {
        Some(refused) => refused,
        None => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

/// Outermost layer: the rate limit, then the configured headers on whatever comes back.
pub async fn common(State(web): State<Arc<WebState>>, req: Request, next: Next) -> Response {
    // Keep-alive clients (Prometheus) may never open a new connection: requests check too.
    web.check_for_changes();
    let active = web.current();
    let mut resp = if active.take_token(Instant::now()) {
        next.run(req).await
    } else {
        (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response()
    };
    for (name, value) in &active.config.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().insert(n, v);
        }
    }
    resp
}

/// A token bucket: `burst` tokens, one more every `interval`.
pub struct Bucket {
    pub tokens: f64,
    pub at: Instant,
}

impl Bucket {
    pub fn take(&mut self, interval: Duration, burst: u32, now: Instant) -> bool {
        let gained = now.duration_since(self.at).as_secs_f64() / interval.as_secs_f64();
        self.tokens = (self.tokens + gained).min(f64::from(burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
