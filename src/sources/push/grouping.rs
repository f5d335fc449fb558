//! The grouping key of a Pushgateway-style URL, `/metrics/job/<job>{/<label>/<value>}`, with
//! pushgateway's `@base64` form for values a path cannot carry (`/`, or an empty value):
//! `/metrics/job@base64/<b64>/path@base64/L3Zhci90bXA`, URL-safe alphabet, `=` padding optional.
//! Each path component is percent-decoded on its own, so `%2F` inside a value stays a `/`.

use base64::Engine;

use crate::model::Labels;

/// The labels of one push group: `job` and the others, sorted by name. Empty values are
/// left out (pushgateway puts `/job/a/instance/` and `/job/a` in the same group).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey(pub Labels);

impl GroupKey {
    pub fn job(&self) -> &str {
        self.get("job").unwrap_or("")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `job="a",instance="b"` (sorted, quotes and backslashes escaped): stable and unambiguous,
    /// for the store's source id and messages.
    pub fn display(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            for c in v.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        out
    }
}

/// A label name as pushgateway accepts it in a grouping key: a Prometheus label name that does
/// not start with the reserved `__`.
pub fn is_group_label(name: &str) -> bool {
    crate::model::labels::is_label_name(name) && !name.starts_with("__")
}

/// Parses what follows `/metrics/` in a push URL (still percent-encoded).
pub fn parse(path: &str) -> Result<GroupKey, String> {
    let parts: Vec<String> = path.split('/').map(percent_decode).collect();
    if !parts.len().is_multiple_of(2) {
        return Err(format!(
            "odd number of components in the grouping key {path:?}: every label needs a value"
        ));
    }
    let mut labels: Labels = Vec::new();
    for pair in parts.chunks(2) {
        let (raw_name, raw_value) = (&pair[0], &pair[1]);
        let (name, value) = match raw_name.strip_suffix("@base64") {
            Some(n) => (n, decode_base64(n, raw_value)?),
            None => (raw_name.as_str(), raw_value.clone()),
        };
        if labels.is_empty() && name != "job" {
            return Err(format!(
                "the grouping key must start with job, not {name:?}"
            ));
        }
        if !is_group_label(name) {
            return Err(format!("improper label name {name:?} in the grouping key"));
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name:?} given twice in the grouping key"));
        }
        labels.push((name.to_string(), value));
    }
    if labels.first().is_none_or(|(_, job)| job.is_empty()) {
        return Err("job name is required".into());
    }
    labels.retain(|(_, v)| !v.is_empty());
    labels.sort();
    Ok(GroupKey(labels))
}

fn decode_base64(name: &str, value: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|e| format!("invalid base64 encoding for label {name}={value:?}: {e}"))?;
    String::from_utf8(bytes)
        .map_err(|_| format!("label {name}: the base64 value is not valid UTF-8"))
}

/// `%XX` escapes decoded; anything malformed is kept as written.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> GroupKey {
        GroupKey(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn plain_and_base64_forms() {
        assert_eq!(
            parse("job/j1/instance/i1").unwrap(),
            key(&[("instance", "i1"), ("job", "j1")])
        );
        // "hello/world" and an empty value, as the Python client and pushgateway's docs write them.
        assert_eq!(
            parse("job@base64/aGVsbG8vd29ybGQ/path@base64/=").unwrap(),
            key(&[("job", "hello/world")])
        );
        assert_eq!(
            parse("job/j/b@base64/d3d3").unwrap(),
            key(&[("b", "www"), ("job", "j")])
        );
        // Padded and URL-safe characters ("?>" is "Pz4" in URL-safe base64).
        assert_eq!(parse("job/j/x@base64/Pz4=").unwrap().get("x"), Some("?>"));
        assert_eq!(parse("job/a%2Fb").unwrap().job(), "a/b");
        assert_eq!(parse("job/a/instance/").unwrap(), key(&[("job", "a")]));
    }

    #[test]
    fn malformed_keys_are_refused_with_a_reason() {
        let err = |p: &str| parse(p).unwrap_err();
        assert!(
            err("job/j6/a").contains("odd number"),
            "{}",
            err("job/j6/a")
        );
        assert!(err("job/j6/__bad/1").contains("improper label name \"__bad\""));
        assert!(err("job/j6/a-b/1").contains("improper label name"));
        assert!(err("job/j/b@base64/!!").contains("invalid base64"));
        assert!(err("job/j/b@base64/_w").contains("not valid UTF-8"));
        assert!(err("job/j/job/k").contains("given twice"));
        assert!(err("instance/i/job/j").contains("must start with job"));
        assert_eq!(err("job@base64/="), "job name is required");
    }

    #[test]
    fn display_is_escaped_and_sorted() {
        let k = parse("job/j/z/a%22b").unwrap();
        assert_eq!(k.display(), r#"job="j",z="a\"b""#);
    }
}
