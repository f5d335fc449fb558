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
