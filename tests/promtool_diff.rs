//! Differential test against promtool itself: every `tests/rules/*_test.yml` must pass under both
//! `promtool test rules` (Debian's prometheus 2.42) and `telltale test rules`, and every
//! `tests/rules/fail/*_test.yml` (deliberately wrong expectations) must fail under both.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("_test.yml"))
        .collect();
    v.sort();
    v
}

/// Exit code and combined output of `<bin> test rules <file>`, run from elsewhere so that
/// `rule_files` must resolve relative to the test file.
fn run(bin: &Path, file: &Path) -> (i32, String) {
    let out = Command::new(bin)
        .args(["test", "rules"])
        .arg(file)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn corpus_passes_under_promtool_and_telltale() {
    let promtool = common::peer("/usr/bin/promtool");
    let files = test_files(&common::root().join("tests/rules"));
    assert!(
        files.len() >= 60,
        "the corpus has only {} files",
        files.len()
    );
    let mut problems = Vec::new();
    for f in &files {
        for (name, bin) in [("promtool", promtool.clone()), ("telltale", common::bin())] {
            let (code, out) = run(&bin, f);
            if code != 0 || !out.contains("SUCCESS") {
                problems.push(format!("{name} on {}: exit {code}\n{out}", f.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn wrong_expectations_fail_under_both() {
    let promtool = common::peer("/usr/bin/promtool");
    let files = test_files(&common::root().join("tests/rules/fail"));
    assert!(files.len() >= 12, "expected the deliberately failing set");
    let mut problems = Vec::new();
    for f in &files {
        for (name, bin) in [("promtool", promtool.clone()), ("telltale", common::bin())] {
            let (code, out) = run(&bin, f);
            if code != 1 || !out.contains("FAILED") {
                problems.push(format!("{name} on {}: exit {code}\n{out}", f.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn check_rules_agrees_with_promtool_on_the_corpus_rule_files() {
    let promtool = common::peer("/usr/bin/promtool");
    let dir = common::root().join("tests/rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .chain(std::fs::read_dir(dir.join("fail")).unwrap())
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".rules.yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for f in &files {
        let code = |bin: &Path| {
            Command::new(bin)
                .args(["check", "rules"])
                .arg(f)
                .output()
                .unwrap()
                .status
                .code()
        };
        let (p, t) = (code(&promtool), code(&common::bin()));
        assert_eq!(p, t, "check rules exit codes differ on {}", f.display());
    }
}
