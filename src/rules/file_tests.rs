//! Rule-file decoding and validation: one test per Prometheus message, with its position.

use super::file::{parse, Kind};

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
