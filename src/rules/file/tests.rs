//! Rule-file decoding and validation: one test per Prometheus message, with its position.

use std::time::Duration;

use super::expr::Expr;
use super::{parse, parse_with};
use super::{Kind, RuleFile};
use crate::rules::alert::Policy;

/// All messages for `text`, formatted as `check rules` prints them.
fn errors(text: &str) -> Vec<String> {
    match parse("r.yml", text) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|x| x.to_string()).collect(),
    }
}

fn one_rule(rule: &str) -> String {
    format!("groups:\n  - name: g\n    rules:\n      - {rule}\n")
}

#[test]
fn a_valid_file_decodes_with_defaults_and_merged_labels() {
    let rf = parse(
        "r.yml",
        "groups:
  - name: g
    interval: 30s
    limit: 10
    query_offset: 1m
    labels: {team: a, sev: low}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels: {sev: page}
        annotations: {summary: '{{ $labels.job }} down'}
",
    )
    .unwrap();
    assert_eq!(rf.rule_count(), 2);
    let g = &rf.groups[0];
    assert_eq!(g.interval, Some(std::time::Duration::from_secs(30)));
    assert_eq!((g.limit, g.query_offset.unwrap().as_secs()), (10, 60));
    assert_eq!(g.rules[0].kind, Kind::Record);
    assert_eq!(g.rules[0].name, "job:up:sum");
    let a = &g.rules[1];
    assert_eq!(
        (
            a.kind.clone(),
            a.for_.as_secs(),
            a.keep_firing_for.as_secs()
        ),
        (Kind::Alert, 300, 60)
    );
    let l: Vec<(&str, &str)> = a
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(l, [("team", "a"), ("sev", "page")]);
    assert_eq!(a.annotations[0].0, "summary");
    assert!(parse("r.yml", "").unwrap().groups.is_empty());
}

#[test]
fn empty_group_name() {
    assert_eq!(
        errors("groups:\n  - name: ''\n    rules: []\n"),
        ["r.yml:2:5: Groupname must not be empty"]
    );
}

#[test]
fn repeated_group_name() {
    assert_eq!(
        errors("groups:\n  - name: a\n  - name: a\n"),
        ["r.yml:3:5: groupname: \"a\" is repeated in the same file"]
    );
}

#[test]
fn record_and_alert_both_set() {
    assert_eq!(
        errors(&one_rule("{alert: A, record: b, expr: up}")),
        ["r.yml:4:17: group \"g\", rule 1, \"A\": only one of 'record' and 'alert' must be set"]
    );
}

#[test]
fn neither_record_nor_alert() {
    assert_eq!(
        errors(&one_rule("{expr: up}")),
        ["r.yml:4:9: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set"]
    );
}

#[test]
fn missing_expr() {
    assert_eq!(
        errors(&one_rule("{alert: A}")),
        ["r.yml:4:9: group \"g\", rule 1, \"A\": field 'expr' must be set in rule"]
    );
}

#[test]
fn unparsable_expr_is_reported_at_the_expr() {
    let e = errors(&one_rule("alert: A\n        expr: sum(up"));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("r.yml:5:15: group \"g\", rule 1, \"A\": could not parse expression: "),
        "{e:?}"
    );
}

#[test]
fn unsupported_promql_is_a_load_error_naming_it() {
    let e = errors(&one_rule("{alert: A, expr: 'hour() > 3'}"));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("could not parse expression") && e[0].contains("hour"),
        "{e:?}"
    );
}

#[test]
fn recording_rule_with_annotations_for_and_keep_firing_for() {
    assert_eq!(
        errors(&one_rule(
            "record: r\n        expr: up\n        for: 1m\n        keep_firing_for: 2m\n        annotations: {a: b}"
        )),
        [
            "r.yml:8:22: group \"g\", rule 1, \"r\": invalid field 'annotations' in recording rule",
            "r.yml:6:14: group \"g\", rule 1, \"r\": invalid field 'for' in recording rule",
            "r.yml:7:26: group \"g\", rule 1, \"r\": invalid field 'keep_firing_for' in recording rule",
        ]
    );
    // A zero `for` is no `for` at all, as in Prometheus.
    assert!(errors(&one_rule("{record: r, expr: up, for: 0s}")).is_empty());
}

#[test]
fn invalid_recording_rule_names() {
    assert_eq!(
        errors(&one_rule("{record: 1bad, expr: up}")),
        ["r.yml:4:18: group \"g\", rule 1, \"1bad\": invalid recording rule name: 1bad"]
    );
    assert_eq!(
        errors(&one_rule("{record: 'a{b=\"c\"}', expr: up}")),
        [
            "r.yml:4:18: group \"g\", rule 1, \"a{b=\\\"c\\\"}\": invalid recording rule name: a{b=\"c\"}",
            "r.yml:4:18: group \"g\", rule 1, \"a{b=\\\"c\\\"}\": braces present in the recording rule name; should it be in expr?: a{b=\"c\"}",
        ]
    );
    assert!(errors(&one_rule("{record: 'job:up:rate5m', expr: up}")).is_empty());
}

#[test]
fn invalid_label_names_including_the_metric_name() {
    assert_eq!(
        errors(&one_rule(
            "{alert: A, expr: up, labels: {0x: a, __name__: b, ok: c}}"
        )),
        [
            "r.yml:4:39: group \"g\", rule 1, \"A\": invalid label name: 0x",
            "r.yml:4:46: group \"g\", rule 1, \"A\": invalid label name: __name__",
        ]
    );
}

#[test]
fn invalid_group_label_name() {
    assert_eq!(
        errors("groups:\n  - name: g\n    labels: {a-b: x}\n"),
        ["r.yml:3:14: group \"g\": invalid label name: a-b"]
    );
}

#[test]
fn invalid_annotation_name() {
    assert_eq!(
        errors(&one_rule(
            "{alert: A, expr: up, annotations: {1a: x, __name__: ok}}"
        )),
        ["r.yml:4:44: group \"g\", rule 1, \"A\": invalid annotation name: 1a"]
    );
}

#[test]
fn unknown_fields_and_bad_types_are_strict_errors() {
    assert_eq!(
        errors("groups:\n  - name: g\n    interval: 5\n    bogus: 1\n    rules:\n      - {alert: A, expr: up, for: x, severity: page}\n"),
        [
            "r.yml:3:15: group \"g\": interval: not a valid duration string: \"5\"",
            "r.yml:6:35: group \"g\", rule 1, \"A\": for: not a valid duration string: \"x\"",
            "r.yml:6:38: group \"g\", rule 1, \"A\": unknown field \"severity\" in rule",
            "r.yml:4:5: group \"g\": unknown field \"bogus\" in rule group",
        ]
    );
    assert_eq!(
        errors("group:\n  - name: g\n"),
        ["r.yml:1:1: unknown field \"group\" in rule file"]
    );
}

#[test]
fn every_problem_in_every_group_is_reported() {
    let e = errors(
        "groups:\n  - name: ''\n    rules:\n      - {expr: up}\n  - name: h\n    rules:\n      - {alert: B}\n      - {record: '9', expr: up}\n",
    );
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(
        e[3].contains("rule 2, \"9\": invalid recording rule name"),
        "{e:?}"
    );
}

#[test]
fn alert_templates_must_parse() {
    assert_eq!(
        errors(&one_rule(
            "{alert: A, expr: up, labels: {sev: '{{ if }}'}, annotations: {s: '{{ nope 1 }}', ok: '{{ $value }}'}}"
        )),
        [
            "r.yml:4:44: group \"g\", rule 1, \"A\": label \"sev\": error parsing template __alert_A: template: __alert_A:1: missing value for if",
            "r.yml:4:74: group \"g\", rule 1, \"A\": annotation \"s\": error parsing template __alert_A: template: __alert_A:1: function \"nope\" not defined",
        ]
    );
    // Recording-rule labels are not templates.
    assert!(errors(&one_rule("{record: r, expr: up, labels: {x: '{{'}}")).is_empty());
}

// Rule-file extensions: `datasource` groups, `no_data`, `on_error`, `resolve_expr`; every bad
// value with its message and position.

fn is_remote(e: &Expr) -> bool {
    matches!(e, Expr::Remote)
}

const DS_FILE: &str = "groups:
  - name: remote
    datasource:
      url: http://127.0.0.1:9090/prom
      timeout: 5s
      basic_auth: {username: u, password: p}
      headers: {X-Scope-OrgID: team}
    rules:
      - alert: NightLoad
        expr: hour() > 3 and max_over_time(up[1h:5m]) == 1
        resolve_expr: hour() < 2
      - record: job:up:sum
        expr: sum by (job) (up)
  - name: local
    rules:
      - alert: Down
        expr: up == 0
        resolve_expr: up == 1
";

#[test]
fn a_datasource_group_has_remote_expressions_the_local_subset_rejects() {
    let rf = parse("r.yml", DS_FILE).unwrap();
    let g = &rf.groups[0];
    let ds = g.datasource.as_ref().unwrap();
    assert_eq!(ds.url, "http://127.0.0.1:9090/prom");
    assert_eq!(ds.http.timeout, Duration::from_secs(5));
    assert_eq!(ds.http.basic_auth, Some(("u".into(), "p".into())));
    assert_eq!(ds.http.headers, [("X-Scope-OrgID".into(), "team".into())]);
    assert!(g.rules.iter().all(|r| is_remote(&r.expr)));
    let a = &g.rules[0];
    assert!(is_remote(a.resolve_expr.as_ref().unwrap()));
    assert_eq!(a.resolve_expr_text.as_deref(), Some("hour() < 2"));
    // The group without a datasource in the same file stays local.
    let l = &rf.groups[1];
    assert!(l.datasource.is_none());
    assert!(l.rules[0].expr.local().is_some());
    assert!(l.rules[0].resolve_expr.as_ref().unwrap().local().is_some());
    // The same constructs in a local group are load errors, as before.
    assert!(errors(&one_rule("{alert: A, expr: 'hour() > 3'}"))[0].contains("hour"));
}

#[test]
fn remote_expressions_must_still_be_valid_promql() {
    let text = "groups:\n  - name: g\n    datasource: {url: 'http://h:9090'}\n    rules:\n      - alert: A\n        expr: sum(up\n      - alert: B\n        expr: rate(up)\n";
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("r.yml:6:15: group \"g\", rule 1, \"A\": could not parse expression: "),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("r.yml:8:15: group \"g\", rule 2, \"B\": could not parse expression: ")
            && e[1].contains("'rate'"),
        "{e:?}"
    );
}

#[test]
fn bad_datasource_values_are_positioned_group_errors() {
    let group = |ds: &str| {
        format!("groups:\n  - name: g\n    datasource: {ds}\n    rules:\n      - {{alert: A, expr: 'hour() > 1'}}\n")
    };
    let cases: [(&str, &str); 6] = [
        ("{timeout: 5s}", "r.yml:3:18: group \"g\": datasource: datasource needs a url"),
        (
            "{url: 'ftp://h'}",
            "r.yml:3:23: group \"g\": datasource.url: URL scheme must be http or https, not \"ftp\" (want http://host:port[/prefix] or https://…)",
        ),
        (
            "{url: 'http://h', timeout: 0s}",
            "r.yml:3:44: group \"g\": datasource.timeout: must be greater than 0",
        ),
        (
            "{url: 'http://h', timeout: soon}",
            "r.yml:3:44: group \"g\": datasource.timeout: not a valid duration string: \"soon\"",
        ),
        (
            "{url: 'http://h', token: x}",
            "r.yml:3:35: group \"g\": datasource: unknown field \"token\" in datasource",
        ),
        (
            "'http://h:9090'",
            "r.yml:3:17: group \"g\": datasource: expected a mapping, found a scalar",
        ),
    ];
    // Only the datasource problem: the remote-only expression adds no error of its own.
    for (ds, want) in cases {
        assert_eq!(errors(&group(ds)), [want], "{ds}");
    }
    // A block mapping is reported at its first key.
    assert_eq!(
        errors("groups:\n  - name: g\n    datasource:\n      timeout: 5s\n    rules: []\n"),
        ["r.yml:4:7: group \"g\": datasource: datasource needs a url"]
    );
    let e = errors(&group("{url: 'http://h', basic_auth: {password: p}}"));
    assert_eq!(
        e,
        ["r.yml:3:47: group \"g\": datasource.basic_auth: basic_auth needs a username"]
    );
}

#[test]
fn no_data_and_on_error_take_the_three_policies() {
    for (text, want) in [
        ("alerting", Policy::Alerting),
        ("ok", Policy::Ok),
        ("keep_last", Policy::KeepLast),
    ] {
        let rf = parse(
            "r.yml",
            &one_rule(&format!(
                "{{alert: A, expr: up == 0, no_data: {text}, on_error: {text}}}"
            )),
        )
        .unwrap();
        let r = &rf.groups[0].rules[0];
        assert_eq!((r.no_data, r.on_error), (Some(want), Some(want)), "{text}");
    }
    let rf = parse("r.yml", &one_rule("{alert: A, expr: up == 0}")).unwrap();
    let r = &rf.groups[0].rules[0];
    assert_eq!(
        (r.no_data, r.on_error, r.resolve_expr.is_none()),
        (None, None, true)
    );
}

#[test]
fn bad_policies_are_errors_at_the_value() {
    assert_eq!(
        errors(&one_rule("{alert: A, expr: up, no_data: firing, on_error: Alerting}")),
        [
            "r.yml:4:39: group \"g\", rule 1, \"A\": no_data: unknown policy \"firing\" (want alerting, ok or keep_last)",
            "r.yml:4:57: group \"g\", rule 1, \"A\": on_error: unknown policy \"Alerting\" (want alerting, ok or keep_last)",
        ]
    );
    assert_eq!(
        errors(&one_rule("{alert: A, expr: up, on_error: [ok]}")),
        ["r.yml:4:40: group \"g\", rule 1, \"A\": on_error: expected a string, found a sequence"]
    );
}

#[test]
fn extensions_are_invalid_in_recording_rules() {
    assert_eq!(
        errors(&one_rule(
            "record: r\n        expr: up\n        no_data: ok\n        on_error: keep_last\n        resolve_expr: up"
        )),
        [
            "r.yml:6:18: group \"g\", rule 1, \"r\": invalid field 'no_data' in recording rule",
            "r.yml:7:19: group \"g\", rule 1, \"r\": invalid field 'on_error' in recording rule",
            "r.yml:8:23: group \"g\", rule 1, \"r\": invalid field 'resolve_expr' in recording rule",
        ]
    );
}

#[test]
fn resolve_expr_is_planned_like_expr() {
    let e = errors(&one_rule(
        "alert: A\n        expr: up == 0\n        resolve_expr: sum(up",
    ));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "r.yml:6:23: group \"g\", rule 1, \"A\": resolve_expr: could not parse expression: "
        ),
        "{e:?}"
    );
    let e = errors(&one_rule(
        "{alert: A, expr: up == 0, resolve_expr: 'hour() > 3'}",
    ));
    assert!(
        e.len() == 1
            && e[0].starts_with("r.yml:4:49: group \"g\", rule 1, \"A\": resolve_expr: could not parse expression: ")
            && e[0].contains("hour"),
        "{e:?}"
    );
    assert_eq!(
        errors(&one_rule("{alert: A, expr: up == 0, resolve_expr: ' '}")),
        ["r.yml:4:49: group \"g\", rule 1, \"A\": resolve_expr: must not be empty"]
    );
}

#[test]
fn a_config_wide_datasource_makes_every_group_remote() {
    let text = one_rule("{alert: A, expr: 'hour() > 3', resolve_expr: 'hour() < 1'}");
    assert!(parse("r.yml", &text).is_err());
    let rf = parse_with("r.yml", &text, true).unwrap();
    let g = &rf.groups[0];
    assert!(g.datasource.is_none());
    assert!(is_remote(&g.rules[0].expr));
    assert!(is_remote(g.rules[0].resolve_expr.as_ref().unwrap()));
}

#[test]
fn datasource_groups_cannot_be_unit_tested() {
    let rf: RuleFile = parse("r.yml", DS_FILE).unwrap();
    let e: Vec<String> = rf
        .local_only()
        .unwrap_err()
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        e,
        ["r.yml:2:5: group \"remote\": datasource groups cannot be unit-tested (their rules run on the remote query API)"]
    );
    let local = parse("r.yml", &one_rule("{alert: A, expr: up}")).unwrap();
    assert_eq!(local.local_only().unwrap().rule_count(), 1);
}
