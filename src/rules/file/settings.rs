//! The config's `rule_files` and `rules:` section, and turning them (plus `--rules`) into loaded
//! rule files. Relative paths are relative to the config file's directory, as in Prometheus.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::globs;
use super::RuleFile;
use crate::config::yaml::{Decoder, Node};
use crate::rules::file;

/// The shipped default rules, used by `run` without `--config` (and without `--rules`).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "<embedded>/rules/host.yml",
        include_str!("../../../rules/host.yml"),
    ),
    (
        "<embedded>/rules/applications.yml",
        include_str!("../../../rules/applications.yml"),
    ),
    (
        "<embedded>/rules/zabbix.yml",
        include_str!("../../../rules/zabbix.yml"),
    ),
];

#[derive(Clone, Debug, PartialEq)]
pub struct RulesConfig {
    /// `rule_files`: paths or globs.
    pub files: Vec<String>,
    /// Where alert state is kept across restarts; none = not kept.
    pub state_file: Option<PathBuf>,
    /// Saved state older than this is ignored on start (`--rules.alert.for-outage-tolerance`).
    pub outage_tolerance: Duration,
    /// Prometheus' `--rules.alert.for-grace-period`; 0 keeps `for` exactly across restarts.
    pub grace_period: Duration,
    /// Config-wide datasource: groups without their own `datasource` are evaluated remotely.
    pub datasource: Option<crate::rules::datasource::DatasourceConfig>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            files: Vec::new(),
            state_file: None,
            outage_tolerance: Duration::from_secs(3600),
            grace_period: Duration::ZERO,
            datasource: None,
        }
    }
}

/// Decodes the `rules:` section into `into` (`rule_files` is decoded by the caller).
pub fn decode(d: &mut Decoder, n: &Node, into: &mut RulesConfig) {
    let Some(mut f) = d.map(n, "rules") else {
        return;
    };
    if let Some(v) = f.get("state_file") {
        into.state_file = d.string(v, &f.at("state_file")).map(PathBuf::from);
    }
    for (key, slot) in [
        ("for_outage_tolerance", &mut into.outage_tolerance),
        ("for_grace_period", &mut into.grace_period),
    ] {
        if let Some(v) = f.get(key) {
            if let Some(dur) = d.duration(v, &f.at(key)) {
                *slot = dur;
            }
        }
    }
    if let Some(v) = f.get("datasource") {
        into.datasource = crate::rules::datasource::decode(d, v, &f.at("datasource"));
    }
    f.finish(d, "rules");
}

/// Loads every rule file named by `patterns` (relative to `base`), every problem at once as
/// `file:line:col: ...` lines.
/// With `remote_default`, groups without their own datasource use the config-wide one.
pub fn load_files(
    base: &Path,
    patterns: &[String],
    remote_default: bool,
) -> Result<Vec<RuleFile>, Vec<String>> {
    let (mut files, mut errors) = (Vec::new(), Vec::new());
    let mut seen = Vec::new();
    for p in patterns {
        match globs::resolve(base, p) {
            Ok(paths) => {
                for path in paths {
                    if seen.contains(&path) {
                        continue;
                    }
                    match file::load_with(&path, remote_default) {
                        Ok(rf) => files.push(rf),
                        Err(diags) => errors.extend(diags.iter().map(|d| d.to_string())),
                    }
                    seen.push(path);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// The shipped rules compiled into the binary.
pub fn embedded() -> Vec<RuleFile> {
    EMBEDDED
        .iter()
        .filter_map(|(name, text)| file::parse(name, text).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_rules_compiled_in_are_valid() {
        for (name, text) in EMBEDDED {
            assert!(file::parse(name, text).is_ok(), "{name} does not load");
        }
    }

    #[test]
    fn every_bad_file_is_reported() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
        let errs = load_files(
            &base,
            &["fail/bad.rules.yml".into(), "missing.yml".into()],
            false,
        )
        .unwrap_err();
        assert!(errs.len() >= 2, "{errs:?}");
        assert!(errs[0].contains("bad.rules.yml:"), "{errs:?}");
        assert!(errs.last().unwrap().contains("missing.yml does not exist"));
        assert!(
            load_files(&base, &["*.rules.yml".into()], false)
                .unwrap()
                .len()
                >= 3
        );
    }
}
