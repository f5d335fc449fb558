//! `--web.config.file`: exporter-toolkit's web configuration format, decoded strictly (every
//! problem reported with its position), plus one telltale extension, `telltale_write_users`.
//! Certificates and keys are loaded here too, so a file that decodes is a file that serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::yaml;
use crate::config::yaml::{Decoder, Diag, Fields, Node, Pos};

/// Who must present a client certificate, in Go's `tls.ClientAuthType` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
    /// Whether the CA file is used to check what the client sends.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
    pub fn mandatory(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// PEM text given inline or as a file (relative to the web config's directory).
#[derive(Clone, Debug, PartialEq)]
pub enum Pem {
    Inline(String),
    File(PathBuf),
}

/// `tls_server_config`, with names as in the file; turned into rustls' config by `web::tls`.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    /// 12 or 13 (rustls speaks TLS 1.2 and 1.3 only).
    pub min_version: u8,
    pub max_version: u8,
    /// Go's names of TLS 1.2 suites; empty means rustls' defaults.
    pub cipher_suites: Vec<String>,
    pub prefer_server_cipher_suites: bool,
    /// Go's curve names; empty means rustls' defaults.
    pub curve_preferences: Vec<String>,
    /// Where each PEM came from, for messages when it does not load.
    pub positions: Vec<(&'static str, Pos)>,
}

/// Everything the web config file says. Password hashes are secrets: never logged or shown.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebConfig {
    pub tls: Option<TlsSettings>,
    /// Response headers from `http_server_config.headers`.
    pub headers: Vec<(String, String)>,
    /// `basic_auth_users`: user → bcrypt hash. Empty: reads need no password.
    pub users: BTreeMap<String, String>,
    /// `telltale_write_users`: absent → write endpoints follow `users`; present → only these
    /// users may write (an empty map refuses every write).
    pub write_users: Option<BTreeMap<String, String>>,
    /// `rate_limit`: at most `burst` requests at once, refilled one per `interval`.
    pub rate_limit: Option<(Duration, u32)>,
}

/// Response headers exporter-toolkit lets a file set, with the values it accepts (if limited).
const HEADERS: [(&str, &[&str]); 5] = [
    ("Content-Security-Policy", &[]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-XSS-Protection", &[]),
    ("Strict-Transport-Security", &[]),
];

/// Decodes a web config file's text; relative paths resolve against `dir`.
pub fn parse(file: &str, text: &str, dir: &Path) -> Result<WebConfig, Vec<Diag>> {
    let root = yaml::parse(file, text).map_err(|d| vec![d])?;
    let mut d = Decoder::new(file);
    let cfg = decode(&mut d, &root, dir);
    if d.ok() {
        Ok(cfg)
    } else {
        d.diags.sort_by_key(|x| (x.pos.line, x.pos.col));
        Err(d.diags)
    }
}

fn decode(d: &mut Decoder, root: &Node, dir: &Path) -> WebConfig {
    let mut cfg = WebConfig::default();
    let Some(mut f) = d.map(root, "") else {
        return cfg;
    };
    if let Some(n) = f.get("tls_server_config") {
        cfg.tls = decode_tls(d, n, &f.at("tls_server_config"), dir);
    }
    if let Some(n) = f.get("http_server_config") {
        cfg.headers = decode_http(d, n, &f.at("http_server_config"));
    }
    if let Some(n) = f.get("basic_auth_users") {
        cfg.users = decode_users(d, n, &f.at("basic_auth_users"));
    }
    if let Some((k, n)) = raw_entry(root, "telltale_write_users") {
        f.get("telltale_write_users");
        cfg.write_users = Some(if n.is_null() {
            BTreeMap::new()
        } else {
            decode_users(d, n, &f.at(k))
        });
    }
    if let Some(n) = f.get("rate_limit") {
        cfg.rate_limit = decode_rate_limit(d, n, &f.at("rate_limit"));
    }
    f.finish(d, "web config");
    cfg
}

/// A key's node even when its value is null (`Fields::get` hides nulls).
fn raw_entry<'n>(root: &'n Node, key: &'static str) -> Option<(&'static str, &'n Node)> {
    match &root.value {
        yaml::Value::Map(e) => e
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
            .map(|(_, v)| (key, v)),
        _ => None,
    }
}

fn decode_users(d: &mut Decoder, n: &Node, path: &str) -> BTreeMap<String, String> {
    let Some(f) = d.map(n, path) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    let entries: Vec<(String, &Node)> = match &n.value {
        yaml::Value::Map(e) => e
            .iter()
            .filter_map(|(k, v)| Some((k.scalar()?.to_string(), v)))
            .collect(),
        _ => Vec::new(),
    };
    drop(f);
    for (user, v) in entries {
        let p = format!("{path}.{user}");
        let Some(hash) = d.string(v, &p) else {
            continue;
        };
        // The hash is checked for shape only; the message must not echo it.
        if hash.parse::<bcrypt::HashParts>().is_err() {
            d.error(
                v.pos,
                &p,
                "not a bcrypt hash (want $2y$<cost>$…, e.g. from htpasswd -nBC 10)",
            );
            continue;
        }
        if user.contains(':') {
            d.error(v.pos, &p, "a user name cannot contain ':'");
            continue;
        }
        out.insert(user, hash);
    }
    out
}

fn decode_http(d: &mut Decoder, n: &Node, path: &str) -> Vec<(String, String)> {
    let Some(mut f) = d.map(n, path) else {
        return Vec::new();
    };
    // Only HTTP/1.1 is served; `http2` is accepted so exporter-toolkit files load unchanged.
    if let Some(v) = f.get("http2") {
        d.bool(v, &f.at("http2"));
    }
    let mut out = Vec::new();
    if let Some(h) = f.get("headers") {
        let hpath = f.at("headers");
        for (name, value) in d.string_map(h, &hpath) {
            let pos = h.value_pos(&name);
            let Some((canon, allowed)) =
                HEADERS.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name))
            else {
                d.error(
                    pos,
                    &hpath,
                    format!("HTTP header {name:?} can not be configured"),
                );
                continue;
            };
            if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&value)) {
                d.error(
                    pos,
                    &format!("{hpath}.{name}"),
                    format!(
                        "invalid value {value:?} (want one of {})",
                        allowed.join(", ")
                    ),
                );
                continue;
            }
            if axum::http::HeaderValue::from_str(&value).is_err() {
                d.error(pos, &format!("{hpath}.{name}"), "not a valid header value");
                continue;
            }
            if !value.is_empty() {
                out.push((canon.to_string(), value));
            }
        }
    }
    f.finish(d, "http_server_config");
    out
}

fn decode_rate_limit(d: &mut Decoder, n: &Node, path: &str) -> Option<(Duration, u32)> {
    let mut f = d.map(n, path)?;
    let interval = f
        .get("interval")
        .and_then(|v| d.duration(v, &f.at("interval")));
    let burst = f.get("burst").and_then(|v| d.u64(v, &f.at("burst")));
    f.finish(d, "rate_limit");
    let interval = interval.unwrap_or_default();
    if interval.is_zero() {
        return None;
    }
    match burst {
        Some(b) if b > 0 && b <= u64::from(u32::MAX) => Some((interval, b as u32)),
        _ => {
            d.error(n.pos, path, "rate_limit needs a burst of at least 1");
            None
        }
    }
}

fn version(d: &mut Decoder, f: &mut Fields, key: &str, default: u8) -> u8 {
    let Some(v) = f.get(key) else { return default };
    match d.string(v, &f.at(key)).as_deref() {
        Some("TLS12") => 12,
        Some("TLS13") => 13,
        Some(s @ ("TLS10" | "TLS11")) => {
            d.error(
                v.pos,
                &f.at(key),
                format!("{s} is not supported (TLS12 or TLS13)"),
            );
            default
        }
        Some(s) => {
            d.error(
                v.pos,
                &f.at(key),
                format!("unknown TLS version {s:?} (TLS12 or TLS13)"),
            );
            default
        }
        None => default,
    }
}

/// `NAME` inline or `NAME_file`: `Ok(None)` when neither, `Err` (reported) when both or bad.
fn pem(d: &mut Decoder, f: &mut Fields, name: &str, dir: &Path) -> Result<Option<(Pem, Pos)>, ()> {
    let file_key = format!("{name}_file");
    let inline = f.get(name);
    let file = f.get(&file_key);
    match (inline, file) {
        (Some(a), Some(_)) => {
            d.error(
                a.pos,
                &f.at(name),
                format!("at most one of {name} and {file_key} may be set"),
            );
            Err(())
        }
        (Some(n), None) => Ok(Some((
            Pem::Inline(d.string(n, &f.at(name)).ok_or(())?),
            n.pos,
        ))),
        (None, Some(n)) => {
            let p = d.string(n, &f.at(&file_key)).ok_or(())?;
            Ok(Some((Pem::File(dir.join(p)), n.pos)))
        }
        (None, None) => Ok(None),
    }
}

fn decode_tls(d: &mut Decoder, n: &Node, path: &str, dir: &Path) -> Option<TlsSettings> {
    let mut f = d.map(n, path)?;
    let mut positions = Vec::new();
    let cert = pem(d, &mut f, "cert", dir);
    let key = pem(d, &mut f, "key", dir);
    let client_ca = pem(d, &mut f, "client_ca", dir).unwrap_or(None);
    let client_auth = match f.get("client_auth_type") {
        None => ClientAuth::NoClientCert,
        Some(v) => {
            let s = d.string(v, &f.at("client_auth_type")).unwrap_or_default();
            ClientAuth::parse(&s).unwrap_or_else(|| {
                d.error(
                    v.pos,
                    &f.at("client_auth_type"),
                    format!("invalid client_auth_type {s:?}"),
                );
                ClientAuth::NoClientCert
            })
        }
    };
    let min_version = version(d, &mut f, "min_version", 12);
    let max_version = version(d, &mut f, "max_version", 13);
    let mut list = |key: &str| {
        f.get(key)
            .map(|v| d.string_list(v, &f.at(key)))
            .unwrap_or_default()
    };
    let cipher_suites = list("cipher_suites");
    let curve_preferences = list("curve_preferences");
    let mut prefer_server_cipher_suites = true;
    if let Some(v) = f.get("prefer_server_cipher_suites") {
        prefer_server_cipher_suites = d
            .bool(v, &f.at("prefer_server_cipher_suites"))
            .unwrap_or(true);
    }
    if let Some(v) = f.get("client_allowed_sans") {
        d.error(
            v.pos,
            &f.at("client_allowed_sans"),
            "client_allowed_sans is not supported by telltale",
        );
    }
    if min_version > max_version {
        d.error(f.pos, path, "min_version is greater than max_version");
    }
    let (cert, key) = match (cert, key) {
        (Ok(Some(c)), Ok(Some(k))) => {
            positions.push(("cert", c.1));
            positions.push(("key", k.1));
            (c.0, k.0)
        }
        (c, k) => {
            if c == Ok(None) {
                d.error(f.pos, path, "missing cert_file (or cert)");
            }
            if k == Ok(None) {
                d.error(f.pos, path, "missing key_file (or key)");
            }
            f.finish(d, "tls_server_config");
            return None;
        }
    };
    if let Some((_, p)) = &client_ca {
        positions.push(("client_ca", *p));
        if client_auth == ClientAuth::NoClientCert {
            d.error(
                *p,
                path,
                "client CAs are configured without a client_auth_type",
            );
        }
    } else if client_auth.verifies() {
        d.error(
            f.pos,
            path,
            "client_auth_type verifies client certificates but no client_ca_file is set",
        );
    }
    f.finish(d, "tls_server_config");
    Some(TlsSettings {
        cert,
        key,
        client_ca: client_ca.map(|c| c.0),
        client_auth,
        min_version,
        max_version,
        cipher_suites,
        prefer_server_cipher_suites,
        curve_preferences,
        positions,
    })
}
