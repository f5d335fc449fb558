//! Unit tests of the web config decoder, TLS building and the auth decisions.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue};

use super::auth::{basic_credentials, Bucket};
use super::config::{parse, ClientAuth, Pem};

fn errors(text: &str) -> Vec<String> {
    match parse("w.yml", text, Path::new("/etc/tt")) {
        Ok(_) => Vec::new(),
        Err(ds) => ds.iter().map(|d| d.to_string()).collect(),
    }
}

const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

#[test]
fn exporter_toolkit_files_decode() {
    let text = format!(
        "tls_server_config:\n  cert_file: s.crt\n  key_file: /abs/s.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  min_version: TLS13\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  prefer_server_cipher_suites: false\n  curve_preferences: [X25519]\nhttp_server_config:\n  http2: false\n  headers: {{X-Content-Type-Options: nosniff, Strict-Transport-Security: max-age=31536000}}\nbasic_auth_users:\n  alice: {HASH}\nrate_limit: {{interval: 1s, burst: 20}}\n"
    );
    let c = parse("w.yml", &text, Path::new("/etc/tt")).unwrap();
    let t = c.tls.unwrap();
    assert_eq!(t.cert, Pem::File("/etc/tt/s.crt".into()));
    assert_eq!(t.key, Pem::File("/abs/s.key".into()));
    assert_eq!(t.client_auth, ClientAuth::VerifyClientCertIfGiven);
    assert_eq!((t.min_version, t.max_version), (13, 13));
    assert!(!t.prefer_server_cipher_suites);
    assert_eq!(c.headers.len(), 2);
    assert_eq!(c.users.get("alice").map(String::as_str), Some(HASH));
    assert_eq!(c.write_users, None);
    assert_eq!(c.rate_limit, Some((Duration::from_secs(1), 20)));
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let got = errors(
        "tls_server_config:\n  cert_file: a\n  min_version: TLS10\n  client_auth_type: Sometimes\n  bogus: 1\nhttp_server_config:\n  headers: {Server: x, X-Frame-Options: allow}\nbasic_auth_users:\n  bob: plaintext\nextra: 1\n",
    );
    assert_eq!(
        got,
        vec![
            "w.yml:2:12: tls_server_config: missing key_file (or key)",
            "w.yml:3:16: tls_server_config.min_version: TLS10 is not supported (TLS12 or TLS13)",
            "w.yml:4:21: tls_server_config.client_auth_type: invalid client_auth_type \"Sometimes\"",
            "w.yml:5:3: tls_server_config: unknown field \"bogus\" in tls_server_config",
            "w.yml:7:21: http_server_config.headers: HTTP header \"Server\" can not be configured",
            "w.yml:7:41: http_server_config.headers.X-Frame-Options: invalid value \"allow\" (want one of deny, sameorigin)",
            "w.yml:9:8: basic_auth_users.bob: not a bcrypt hash (want $2y$<cost>$…, e.g. from htpasswd -nBC 10)",
            "w.yml:10:1: unknown field \"extra\" in web config",
        ]
    );
    // The rejected value of a hash is never echoed: it may be a password typed by mistake.
    assert!(!got.concat().contains("plaintext"));
}

#[test]
fn client_ca_and_policy_must_agree() {
    let got = errors("tls_server_config: {cert_file: a, key_file: b, client_ca_file: c}\n");
    assert!(got[0].contains("without a client_auth_type"), "{got:?}");
    let got = errors("tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequireAndVerifyClientCert}\n");
    assert!(got[0].contains("no client_ca_file"), "{got:?}");
    let got = errors("tls_server_config: {cert: a, cert_file: a, key_file: b}\n");
    assert!(
        got[0].contains("at most one of cert and cert_file"),
        "{got:?}"
    );
    let got = errors(
        "tls_server_config: {cert_file: a, key_file: b, min_version: TLS13, max_version: TLS12}\n",
    );
    assert!(got[0].contains("min_version is greater"), "{got:?}");
}

#[test]
fn write_users_absent_empty_or_set() {
    let c = parse("w", "telltale_write_users:\n", Path::new(".")).unwrap();
    assert_eq!(c.write_users, Some(BTreeMap::new()));
    let c = parse(
        "w",
        &format!("telltale_write_users: {{pusher: '{HASH}'}}\n"),
        Path::new("."),
    )
    .unwrap();
    assert_eq!(c.write_users.unwrap().len(), 1);
    let c = parse("w", "", Path::new(".")).unwrap();
    assert!(c.tls.is_none() && c.users.is_empty() && c.write_users.is_none());
}

#[test]
fn tls_config_builds_from_the_fixture_certificate() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let ok = "tls_server_config: {cert_file: cert.pem, key_file: key.pem, cipher_suites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305], curve_preferences: [CurveP256]}\n";
    let c = parse("w", ok, &dir).unwrap();
    let cfg = super::tls::build("w", c.tls.as_ref().unwrap()).unwrap();
    assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let bad = "tls_server_config: {cert_file: cert.pem, key_file: key.pem, cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]}\n";
    let c = parse("w", bad, &dir).unwrap();
    let e = super::tls::build("w", c.tls.as_ref().unwrap()).unwrap_err();
    assert!(
        e[0].to_string()
            .contains("cipher suite \"TLS_RSA_WITH_RC4_128_SHA\" is not supported"),
        "{e:?}"
    );
    // A key that is not a key; the message names the key_file line, not its contents.
    let c = parse(
        "w",
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: cert.pem\n",
        &dir,
    )
    .unwrap();
    let e = super::tls::build("w", c.tls.as_ref().unwrap()).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "w:3:13: tls_server_config: no valid PEM private key found"
    );
    let c = parse(
        "w",
        "tls_server_config: {cert_file: nope.pem, key_file: key.pem}\n",
        &dir,
    )
    .unwrap();
    assert!(
        super::tls::build("w", c.tls.as_ref().unwrap()).unwrap_err()[0]
            .msg
            .contains("cannot read")
    );
}

#[test]
fn basic_credentials_are_parsed_strictly() {
    let mut h = HeaderMap::new();
    assert_eq!(basic_credentials(&h), None);
    // "alice:pa:ss" — a password may contain ':'.
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic YWxpY2U6cGE6c3M="),
    );
    assert_eq!(
        basic_credentials(&h),
        Some(("alice".into(), "pa:ss".into()))
    );
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("basic YWxpY2U6cGE6c3M="),
    );
    assert!(basic_credentials(&h).is_some());
    for bad in [
        "Bearer YWxpY2U6cGE6c3M=",
        "Basic !!!",
        "Basic YWxpY2U=",
        "Basic",
    ] {
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
        assert_eq!(basic_credentials(&h), None, "{bad}");
    }
}

#[test]
fn token_bucket_refills_over_time() {
    let t0 = Instant::now();
    let mut b = Bucket {
        tokens: 2.0,
        at: t0,
    };
    let iv = Duration::from_secs(1);
    assert!(b.take(iv, 2, t0));
    assert!(b.take(iv, 2, t0));
    assert!(!b.take(iv, 2, t0));
    assert!(b.take(iv, 2, t0 + Duration::from_millis(1000)));
    assert!(!b.take(iv, 2, t0 + Duration::from_millis(1500)));
    // Never more than the burst, however long it was idle.
    let later = t0 + Duration::from_secs(100);
    assert!(b.take(iv, 2, later) && b.take(iv, 2, later) && !b.take(iv, 2, later));
}

#[tokio::test]
async fn verify_caches_and_refuses_unknown_users() {
    let web = super::WebState::open();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let users: BTreeMap<String, String> = [("alice".to_string(), hash)].into();
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic YWxpY2U6cHc="),
    ); // alice:pw
    assert!(super::auth::verify(&web, &users, &h).await);
    assert!(super::auth::verify(&web, &users, &h).await);
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic Ym9iOnB3"),
    ); // bob:pw
    assert!(!super::auth::verify(&web, &users, &h).await);
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic YWxpY2U6cHd4"),
    ); // alice:pwx
    assert!(!super::auth::verify(&web, &users, &h).await);
}

#[test]
fn reads_and_writes_need_their_own_users() {
    use super::auth::required;
    let hash = HASH.to_string();
    let mut cfg = super::WebConfig::default();
    // No users at all: everything open.
    assert!(required(&cfg, false).is_none() && required(&cfg, true).is_none());
    // Read users only: writes follow them.
    cfg.users.insert("alice".into(), hash.clone());
    assert_eq!(required(&cfg, true).unwrap().len(), 1);
    // Write users: writes need exactly those, reads keep theirs.
    cfg.write_users = Some([("bob".to_string(), hash.clone())].into());
    assert!(required(&cfg, true).unwrap().contains_key("bob"));
    assert!(required(&cfg, false).unwrap().contains_key("alice"));
    // An empty write-user list refuses every write, even with no read users.
    cfg.users.clear();
    cfg.write_users = Some(BTreeMap::new());
    assert!(required(&cfg, false).is_none());
    assert!(required(&cfg, true).unwrap().is_empty());
}

/// `/api/v1/targets` and the status page show target URLs without their credentials.
#[tokio::test]
async fn target_urls_are_shown_without_credentials() {
    let text = "json_targets:\n  - name: app\n    url: 'http://scraper:pw-json-1@app:8080/m?apikey=key-json-2&page=1'\n    metrics: [{name: x, path: $.x}]\n\
probes:\n  site:\n    url: 'https://prober:pw-probe-3@site/?token=tok-probe-4'\n\
zabbix:\n  - name: z\n    url: 'http://z/api_jsonrpc.php?access_token=tok-zbx-5'\n    username: u\n    password: p\n";
    let cfg = crate::app::config::parse("t.yml", text).unwrap();
    let sources = cfg.sources.build_all(&[]).unwrap();
    assert_eq!(sources.len(), 3);
    let api = super::api::targets(&sources).to_string();
    let mut page = String::new();
    super::status_page::targets(&mut page, &sources);
    for shown in [&api, &page] {
        for secret in [
            "pw-json-1",
            "key-json-2",
            "pw-probe-3",
            "tok-probe-4",
            "tok-zbx-5",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
    }
    assert!(
        api.contains("http://scraper:<secret>@app:8080/m?apikey=<secret>&page=1"),
        "{api}"
    );
    assert!(
        page.contains("https://prober:&lt;secret&gt;@site/?token=&lt;secret&gt;"),
        "{page}"
    );
}
