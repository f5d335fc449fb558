//! Rule-file paths as `rule_files` and `--rules` give them: relative to a base directory, with
//! `*` and `?` wildcards in the file name (as promtool's tests and Prometheus' config use them).

use std::path::{Path, PathBuf};

/// A rule-file path relative to `base`; `*` and `?` in the last component are globs (a glob
/// matching nothing is no error, a missing literal path is).
pub fn resolve(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let full = base.join(pattern);
    let fname = full
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !fname.contains(['*', '?']) {
        return if full.exists() {
            Ok(vec![full])
        } else {
            Err(format!("rule file {} does not exist", full.display()))
        };
    }
    let dir = full.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| wildcard(&fname, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

fn wildcard(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && m(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
        }
    }
    m(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.yml", "a.yml"));
        assert!(wildcard("a?c*", "abcdef"));
        assert!(!wildcard("*.yml", "a.yaml"));
    }

    #[test]
    fn literal_paths_must_exist_and_globs_may_match_nothing() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
        assert!(resolve(&dir, "no-such.yml").is_err());
        assert!(resolve(&dir, "*.nothing").unwrap().is_empty());
        let found = resolve(&dir, "*.rules.yml").unwrap();
        assert!(found.len() >= 3 && found.windows(2).all(|w| w[0] < w[1]));
    }
}
