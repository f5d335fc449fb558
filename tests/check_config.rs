//! `telltale check config` on one bad fixture per message: exit 1 and exactly the expected
//! `file:line:col: path: message` lines; good fixtures exit 0. `UPDATE_GOLDEN=1` rewrites the
//! `.err` files (review the diff before committing).

mod common;

use std::process::Command;

fn check(file: &str) -> (i32, String, String) {
    let out = Command::new(common::bin())
        .args(["check", "config", file])
        .current_dir(common::root())
        .env_remove("TELLTALE_TEST_UNSET_VARIABLE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixtures(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(common::root().join(dir))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    v.sort();
    v
}

#[test]
fn bad_configs_report_every_problem_with_its_position() {
    let bad = fixtures("tests/config/bad");
    assert!(bad.len() >= 12, "expected the full set of bad fixtures");
    let mut failures = Vec::new();
    for file in bad {
        let (code, _, stderr) = check(&file);
        let got: String = stderr
            .lines()
            .filter(|l| !l.trim_start().starts_with("FAILED"))
            .map(|l| format!("{l}\n"))
            .collect();
        let err_file = common::root().join(format!("{file}.err"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&err_file, &got).unwrap();
        }
        let want = std::fs::read_to_string(&err_file)
            .unwrap_or_else(|_| panic!("missing {}", err_file.display()));
        if code != 1 || got != want {
            failures.push(format!(
                "{file}: exit {code}\n--- want\n{want}--- got\n{got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn good_configs_pass() {
    for file in fixtures("tests/config/good") {
        let (code, stdout, stderr) = check(&file);
        assert_eq!(code, 0, "{file}: {stderr}");
        assert!(stdout.contains("SUCCESS"), "{stdout}");
    }
}

#[test]
fn shipped_example_config_passes() {
    let (code, _, stderr) = check("examples/telltale.yml");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_missing_file_is_an_error() {
    let (code, _, stderr) = check("tests/config/does-not-exist.yml");
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read config"), "{stderr}");
}
