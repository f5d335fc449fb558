use super::*;
use crate::app::config;
use crate::config::common::Global;
use crate::config::yaml;
use crate::config::yaml::Decoder;

fn decode_text(text: &str) -> Result<Vec<ProbeConfig>, Vec<String>> {
    let root = yaml::parse("p.yml", text).unwrap();
    let mut d = Decoder::new("p.yml");
    let got = decode(&mut d, &root, "probes", &Global::default());
    if d.ok() {
        Ok(got)
    } else {
        Err(d.diags.iter().map(|x| x.to_string()).collect())
    }
}

fn errors(text: &str) -> Vec<String> {
    decode_text(text).expect_err("config should be rejected")
}

fn http_probe(p: &ProbeConfig) -> &HttpProbe {
    match &p.kind {
        ProbeKind::Http(h) => h,
        ProbeKind::Tcp(_) => panic!("not an HTTP probe"),
    }
}

#[test]
fn decodes_http_and_tcp_probes_with_defaults() {
    let got = decode_text(
        r#"
web:
  url: https://example.org/health
  interval: 30s
  timeout: 3s
  method: HEAD
  expect_status: [200, 204]
  body_regex: 'ok|fine'
  follow_redirects: false
  tls_config: {insecure_skip_verify: true}
db:
  tcp: 127.0.0.1:5432
"#,
    )
    .unwrap();
    assert_eq!(got.len(), 2);
    let web = &got[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.interval, Duration::from_secs(30));
    assert_eq!(web.timeout, Duration::from_secs(3));
    let h = http_probe(web);
    assert_eq!(h.http.timeout, Duration::from_secs(3));
    assert_eq!(h.method, "HEAD");
    assert_eq!(h.expect_status, vec![200, 204]);
    assert_eq!(h.body_regex.as_ref().unwrap().0.as_str(), "ok|fine");
    assert!(h.body_not_regex.is_none());
    assert!(!h.follow_redirects);
    assert!(h.http.insecure_skip_verify);

    let db = &got[1];
    assert_eq!(db.kind, ProbeKind::Tcp("127.0.0.1:5432".into()));
    // Defaults: the global interval, and the global timeout bounded by the interval.
    assert_eq!(db.interval, Duration::from_secs(15));
    assert_eq!(db.timeout, Duration::from_secs(10));
}

#[test]
fn http_defaults() {
    let got = decode_text("a: {url: 'http://127.0.0.1:8080/', interval: 4s}\n").unwrap();
    let h = http_probe(&got[0]);
    assert_eq!(h.method, "GET");
    assert!(h.expect_status.is_empty());
    assert!(h.follow_redirects);
    assert_eq!(got[0].timeout, Duration::from_secs(4));
    assert_eq!(h.http.body_size_limit, 4 << 20);
}

#[test]
fn url_and_tcp_exactly_one() {
    assert_eq!(
        errors("a: {url: 'http://x/', tcp: 'x:1'}\nb: {interval: 5s}\n"),
        vec![
            "p.yml:1:4: probes.a: exactly one of url and tcp must be set",
            "p.yml:2:4: probes.b: exactly one of url and tcp must be set",
        ]
    );
}

#[test]
fn bad_urls_addresses_methods_and_statuses() {
    assert_eq!(
        errors(
            "a: {url: 'ftp://x/'}\nb: {url: 'http//x'}\nc: {tcp: 'nohost'}\nd: {tcp: 'h:0'}\n\
e: {url: 'http://x/', method: get, expect_status: [200, 42, x]}\nf: {tcp: '[::1]:80'}\n"
        ),
        vec![
            "p.yml:1:10: probes.a.url: URL scheme must be http or https, found \"ftp\"",
            "p.yml:2:10: probes.b.url: invalid URL \"http//x\": relative URL without a base",
            "p.yml:3:10: probes.c.tcp: not a host:port address: \"nohost\"",
            "p.yml:4:10: probes.d.tcp: not a host:port address: \"h:0\"",
            "p.yml:5:31: probes.e.method: not an HTTP method (upper case, e.g. GET or HEAD): \"get\"",
            "p.yml:5:57: probes.e.expect_status[1]: not an HTTP status code (100-599): 42",
            "p.yml:5:61: probes.e.expect_status[2]: not an HTTP status code (100-599): x",
        ]
    );
}

#[test]
fn regexes_are_compiled_at_load_with_a_one_line_error() {
    let got = errors("a: {url: 'http://x/', body_regex: 'ok(', body_not_regex: '[z-a]'}\n");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0],
        "p.yml:1:35: probes.a.body_regex: invalid regex \"ok(\": unclosed group"
    );
    assert!(
        got[1].starts_with("p.yml:1:58: probes.a.body_not_regex: invalid regex \"[z-a]\": "),
        "{got:?}"
    );
    assert!(got.iter().all(|l| !l.contains('\n')));
}

#[test]
fn http_keys_on_a_tcp_probe_are_errors() {
    assert_eq!(
        errors("a: {tcp: 'h:1', method: GET, expect_status: [200]}\n"),
        vec![
            "p.yml:1:25: probes.a.method: method applies only to HTTP probes (url), not tcp",
            "p.yml:1:45: probes.a.expect_status: expect_status applies only to HTTP probes (url), not tcp",
        ]
    );
}

#[test]
fn timeouts_intervals_and_unknown_keys() {
    assert_eq!(
        errors(
            "a: {tcp: 'h:1', interval: 2s, timeout: 5s}\nb: {tcp: 'h:1', interval: 0s}\n\
c: {url: 'http://x/', timeout: 0s, colour: red}\n"
        ),
        vec![
            "p.yml:1:40: probes.a.timeout: timeout (5s) greater than interval (2s)",
            "p.yml:2:27: probes.b.interval: must be greater than 0",
            "p.yml:3:32: probes.c.timeout: must be greater than 0",
            "p.yml:3:36: probes.c: unknown field \"colour\" in probe",
        ]
    );
}

#[test]
fn unreadable_ca_file_is_reported_at_load() {
    let got = errors("a: {url: 'https://x/', tls_config: {ca_file: /nonexistent/ca.pem}}\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            "p.yml:1:46: probes.a.tls_config.ca_file: cannot read ca_file /nonexistent/ca.pem"
        ),
        "{got:?}"
    );
}

#[test]
fn duplicate_names_are_reported() {
    let got = errors("a: {tcp: 'h:1'}\na: {tcp: 'h:2'}\n");
    assert!(
        got.contains(&"p.yml:2:1: probes: duplicate key \"a\"".to_string()),
        "{got:?}"
    );
}

#[test]
fn the_section_in_a_whole_config() {
    let c = config::parse(
        "c.yml",
        "global: {scrape_interval: 5s}\nprobes:\n  a: {tcp: 'localhost:22'}\n",
    )
    .unwrap();
    assert_eq!(c.sources.of::<ProbeConfig>().len(), 1);
    assert_eq!(
        c.sources.of::<ProbeConfig>()[0].interval,
        Duration::from_secs(5)
    );
    assert_eq!(
        c.sources.of::<ProbeConfig>()[0].timeout,
        Duration::from_secs(5)
    );
}

fn probe_with(expect: &[u16], re: Option<&str>, not_re: Option<&str>) -> HttpProbe {
    let pat = |s: &str| Pattern(regex::bytes::Regex::new(s).unwrap());
    HttpProbe {
        url: "http://x/".into(),
        method: "GET".into(),
        http: crate::http_client::HttpConfig::default(),
        expect_status: expect.to_vec(),
        body_regex: re.map(pat),
        body_not_regex: not_re.map(pat),
        follow_redirects: true,
    }
}

#[test]
fn status_expectations() {
    let any2xx = probe_with(&[], None, None);
    assert_eq!(check(&any2xx, 200, b""), Ok(()));
    assert_eq!(check(&any2xx, 299, b""), Ok(()));
    let e = check(&any2xx, 301, b"").unwrap_err();
    assert_eq!(e.reason, "status 301 is not 2xx");
    assert!(!e.regex);
    assert!(check(&any2xx, 500, b"").is_err());

    let listed = probe_with(&[200, 404], None, None);
    assert_eq!(check(&listed, 404, b""), Ok(()));
    assert_eq!(
        check(&listed, 204, b"").unwrap_err().reason,
        "status 204 is not in expect_status [200, 404]"
    );
}

#[test]
fn body_regexes() {
    let p = probe_with(&[], Some("\"status\":\\s*\"ok\""), Some("(?i)maintenance"));
    assert_eq!(check(&p, 200, br#"{"status": "ok"}"#), Ok(()));
    let e = check(&p, 200, br#"{"status": "down"}"#).unwrap_err();
    assert!(e.regex);
    assert!(
        e.reason.starts_with("body does not match body_regex"),
        "{e:?}"
    );
    let e = check(&p, 200, br#"{"status": "ok", "note": "Maintenance at 5"}"#).unwrap_err();
    assert!(e.regex);
    assert_eq!(e.reason, "body matches body_not_regex \"(?i)maintenance\"");
    // A bad status is reported as such, not as a regex failure.
    let e = check(&p, 503, b"maintenance").unwrap_err();
    assert!(!e.regex);
    // Bodies need not be UTF-8.
    assert_eq!(check(&p, 200, b"\xff\xfe \"status\":\"ok\""), Ok(()));
}

fn values(fams: &[Family]) -> Vec<(String, f64)> {
    fams.iter()
        .flat_map(|f| {
            f.samples.iter().map(move |s| {
                assert_eq!(
                    s.labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                    vec![("probe", "web")]
                );
                (f.name.clone(), s.value)
            })
        })
        .collect()
}

#[test]
fn families_of_an_https_success_and_a_tcp_failure() {
    let o = Outcome {
        error: None,
        http: Some(HttpResult {
            status: 200,
            content_length: 12,
            failed_due_to_regex: false,
            ssl: true,
            cert_expiry: Some(2_524_607_999),
        }),
    };
    let got = values(&families("web", &o, Duration::from_millis(250)));
    assert_eq!(
        got,
        vec![
            ("probe_success".to_string(), 1.0),
            ("probe_duration_seconds".to_string(), 0.25),
            ("probe_http_status_code".to_string(), 200.0),
            ("probe_http_content_length".to_string(), 12.0),
            ("probe_failed_due_to_regex".to_string(), 0.0),
            ("probe_http_ssl".to_string(), 1.0),
            (
                "probe_ssl_earliest_cert_expiry".to_string(),
                2_524_607_999.0
            ),
        ]
    );
    let tcp = Outcome {
        error: Some("connection failed: refused".into()),
        http: None,
    };
    let got = values(&families("web", &tcp, Duration::from_millis(1)));
    assert_eq!(
        got,
        vec![
            ("probe_success".to_string(), 0.0),
            ("probe_duration_seconds".to_string(), 0.001),
        ]
    );
}
