//! Label sets: sorted `(name, value)` pairs, the helpers that keep them sorted, and the one check
//! of label and metric names that every decoder and the query engine use.

/// The reserved label holding a series' metric name.
pub const NAME: &str = "__name__";

/// A label set, sorted by name; names are unique.
pub type Labels = Vec<(String, String)>;

/// Label helpers over the sorted `Vec<(name, value)>` representation.
pub fn get<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .binary_search_by(|(k, _)| k.as_str().cmp(name))
        .ok()
        .map(|i| labels[i].1.as_str())
}

/// Sets a label; an empty value deletes it (an empty label is the same as none in Prometheus).
pub fn set(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value.to_string())),
    }
}

pub fn del(labels: &mut Labels, name: &str) {
    labels.retain(|(k, _)| k != name);
}

pub fn drop_name(mut labels: Labels) -> Labels {
    del(&mut labels, NAME);
    labels
}

/// `{a="x", b="y"}` for error messages.
pub fn fmt_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// A valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A metric name as Prometheus 2 accepts it: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A label set from pairs in any order, sorted (tests write label sets this way).
#[cfg(test)]
pub fn sorted(pairs: &[(&str, &str)]) -> Labels {
    let mut v: Labels = (pairs.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}
