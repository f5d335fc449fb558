//! Decoding helpers that several sections share: the `global:` defaults, secrets given inline or
//! in a file, positive durations and counts, URLs. They know how a value is written, never which
//! component reads it.

use std::time::Duration;

use super::yaml::{Decoder, Fields};

#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub evaluation_interval: Duration,
    pub external_labels: Vec<(String, String)>,
    /// Query parameters hidden in every URL shown, beyond `redact::SECRET_QUERY_PARAMS`.
    pub secret_query_params: Vec<String>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            scrape_interval: Duration::from_secs(15),
            scrape_timeout: Duration::from_secs(10),
            evaluation_interval: Duration::from_secs(15),
            external_labels: Vec::new(),
            secret_query_params: Vec::new(),
        }
    }
}

/// A secret given inline as `KEY` or in a file as `KEY_file` (trailing newline dropped).
pub fn secret(d: &mut Decoder, f: &mut Fields, key: &str) -> Option<String> {
    let file_key = format!("{key}_file");
    let inline = f.get(key);
    let file = f.get(&file_key);
    match (inline, file) {
        (Some(a), Some(_)) => {
            d.error(
                a.pos,
                &f.at(key),
                format!("at most one of {key} and {file_key} may be set"),
            );
            None
        }
        (Some(n), None) => d.string(n, &f.at(key)),
        (None, Some(n)) => {
            let path = d.string(n, &f.at(&file_key))?;
            match std::fs::read_to_string(&path) {
                Ok(s) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
                Err(e) => {
                    d.error(n.pos, &f.at(&file_key), format!("cannot read {path}: {e}"));
                    None
                }
            }
        }
        (None, None) => None,
    }
}

pub fn check_url(u: &str) -> Result<(), String> {
    match reqwest::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => Ok(()),
        Ok(_) => Err(format!("not an http(s) URL: {:?}", super::redact::url(u))),
        Err(e) => Err(format!("invalid URL {:?}: {e}", super::redact::url(u))),
    }
}

pub fn positive_duration(d: &mut Decoder, f: &mut Fields, key: &str) -> Option<Duration> {
    let v = f.get(key)?;
    let dur = d.duration(v, &f.at(key))?;
    if dur.is_zero() {
        d.error(v.pos, &f.at(key), "must be greater than 0");
        return None;
    }
    Some(dur)
}

/// A count that must be above 0, written into `into` when given and valid.
pub fn positive_count(d: &mut Decoder, f: &mut Fields, key: &str, into: &mut usize) {
    if let Some(v) = f.get(key) {
        match d.u64(v, &f.at(key)) {
            Some(0) => d.error(v.pos, &f.at(key), "must be greater than 0"),
            Some(x) => *into = x as usize,
            None => {}
        }
    }
}

/// The URL (required, http or https), with its node for positions.
pub fn required_url(d: &mut Decoder, f: &mut Fields, what: &str) -> Option<String> {
    let Some(v) = f.get("url") else {
        d.error(f.pos, &f.path, format!("{what} needs a url"));
        return None;
    };
    let u = d.string(v, &f.at("url"))?;
    match check_url(&u) {
        Ok(()) => Some(u),
        Err(e) => {
            d.error(v.pos, &f.at("url"), e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    #[test]
    fn secrets_come_inline_or_from_a_file() {
        let dir = std::env::temp_dir().join(format!("telltale-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pass");
        std::fs::write(&file, "hunter2\n").unwrap();
        let text = format!("password_file: {}\n", file.display());
        let root = yaml::parse("s", &text).unwrap();
        let mut d = Decoder::new("s");
        let mut f = d.map(&root, "").unwrap();
        assert_eq!(
            secret(&mut d, &mut f, "password").as_deref(),
            Some("hunter2")
        );
        let root = yaml::parse("s", "password: a\npassword_file: b\n").unwrap();
        let mut f = d.map(&root, "").unwrap();
        assert_eq!(secret(&mut d, &mut f, "password"), None);
        assert!(d.diags[0].msg.contains("at most one"));
    }
}
