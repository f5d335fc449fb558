//! The shipped rule files (`rules/*.yml`): each passes `promtool check rules` and
//! `telltale check rules`, has a `<name>_test.yml` beside it that passes under both
//! `promtool test rules` and `telltale test rules`, tests every alert it defines, and is
//! described in `rules/README.md`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `(rule files, test files)` in `rules/`, sorted.
fn shipped() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut all: Vec<PathBuf> = std::fs::read_dir(common::root().join("rules"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    all.sort();
    all.into_iter()
        .partition(|p| !p.to_string_lossy().ends_with("_test.yml"))
}

/// Exit code and combined output of `bin args... file`, run from another directory so that
/// `rule_files` must resolve relative to the test file.
fn run(bin: &Path, args: &[&str], file: &Path) -> (i32, String) {
    let out = Command::new(bin)
        .args(args)
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

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Alert names defined in a rule file (`- alert: Name` lines).
fn alert_names(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert:"))
        .map(|n| n.trim().to_string())
        .collect();
    v.dedup();
    v
}

#[test]
fn every_rule_file_passes_both_checkers_and_its_tests_pass_under_both() {
    let promtool = common::peer("/usr/bin/promtool");
    let (rules, tests) = shipped();
    assert!(
        rules.len() >= 3,
        "expected host, application and Zabbix rules"
    );
    let mut problems = Vec::new();
    for (what, args, files) in [
        ("check rules", ["check", "rules"], &rules),
        ("test rules", ["test", "rules"], &tests),
    ] {
        for f in files.iter() {
            for (who, bin) in [("promtool", promtool.clone()), ("telltale", common::bin())] {
                let (code, out) = run(&bin, &args, f);
                if code != 0 || !out.contains("SUCCESS") {
                    problems.push(format!("{who} {what} {}: exit {code}\n{out}", name(f)));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_rule_file_has_a_test_that_covers_each_alert_and_a_readme_entry() {
    let (rules, tests) = shipped();
    let readme = std::fs::read_to_string(common::root().join("rules/README.md")).unwrap();
    let mut problems = Vec::new();
    for r in &rules {
        let test = r.with_file_name(name(r).replace(".yml", "_test.yml"));
        if !tests.contains(&test) {
            problems.push(format!("{} has no {}", name(r), name(&test)));
            continue;
        }
        let test_text = std::fs::read_to_string(&test).unwrap();
        if !test_text.contains(&format!("[{}]", name(r))) {
            problems.push(format!("{} does not load {}", name(&test), name(r)));
        }
        if !readme.contains(&format!("`{}`", name(r))) {
            problems.push(format!("rules/README.md does not describe {}", name(r)));
        }
        let alerts = alert_names(&std::fs::read_to_string(r).unwrap());
        assert!(!alerts.is_empty(), "{} defines no alerts", name(r));
        for a in alerts {
            if !test_text.contains(&format!("alertname: {a}\n")) {
                problems.push(format!("{} never tests alert {a}", name(&test)));
            }
            if !readme.contains(&a) {
                problems.push(format!("rules/README.md does not mention alert {a}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_broken_expectation_fails_under_both() {
    // Guards the test above against passing vacuously: the same host test with one expected
    // value changed must fail under both tools.
    let promtool = common::peer("/usr/bin/promtool");
    let dir = std::env::temp_dir().join(format!("telltale-shipped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = common::root().join("rules");
    std::fs::copy(src.join("host.yml"), dir.join("host.yml")).unwrap();
    let test = std::fs::read_to_string(src.join("host_test.yml")).unwrap();
    let broken = test.replacen("value: 0.875", "value: 0.876", 1);
    assert_ne!(
        test, broken,
        "host_test.yml no longer has the value this test changes"
    );
    std::fs::write(dir.join("host_test.yml"), broken).unwrap();
    for (who, bin) in [("promtool", promtool), ("telltale", common::bin())] {
        let (code, out) = run(&bin, &["test", "rules"], &dir.join("host_test.yml"));
        assert!(
            code == 1 && out.contains("FAILED") && out.contains("8.76E-01"),
            "{who}: exit {code}\n{out}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
