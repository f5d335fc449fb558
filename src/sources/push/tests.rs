//! The registry against a real store: pushgateway's PUT/POST/DELETE semantics, push times,
//! limits refusing whole requests, expiry and refresh.

use std::sync::Arc;
use std::time::Duration;

use super::grouping::{self, GroupKey};
use super::{json, text, PushConfig};
use super::{Mode, Refusal, Registry};
use crate::model::{encode, normalize, Family, Format};
use crate::store::{Limits, Store};

fn setup(cfg: PushConfig, store_max: usize) -> (Arc<Store>, Registry) {
    let store = Arc::new(Store::new(Limits {
        retention_ms: 3_600_000,
        max_series: store_max,
        max_samples: crate::store::DEFAULT_MAX_SAMPLES,
    }));
    let reg = Registry::new(Arc::clone(&store) as Arc<dyn crate::sources::sink::Sink>);
    reg.configure(Some(cfg), Duration::from_secs(15), 0);
    (store, reg)
}

fn key(path: &str) -> GroupKey {
    grouping::parse(path).unwrap()
}

fn body(path: &str, text: &str) -> (GroupKey, Vec<Family>) {
    let k = key(path);
    let f = text::parse(text, &k).unwrap();
    (k, f)
}

/// The store's exposed series, without the push-time families.
fn exposed(store: &Store) -> Vec<String> {
    let text = encode(&normalize(store.latest_families()), Format::Text);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn put(reg: &Registry, path: &str, text: &str, mode: Mode, now: i64) -> Result<usize, Refusal> {
    let (k, f) = body(path, text);
    reg.push(&k, f, mode, now)
}

#[test]
fn put_replaces_post_merges_delete_removes() {
    let (store, reg) = setup(PushConfig::default(), 1000);
    put(
        &reg,
        "job/j1/instance/i1",
        "# TYPE foo counter\nfoo{a=\"1\"} 3\nbar 2\n",
        Mode::Replace,
        1_000,
    )
    .unwrap();
    put(&reg, "job/j1/instance/i1", "foo 5\n", Mode::Merge, 2_000).unwrap();
    assert_eq!(
        exposed(&store),
        [
            "bar{instance=\"i1\",job=\"j1\"} 2",
            "foo{instance=\"i1\",job=\"j1\"} 5",
            "push_failure_time_seconds{instance=\"i1\",job=\"j1\"} 0",
            "push_time_seconds{instance=\"i1\",job=\"j1\"} 2",
        ]
    );
    put(&reg, "job/j1/instance/i1", "baz 1\n", Mode::Replace, 3_000).unwrap();
    assert_eq!(exposed(&store)[0], "baz{instance=\"i1\",job=\"j1\"} 1");
    assert_eq!(exposed(&store).len(), 3);
    // An empty PUT empties the group but keeps it (and its push time), as pushgateway does.
    put(&reg, "job/j1/instance/i1", "", Mode::Replace, 4_000).unwrap();
    assert_eq!(exposed(&store).len(), 2);
    reg.delete(&key("job/j1/instance/i1"), 5_000).unwrap();
    assert!(exposed(&store).is_empty());
    // Rules see the deletion as staleness.
    let bar = store.range(Some("bar"), |_| true, 0, 10_000);
    assert!(crate::model::time::is_stale(bar[0].1.last().unwrap().1));
    reg.delete(&key("job/nonexistent"), 5_000).unwrap();
}

#[test]
fn a_failed_push_changes_nothing_but_the_failure_time() {
    let (store, reg) = setup(
        PushConfig {
            max_series_per_group: 2,
            ..Default::default()
        },
        1000,
    );
    put(&reg, "job/j", "a 1\n", Mode::Replace, 1_000).unwrap();
    let before: Vec<String> = exposed(&store)
        .into_iter()
        .filter(|l| !l.starts_with("push_"))
        .collect();
    let r = put(&reg, "job/j", "a 2\nb 2\nc 2\n", Mode::Replace, 2_000).unwrap_err();
    assert_eq!((r.status, r.reason), (422, "group_series_limit"));
    assert_eq!(
        r.message,
        "push refused: 3 series would pass push.max_series_per_group (2)"
    );
    let after = exposed(&store);
    assert_eq!(after[0], before[0]);
    assert!(
        after.contains(&"push_failure_time_seconds{instance=\"\",job=\"j\"} 2".to_string()),
        "{after:?}"
    );
    assert!(after.contains(&"push_time_seconds{instance=\"\",job=\"j\"} 1".to_string()));
    // A failure for a group that does not exist creates nothing.
    put(&reg, "job/new", "a 1\nb 1\nc 1\n", Mode::Replace, 2_000).unwrap_err();
    assert!(store.latest_of("push:job=\"new\"").is_none());
}

#[test]
fn each_limit_refuses_the_whole_request_and_is_counted() {
    // A group holds its series plus two push-time series; those two count toward the job and
    // total limits only.
    let cfg = PushConfig {
        max_samples_per_request: 4,
        max_series_per_group: 3,
        max_series_per_job: 8,
        max_series: 11,
        ..Default::default()
    };
    let (store, reg) = setup(cfg, 100);
    let err = |path: &str, text: &str| put(&reg, path, text, Mode::Replace, 1_000).unwrap_err();
    let r = err("job/a", "a 1\nb 1\nc 1\nd 1\ne 1\n");
    assert_eq!((r.status, r.reason), (413, "too_many_samples"));
    assert!(r
        .message
        .contains("5 samples in one request exceed push.max_samples_per_request (4)"));
    let r = err("job/a", "a 1\nb 1\nc 1\nd 1\n");
    assert_eq!((r.status, r.reason), (422, "group_series_limit"));
    put(&reg, "job/a/instance/1", "a 1\nb 1\n", Mode::Replace, 1_000).unwrap();
    put(&reg, "job/a/instance/2", "a 1\n", Mode::Replace, 1_000).unwrap();
    let r = err("job/a/instance/3", "a 1\nb 1\n");
    assert_eq!((r.status, r.reason), (422, "job_series_limit"));
    assert_eq!(
        r.message,
        "push refused: 11 series would pass push.max_series_per_job (8)"
    );
    put(&reg, "job/b", "a 1\n", Mode::Replace, 1_000).unwrap();
    let r = err("job/c", "a 1\n");
    assert_eq!((r.status, r.reason), (422, "series_limit"));
    assert_eq!(
        r.message,
        "push refused: 13 series would pass push.max_series (11)"
    );
    // Replacing a group's series with as many is no growth.
    put(&reg, "job/a/instance/1", "x 1\ny 1\n", Mode::Replace, 1_000).unwrap();
    assert_eq!(
        exposed(&store)
            .iter()
            .filter(|l| !l.starts_with("push_"))
            .count(),
        4
    );
    let mut fams = Vec::new();
    reg.families(&mut fams);
    let text = encode(&normalize(fams), Format::Text);
    for want in [
        "telltale_push_rejected_total{reason=\"too_many_samples\"} 1",
        "telltale_push_rejected_total{reason=\"group_series_limit\"} 1",
        "telltale_push_rejected_total{reason=\"job_series_limit\"} 1",
        "telltale_push_rejected_total{reason=\"series_limit\"} 1",
        "telltale_push_rejected_total{reason=\"storage_full\"} 0",
        "telltale_push_series 10",
        "telltale_push_groups 3",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
}

#[test]
fn the_store_series_limit_refuses_whole_pushes() {
    let (store, reg) = setup(PushConfig::default(), 4);
    put(&reg, "job/a", "a 1\n", Mode::Replace, 1_000).unwrap();
    // Three series plus the group's two push times would pass the store's limit of 4.
    let r = put(&reg, "job/b", "a 1\nb 1\nc 1\n", Mode::Replace, 1_000).unwrap_err();
    assert_eq!((r.status, r.reason), (422, "storage_full"));
    assert!(
        r.message.contains("storage.max_series (4; 3 held)"),
        "{}",
        r.message
    );
    assert!(store.latest_of("push:job=\"b\"").is_none());
}

#[test]
fn a_name_keeps_its_type_across_groups() {
    let (_, reg) = setup(PushConfig::default(), 100);
    put(
        &reg,
        "job/a",
        "# TYPE foo counter\nfoo 1\n",
        Mode::Replace,
        1,
    )
    .unwrap();
    let r = put(&reg, "job/b", "# TYPE foo gauge\nfoo 1\n", Mode::Replace, 1).unwrap_err();
    assert_eq!((r.status, r.reason), (400, "invalid"));
    assert!(
        r.message
            .contains("foo is counter in another group, pushed as gauge"),
        "{}",
        r.message
    );
    // The only group using a name may change its type.
    put(&reg, "job/a", "# TYPE foo gauge\nfoo 1\n", Mode::Replace, 2).unwrap();
    reg.delete(&key("job/a"), 3).unwrap();
    put(
        &reg,
        "job/b",
        "# TYPE foo counter\nfoo 1\n",
        Mode::Replace,
        4,
    )
    .unwrap();
}

#[test]
fn api_pushes_merge_series_and_expire_per_series() {
    let cfg = PushConfig {
        expire_after: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let (store, reg) = setup(cfg, 100);
    let fams = |body: &str| {
        json::families(json::parse(body.as_bytes(), crate::model::time::now_ms(), 100).unwrap())
            .unwrap()
    };
    reg.push_api(
        fams(
            r#"{"metrics": [{"metric_id": "a.b", "value": 1, "tags": {"k": "x"}},
        {"metric_id": "a.b", "value": 2, "tags": {"k": "y"}}]}"#,
        ),
        1_000,
    )
    .unwrap();
    reg.push_api(
        fams(r#"{"metrics": [{"metric_id": "a.b", "value": 3, "tags": {"k": "y"}}]}"#),
        30_000,
    )
    .unwrap();
    assert_eq!(exposed(&store), ["a_b{k=\"x\"} 1", "a_b{k=\"y\"} 3"]);
    let r = reg
        .push_api(
            fams(r#"{"metrics": [{"metric_id": "a.b", "value": 1, "metric_type": "gauge"}]}"#),
            31_000,
        )
        .unwrap_err();
    assert!(
        r.message
            .contains("a_b was pushed as untyped, now as gauge"),
        "{}",
        r.message
    );
    reg.tick(70_000);
    assert_eq!(exposed(&store), ["a_b{k=\"y\"} 3"]);
    reg.tick(100_000);
    assert!(exposed(&store).is_empty());
}

#[test]
fn groups_are_refreshed_for_rules_and_expire() {
    let cfg = PushConfig {
        expire_after: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let (store, reg) = setup(cfg, 100);
    put(&reg, "job/j", "a 1\n", Mode::Replace, 1_000).unwrap();
    reg.tick(16_000);
    reg.tick(31_000);
    let a = store.range(Some("a"), |_| true, 0, 100_000);
    assert_eq!(a[0].1, vec![(1_000, 1.0), (16_000, 1.0), (31_000, 1.0)]);
    // The store key has no empty instance label (Prometheus drops empty labels).
    assert_eq!(a[0].0.labels.len(), 1);
    reg.tick(62_000);
    assert!(exposed(&store).is_empty());
}

#[test]
fn turning_push_off_deletes_the_groups() {
    let (store, reg) = setup(PushConfig::default(), 100);
    put(&reg, "job/j", "a 1\n", Mode::Replace, 1_000).unwrap();
    reg.configure(None, Duration::from_secs(15), 2_000);
    assert!(exposed(&store).is_empty());
    assert_eq!(
        put(&reg, "job/j", "a 1\n", Mode::Replace, 3_000)
            .unwrap_err()
            .status,
        404
    );
}
