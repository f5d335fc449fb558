//! `os`: the OS identification of os-release(5) (`<rootfs>/etc/os-release`, else
//! `<rootfs>/usr/lib/os-release`), as node_exporter 1.5: `node_os_info` with its 12 labels and
//! `node_os_version` (the major.minor of VERSION_ID).

use std::collections::BTreeMap;

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("os", true);

/// The os-release keys node_exporter exports, with their label names, sorted by label.
const KEYS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

/// Parses `KEY=value` lines; values may be double- or single-quoted, with backslash escapes in
/// double quotes. Comments, blank and malformed lines are skipped.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let value = if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            let mut s = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => s.extend(chars.next()),
                    c => s.push(c),
                }
            }
            s
        } else if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            inner.to_string()
        } else {
            v.to_string()
        };
        out.insert(k.trim().to_string(), value);
    }
    out
}

/// The leading `major[.minor]` of a VERSION_ID, as a number.
pub fn major_minor(version_id: &str) -> Option<f64> {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let major = digits(version_id);
    if major == 0 {
        return None;
    }
    let mut end = major;
    if version_id[major..].starts_with('.') {
        end = major + 1 + digits(&version_id[major + 1..]);
    }
    version_id[..end].trim_end_matches('.').parse().ok()
}

pub fn families(rel: &BTreeMap<String, String>) -> Vec<Family> {
    let get = |k: &str| rel.get(k).map_or("", |v| v.as_str());
    let labels: Vec<(&str, &str)> = KEYS.iter().map(|(l, k)| (*l, get(k))).collect();
    let help = format!(
        "A metric with a constant '1' value labeled by {}.",
        KEYS.map(|(l, _)| l).join(", ")
    );
    let mut out = vec![Family::gauge("node_os_info", help).with(&labels, 1.0)];
    if let Some(v) = major_minor(get("VERSION_ID")) {
        out.push(
            Family::gauge(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
            )
            .with(
                &[
                    ("id", get("ID")),
                    ("id_like", get("ID_LIKE")),
                    ("name", get("NAME")),
                ],
                v,
            ),
        );
    }
    out
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let text = read(&paths.root("/etc/os-release"))
        .or_else(|_| read(&paths.root("/usr/lib/os-release")))?;
    out.extend(families(&parse(&text)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_versions() {
        let r = parse("NAME=\"Deb \\\"x\\\"\"\nID=debian\n# c\nVERSION_ID='22.04'\nbad\n");
        assert_eq!(r["NAME"], "Deb \"x\"");
        assert_eq!(r["VERSION_ID"], "22.04");
        assert_eq!(major_minor("22.04.3"), Some(22.04));
        assert_eq!(major_minor("12"), Some(12.0));
        assert_eq!(major_minor("rolling"), None);
        let f = families(&r);
        assert_eq!(f[1].samples[0].value, 22.04);
        assert_eq!(f[0].samples[0].labels.len(), 12);
    }
}
