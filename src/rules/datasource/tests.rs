//! Datasource client: answers recorded from a real Prometheus 2.42 (tests/fixtures/promapi), the
//! `datasource:` decoder, and the request on the wire against a loopback server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{check_url, decode, http_error, parse_response, seconds, Datasource, DatasourceConfig};
use crate::config::yaml;
use crate::config::yaml::Decoder;
use crate::promql::Sample;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/promapi/", $name))
    };
}

fn labels(s: &Sample) -> Vec<(&str, &str)> {
    s.labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn a_recorded_vector_decodes_with_sorted_labels() {
    let got = parse_response(fixture!("vector.json")).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        labels(&got[0]),
        [
            ("__name__", "up"),
            ("instance", "127.0.0.1:19390"),
            ("job", "prometheus")
        ]
    );
    assert_eq!(got[0].value, 1.0);
    let info = parse_response(fixture!("vector_build_info.json")).unwrap();
    let names: Vec<&str> = info[0].labels.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(
        names.contains(&"goversion") && names.len() == 9,
        "{names:?}"
    );
}

#[test]
fn an_empty_vector_is_no_samples() {
    assert_eq!(parse_response(fixture!("vector_empty.json")).unwrap(), []);
}

#[test]
fn nan_and_infinities_are_values() {
    let got = parse_response(fixture!("vector_special_values.json")).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got[0].value.is_nan() && got[0].labels.is_empty());
    assert_eq!(
        (labels(&got[1]), got[1].value),
        (vec![("k", "pos")], f64::INFINITY)
    );
    assert_eq!(got[2].value, f64::NEG_INFINITY);
}

#[test]
fn a_scalar_is_one_sample_without_labels() {
    assert_eq!(
        parse_response(fixture!("scalar.json")).unwrap(),
        [Sample {
            labels: vec![],
            value: 1.0
        }]
    );
}

#[test]
fn strings_and_matrices_are_errors() {
    for (body, kind) in [
        (fixture!("string.json"), "string"),
        (fixture!("matrix.json"), "matrix"),
    ] {
        assert_eq!(
            parse_response(body).unwrap_err(),
            format!("query returned a {kind}; a rule needs a vector or a scalar")
        );
    }
}

#[test]
fn warnings_are_ignored() {
    let got = parse_response(fixture!("vector_with_warnings.json")).unwrap();
    assert_eq!((got.len(), got[0].value), (1, 1.0));
}

#[test]
fn error_bodies_give_the_servers_message() {
    assert_eq!(
        parse_response(fixture!("error_parse_400.json")).unwrap_err(),
        "bad_data: invalid parameter \"query\": 1:7: parse error: unclosed left parenthesis"
    );
    assert_eq!(
        http_error(422, fixture!("error_regex_422.json")),
        "HTTP 422: execution: invalid regular expression in label_replace(): ("
    );
    assert!(http_error(422, fixture!("error_many_to_many_422.json"))
        .starts_with("HTTP 422: execution: found duplicate series for the match group"));
    assert_eq!(
        http_error(400, fixture!("error_type_400.json")),
        "HTTP 400: bad_data: invalid parameter \"query\": 1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
    );
    assert_eq!(
        http_error(503, fixture!("error_timeout_503.json")),
        "HTTP 503: timeout: query timed out in query execution"
    );
    // Not the API's JSON (a wrong path prefix): the body itself, on one line.
    assert_eq!(
        http_error(404, fixture!("not_found_404.txt")),
        "HTTP 404: 404 page not found"
    );
    assert_eq!(http_error(502, ""), "HTTP 502: (empty body)");
}

#[test]
fn malformed_answers_are_errors() {
    for (body, want) in [
        ("<html>", "cannot decode response"),
        (r#"{"status":"success"}"#, "response has no data"),
        (
            r#"{"status":"weird"}"#,
            "unexpected response status \"weird\"",
        ),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
            "bad sample value \"x\"",
        ),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}"#,
            "native histogram samples are not supported",
        ),
        (
            r#"{"status":"success","data":{"resultType":"table","result":[]}}"#,
            "unknown result type \"table\"",
        ),
    ] {
        let e = parse_response(body).unwrap_err();
        assert!(e.starts_with(want), "{body}: {e}");
    }
}

#[test]
fn times_are_seconds_with_milliseconds() {
    assert_eq!(seconds(1_795_616_148_194), "1795616148.194");
    assert_eq!(seconds(5), "0.005");
    assert_eq!(seconds(-1500), "-2.500");
}

fn decoded(text: &str) -> (Option<DatasourceConfig>, Vec<String>) {
    let root = yaml::parse("d.yml", text).unwrap();
    let mut d = Decoder::new("d.yml");
    let c = decode(&mut d, &root, "datasource");
    (c, d.diags.iter().map(|x| x.to_string()).collect())
}

#[test]
fn decodes_url_timeout_auth_and_headers() {
    let (c, e) = decoded(
        "url: http://127.0.0.1:9090/prom/\ntimeout: 3s\nbasic_auth: {username: u, password: p}\nheaders: {X-Scope-OrgID: t1}\n",
    );
    assert!(e.is_empty(), "{e:?}");
    let c = c.unwrap();
    assert_eq!(c.url, "http://127.0.0.1:9090/prom");
    assert_eq!(c.endpoint(), "http://127.0.0.1:9090/prom/api/v1/query");
    assert_eq!(c.http.timeout, Duration::from_secs(3));
    assert_eq!(c.http.basic_auth, Some(("u".into(), "p".into())));
    assert_eq!(c.http.headers, [("X-Scope-OrgID".into(), "t1".into())]);
    let (c, _) = decoded("url: https://prom.example\n");
    let c = c.unwrap();
    assert_eq!(
        (c.url.as_str(), c.http.timeout),
        ("https://prom.example", super::DEFAULT_TIMEOUT)
    );
}

#[test]
fn bad_datasource_values_are_positioned_errors() {
    let cases: [(&str, &[&str]); 7] = [
        ("timeout: 1s\n", &["d.yml:1:1: datasource: datasource needs a url"]),
        (
            "url: ftp://h:21\n",
            &["d.yml:1:6: datasource.url: URL scheme must be http or https, not \"ftp\" (want http://host:port[/prefix] or https://…)"],
        ),
        (
            "url: 'localhost:9090'\n",
            &["d.yml:1:6: datasource.url: URL scheme must be http or https, not \"localhost\" (want http://host:port[/prefix] or https://…)"],
        ),
        (
            "url: http://h/?a=b\n",
            &["d.yml:1:6: datasource.url: URL \"http://h/?a=b\" must not have a query or fragment (want http://host:port[/prefix] or https://…)"],
        ),
        (
            "url: http://h\ntimeout: 0s\n",
            &["d.yml:2:10: datasource.timeout: must be greater than 0"],
        ),
        (
            "url: http://h\ntimeout: 10\n",
            &["d.yml:2:10: datasource.timeout: not a valid duration string: \"10\""],
        ),
        (
            "url: http://h\nusername: u\n",
            &["d.yml:2:1: datasource: unknown field \"username\" in datasource"],
        ),
    ];
    for (text, want) in cases {
        let (c, e) = decoded(text);
        assert_eq!(e, want, "{text}");
        assert!(c.is_none());
    }
    let (_, e) = decoded("url: http://h\nbearer_token: t\nbearer_token_file: f\n");
    assert_eq!(
        e,
        ["d.yml:2:15: datasource.bearer_token: at most one of bearer_token and bearer_token_file may be set"]
    );
    let (_, e) = decoded("url: http://h\nbearer_token: t\nbasic_auth: {username: u}\n");
    assert!(
        e[0].contains("at most one of basic_auth and bearer_token"),
        "{e:?}"
    );
    assert!(check_url("http://[::1]:9090").is_ok());
    assert!(check_url("not a url")
        .unwrap_err()
        .starts_with("invalid URL"));
}

#[test]
fn secrets_come_from_files() {
    let dir = std::env::temp_dir().join(format!("telltale-ds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (tok, pass) = (dir.join("token"), dir.join("pass"));
    std::fs::write(&tok, "t0k\n").unwrap();
    std::fs::write(&pass, "s3cret\n").unwrap();
    let (c, e) = decoded(&format!(
        "url: http://h\nbearer_token_file: {}\n",
        tok.display()
    ));
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(c.unwrap().http.bearer_token.as_deref(), Some("t0k"));
    let text = format!(
        "url: http://h\nbasic_auth: {{username: u, password_file: {}}}\n",
        pass.display()
    );
    let (c, e) = decoded(&text);
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(
        c.unwrap().http.basic_auth,
        Some(("u".into(), "s3cret".into()))
    );
}

/// What the loopback server saw: the form pairs and the Authorization header.
type Seen = Arc<Mutex<Vec<(Vec<(String, String)>, Option<String>)>>>;

/// A loopback server answering `status` and `body` on `/prefix/api/v1/query`.
async fn serve(status: u16, body: &'static str) -> (String, Seen) {
    use axum::http::{HeaderMap, StatusCode};
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/prefix/api/v1/query",
        axum::routing::post(move |headers: HeaderMap, form: String| {
            let s = s.clone();
            async move {
                let url = reqwest::Url::parse(&format!("http://x/?{form}")).unwrap();
                let pairs = url.query_pairs().into_owned().collect();
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string());
                s.lock().unwrap().push((pairs, auth));
                (StatusCode::from_u16(status).unwrap(), body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/prefix"), seen)
}

fn config(url: &str) -> DatasourceConfig {
    let (c, e) = decoded(&format!("url: {url}\ntimeout: 2s\nbearer_token: abc\n"));
    assert!(e.is_empty(), "{e:?}");
    c.unwrap()
}

#[tokio::test]
async fn query_posts_the_form_and_decodes_the_answer() {
    let (url, seen) = serve(200, fixture!("vector.json")).await;
    let ds = Datasource::new(&config(&url)).unwrap();
    let got = ds.query("up == 1", 1_795_616_148_194).await.unwrap();
    assert_eq!(got[0].value, 1.0);
    let seen = seen.lock().unwrap();
    let (pairs, auth) = &seen[0];
    let want: Vec<(String, String)> = [
        ("query", "up == 1"),
        ("time", "1795616148.194"),
        ("timeout", "2.000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(pairs, &want);
    assert_eq!(auth.as_deref(), Some("Bearer abc"));
}

#[tokio::test]
async fn query_reports_the_servers_error_and_transport_failures() {
    let (url, _) = serve(422, fixture!("error_regex_422.json")).await;
    let ds = Datasource::new(&config(&url)).unwrap();
    assert_eq!(
        ds.query("x", 0).await.unwrap_err(),
        format!("POST {url}/api/v1/query: HTTP 422: execution: invalid regular expression in label_replace(): (")
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ds = Datasource::new(&config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let e = ds.query("up", 0).await.unwrap_err();
    assert!(
        e.starts_with(&format!(
            "POST http://127.0.0.1:{port}/api/v1/query: connection failed"
        )),
        "{e}"
    );
}

/// A rule's `lastError` quotes the server: never the request's credentials.
#[tokio::test]
async fn errors_show_neither_url_credentials_nor_echoed_tokens() {
    let port = crate::http_client::testkit::echo_server().await;
    let (c, e) = decoded(&format!(
        "url: 'http://127.0.0.1:{port}/'\nheaders: {{X-Scope-OrgID: tenant-secret-1}}\nbearer_token: bearer-secret-2\n"
    ));
    assert!(e.is_empty(), "{e:?}");
    let ds = Datasource::new(&c.unwrap()).unwrap();
    let err = ds.query("up", 1_000).await.unwrap_err();
    assert!(
        err.contains("HTTP 500") && err.contains("<secret>"),
        "{err}"
    );
    for s in ["tenant-secret-1", "bearer-secret-2"] {
        assert!(!err.contains(s), "{s} in {err}");
    }
    let e = check_url("http://u:hunter2@h/?x=1").unwrap_err();
    assert!(!e.contains("hunter2"), "{e}");
}
