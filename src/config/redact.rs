//! The config as `/api/v1/status/config` shows it: the file's YAML re-emitted from its node
//! tree with every secret replaced by `<secret>`, as Prometheus does. Working on the tree (not
//! on the decoded structs) means a key added to the config later is shown without more code,
//! and a secret is recognised by its key wherever it sits.
//!
//! Secret: the value of a key named `password`, `bearer_token`, `api_token`, `credentials`,
//! `token`, `api_key`, `auth_password`, starting with `secret` or ending in `_password`,
//! `_token` or `_secret`; every value under a `headers` mapping (they carry `Authorization`);
//! a Slack receiver's `url` (its path is the credential); the password in any
//! `scheme://user:password@host` URL. `*_file` keys show the path, never the contents.

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

/// `http://user:pass@host/` → `http://user:<secret>@host/`.
fn redact_userinfo(s: &str) -> Option<String> {
    let scheme_end = s.find("://")? + 3;
    let rest = &s[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let colon = rest[..at].find(':')?;
    Some(format!(
        "{}{}{}{}",
        &s[..scheme_end],
        &rest[..=colon],
        SECRET,
        &rest[at..]
    ))
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
            } else if let Some(r) = redact_userinfo(s) {
                out.push_str(&scalar_text(&r, true));
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
    fn url_passwords_are_hidden() {
        assert_eq!(
            redact_userinfo("https://u:pw@h:9/p?q=a@b").as_deref(),
            Some("https://u:<secret>@h:9/p?q=a@b")
        );
        assert_eq!(redact_userinfo("https://h/p?x=a:b@c"), None);
        assert!(show("datasource: {url: 'http://a:b@h/'}\n").contains("http://a:<secret>@h/"));
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
