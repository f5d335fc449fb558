//! The config as `/api/v1/status/config` shows it: the file's YAML re-emitted from its node
//! tree with every secret replaced by `<secret>`, as Prometheus does. Working on the tree (not
//! on the decoded structs) means a key added to the config later is shown without more code,
//! and a secret is recognised by its key wherever it sits.
//!
//! Secret: the value of a key named `password`, `bearer_token`, `api_token`, `credentials`,
//! `token`, `api_key`, `auth_password`, starting with `secret` or ending in `_password`,
//! `_token` or `_secret`; every value under a `headers` mapping (they carry `Authorization`);
//! a Slack receiver's `url` (its path is the credential); in any URL what [`url`] hides.
//! `*_file` keys show the path, never the contents.
//!
//! The same [`url`] redaction is used for every URL telltale shows anywhere, and [`Scrub`]
//! removes a request's own credentials from what its peer answers.

use super::yaml::{Node, Value};

pub const SECRET: &str = "<secret>";

fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(
        k.as_str(),
        "password"
            | "bearer_token"
            | "api_token"
            | "credentials"
            | "token"
            | "api_key"
            | "auth_password"
    ) || k.starts_with("secret")
        || k.ends_with("_password")
        || k.ends_with("_token")
        || k.ends_with("_secret")
}

/// Why a value is hidden, from the keys leading to it.
fn hidden(path: &[&str]) -> bool {
    let Some(last) = path.last() else {
        return false;
    };
    if secret_key(last) {
        return true;
    }
    let parent = path.len().checked_sub(2).map(|i| path[i]);
    parent == Some("headers") || (*last == "url" && path.contains(&"slack"))
}

/// Query parameters whose values are credentials in any URL telltale shows (matched without
/// regard to case); `global.secret_query_params` adds more.
pub const SECRET_QUERY_PARAMS: &[&str] = &[
    "access_token",
    "api_key",
    "api-key",
    "apikey",
    "auth",
    "auth_token",
    "client_secret",
    "key",
    "pass",
    "passwd",
    "password",
    "private_token",
    "secret",
    "sig",
    "signature",
    "token",
    "x-amz-credential",
    "x-amz-security-token",
    "x-amz-signature",
];

/// The configured additions to [`SECRET_QUERY_PARAMS`] (lower case), set before the running
/// state is built.
static EXTRA_PARAMS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Sets the extra secret query parameters (`global.secret_query_params`).
pub fn set_secret_params(extra: &[String]) {
    let mut w = EXTRA_PARAMS.write().unwrap_or_else(|e| e.into_inner());
    *w = extra.iter().map(|p| p.to_ascii_lowercase()).collect();
}

fn extra_params() -> Vec<String> {
    EXTRA_PARAMS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

fn secret_param(name: &str, extra: &[String]) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_QUERY_PARAMS.contains(&n.as_str()) || extra.contains(&n)
}

/// The parts of a URL that matter here: scheme and `//`, userinfo, the rest of the authority
/// and path, the query, the fragment (with its `#`).
struct Parts<'a> {
    head: &'a str,
    userinfo: Option<&'a str>,
    host_path: &'a str,
    query: Option<&'a str>,
    fragment: &'a str,
}

fn split(s: &str) -> Option<Parts<'_>> {
    let scheme_end = s.find("://")? + 3;
    if !s[..scheme_end - 3]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let rest = &s[scheme_end..];
    let (rest, fragment) = rest.split_at(rest.find('#').unwrap_or(rest.len()));
    let (before_q, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority_end = before_q.find('/').unwrap_or(before_q.len());
    let (userinfo, host_path) = match before_q[..authority_end].rfind('@') {
        Some(at) => (Some(&before_q[..at]), &before_q[at + 1..]),
        None => (None, before_q),
    };
    Some(Parts {
        head: &s[..scheme_end],
        userinfo,
        host_path,
        query,
        fragment,
    })
}

/// A URL as telltale shows it anywhere outside the process (APIs, the status page, metric
/// labels, logs, error messages): `user:password@` → `user:<secret>@`, a userinfo without a
/// password (often a token) → `<secret>@`, and the value of every secret query parameter
/// ([`SECRET_QUERY_PARAMS`], `global.secret_query_params`) → `<secret>`. Anything that is not
/// a `scheme://` URL is returned as it is.
pub fn url(s: &str) -> String {
    url_with(s, &extra_params())
}

fn url_with(s: &str, extra: &[String]) -> String {
    let Some(p) = split(s) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(p.head);
    if let Some(u) = p.userinfo {
        if let Some((user, _)) = u.split_once(':') {
            out.push_str(user);
            out.push(':');
        }
        out.push_str(SECRET);
        out.push('@');
    }
    out.push_str(p.host_path);
    if let Some(q) = p.query {
        out.push('?');
        for (i, pair) in q.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, _)) if secret_param(k, extra) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(SECRET);
                }
                _ => out.push_str(pair),
            }
        }
    }
    out.push_str(p.fragment);
    out
}

/// The credentials a URL carries (its userinfo's parts, secret query values), for [`Scrub`].
pub fn url_secrets(s: &str) -> Vec<String> {
    let Some(p) = split(s) else {
        return Vec::new();
    };
    let extra = extra_params();
    let mut out = Vec::new();
    if let Some(u) = p.userinfo {
        match u.split_once(':') {
            Some((_, pw)) => out.push(pw.to_string()),
            None => out.push(u.to_string()),
        }
    }
    for pair in p.query.unwrap_or("").split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            if secret_param(k, &extra) {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// Secrets shorter than this are not searched for in text: they would match ordinary words.
pub const MIN_SCRUBBED: usize = 4;

/// The credentials one request carried, to remove from whatever its peer answers before the
/// answer is logged or shown (an upstream that echoes request headers would otherwise leak
/// them through an error message).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrub(Vec<String>);

impl Scrub {
    pub fn add(&mut self, secret: &str) {
        let s = secret.trim();
        if s.len() >= MIN_SCRUBBED && !self.0.iter().any(|x| x == s) {
            self.0.push(s.to_string());
        }
    }

    /// `text` with every secret replaced by `<secret>`, longest first (so a secret that
    /// contains another goes whole).
    pub fn text(&self, text: &str) -> String {
        let mut by_len: Vec<&String> = self.0.iter().collect();
        by_len.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for s in by_len {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), SECRET);
            }
        }
        out
    }

    /// The start of a peer's answer for an error message: at most `max` characters, scrubbed
    /// (before the cut, so a secret across it cannot leave a prefix), control characters as
    /// spaces, trimmed; `…` marks a cut.
    pub fn excerpt(&self, body: &[u8], max: usize) -> String {
        let longest = self.0.iter().map(String::len).max().unwrap_or(0);
        let head = &body[..body.len().min(max * 4 + longest)];
        let clean = self.text(&String::from_utf8_lossy(head));
        let mut out: String = clean
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(max)
            .collect();
        out = out.trim().to_string();
        if clean.chars().count() > max || head.len() < body.len() {
            out.push('…');
        }
        out
    }
}

/// Re-emits `root` as block YAML with secrets replaced.
pub fn redacted_yaml(root: &Node) -> String {
    let mut out = String::new();
    let mut path = Vec::new();
    match &root.value {
        Value::Map(e) if !e.is_empty() => emit_map(&mut out, e, 0, &mut path),
        Value::Seq(s) if !s.is_empty() => emit_seq(&mut out, s, 0, &mut path),
        _ => {
            emit_inline(&mut out, root, &path);
            out.push('\n');
        }
    }
    out
}

fn plain_ok(s: &str) -> bool {
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.'));
    first_ok
        && !s.ends_with(':')
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | '+' | ':' | '=' | ',')
        })
        && !s.contains(": ")
}

fn scalar_text(s: &str, quoted: bool) -> String {
    if !quoted && plain_ok(s) {
        s.to_string()
    } else {
        // A JSON string is a valid double-quoted YAML scalar.
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

/// A scalar, null, or an empty collection on the current line.
fn emit_inline(out: &mut String, n: &Node, path: &[&str]) {
    match &n.value {
        Value::Null => out.push_str("null"),
        Value::Scalar(s, quoted) => {
            if hidden(path) {
                out.push_str(SECRET);
            } else if url(s) != *s {
                out.push_str(&scalar_text(&url(s), true));
            } else {
                out.push_str(&scalar_text(s, *quoted));
            }
        }
        Value::Seq(_) => out.push_str("[]"),
        Value::Map(_) => out.push_str("{}"),
    }
}

fn is_block(n: &Node) -> bool {
    matches!(&n.value, Value::Seq(s) if !s.is_empty())
        || matches!(&n.value, Value::Map(m) if !m.is_empty())
}

fn emit_map<'n>(
    out: &mut String,
    entries: &'n [(Node, Node)],
    indent: usize,
    path: &mut Vec<&'n str>,
) {
    for (i, (k, v)) in entries.iter().enumerate() {
        // The first entry of a map in a sequence item follows its "- ".
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        let key = k.scalar().unwrap_or("");
        out.push_str(&scalar_text(key, false));
        out.push(':');
        path.push(key);
        if hidden(path) && is_block(v) {
            out.push(' ');
            out.push_str(SECRET);
            out.push('\n');
        } else {
            match &v.value {
                Value::Map(m) if !m.is_empty() => {
                    out.push('\n');
                    emit_map(out, m, indent + 2, path);
                }
                Value::Seq(s) if !s.is_empty() => {
                    out.push('\n');
                    emit_seq(out, s, indent, path);
                }
                _ => {
                    out.push(' ');
                    emit_inline(out, v, path);
                    out.push('\n');
                }
            }
        }
        path.pop();
    }
}

fn emit_seq<'n>(out: &mut String, items: &'n [Node], indent: usize, path: &mut Vec<&'n str>) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match &item.value {
            Value::Map(m) if !m.is_empty() => emit_map(out, m, indent + 2, path),
            Value::Seq(s) if !s.is_empty() => {
                out.push('\n');
                emit_seq(out, s, indent + 2, path);
            }
            _ => {
                emit_inline(out, item, path);
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn show(text: &str) -> String {
        redacted_yaml(&yaml::parse("t", text).unwrap())
    }

    #[test]
    fn secrets_are_replaced_wherever_they_sit() {
        let got = show(
            "zabbix:\n  - url: http://z/api\n    username: u\n    password: hunter2\n    api_token_file: /t\njson_targets:\n  - name: a\n    bearer_token: abc\n    headers: {Authorization: Bearer xyz}\n    basic_auth: {username: me, password: 'p w'}\nalerting:\n  slack:\n    - name: s\n      url: https://hooks.example/T0/B0/XXXX\n",
        );
        for leaked in ["hunter2", "abc", "xyz", "p w", "XXXX"] {
            assert!(!got.contains(leaked), "{leaked} shown in:\n{got}");
        }
        assert!(got.contains("password: <secret>"), "{got}");
        assert!(got.contains("api_token_file: /t"), "{got}");
        assert!(got.contains("username: me"), "{got}");
        assert!(got.contains("url: http://z/api"), "{got}");
        // What comes out is YAML again, with the same shape.
        let back = yaml::parse("t", &got).unwrap();
        let Value::Map(top) = &back.value else {
            panic!()
        };
        assert_eq!(top.len(), 3);
    }

    #[test]
    fn url_passwords_and_tokens_are_hidden() {
        assert_eq!(
            url("https://u:pw@h:9/p?q=a@b"),
            "https://u:<secret>@h:9/p?q=a@b"
        );
        assert_eq!(url("https://h/p?x=a:b@c"), "https://h/p?x=a:b@c");
        assert_eq!(url("https://ghp_tok@h/"), "https://<secret>@h/");
        assert_eq!(
            url("http://h/api?apikey=K1&x=1&Token=T2&access_token=&q=token#frag"),
            "http://h/api?apikey=<secret>&x=1&Token=<secret>&access_token=<secret>&q=token#frag"
        );
        assert_eq!(url("not a url: token=x"), "not a url: token=x");
        assert_eq!(url("h:9100"), "h:9100");
        assert_eq!(
            url_secrets("http://u:pw12@h/?apikey=K1&a=b"),
            vec!["pw12", "K1"]
        );
        assert!(show("datasource: {url: 'http://a:b@h/?token=zz'}\n")
            .contains("http://a:<secret>@h/?token=<secret>"));
    }

    #[test]
    fn configured_params_are_hidden_too() {
        // (The process-wide list is set by config decoding, which other tests run at once.)
        let u = "http://h/?SessionId=abc";
        assert_eq!(url_with(u, &[]), u);
        assert_eq!(
            url_with(u, &["sessionid".into()]),
            "http://h/?SessionId=<secret>"
        );
    }

    #[test]
    fn answers_are_scrubbed_and_cut() {
        let mut s = Scrub::default();
        for x in ["hunter22", "dXNlcjpodW50ZXIyMg==", "abc", "hunter22"] {
            s.add(x);
        }
        let body = b"echo: Authorization: Basic dXNlcjpodW50ZXIyMg==\r\nX-Pass: hunter22 ";
        assert_eq!(
            s.excerpt(body, 200),
            "echo: Authorization: Basic <secret>  X-Pass: <secret>"
        );
        // "abc" is too short to look for.
        assert_eq!(s.text("abcdef"), "abcdef");
        let long = format!("{}hunter22", "x".repeat(10));
        assert_eq!(s.excerpt(long.as_bytes(), 12), "xxxxxxxxxx<s…");
        assert_eq!(s.excerpt(&[0xff, b'o', b'k'], 10), "\u{fffd}ok");
    }

    #[test]
    fn scalars_round_trip() {
        let text = "a: '1'\nb: 1\nc: \"x: y\"\nd: ''\ne: null\nf: [1, [2, 3], {g: h}]\nh: {}\ni: \"multi\\nline\"\n";
        let src = yaml::parse("t", text).unwrap();
        let out = redacted_yaml(&src);
        let back = yaml::parse("t", &out).unwrap();
        fn strip(n: &Node) -> String {
            match &n.value {
                Value::Null => "~".into(),
                Value::Scalar(s, q) => format!("{s}/{q}"),
                Value::Seq(v) => format!("[{}]", v.iter().map(strip).collect::<Vec<_>>().join(",")),
                Value::Map(m) => format!(
                    "{{{}}}",
                    m.iter()
                        .map(|(k, v)| format!("{}={}", strip(k), strip(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            }
        }
        assert_eq!(strip(&back), strip(&src), "{out}");
    }
}
