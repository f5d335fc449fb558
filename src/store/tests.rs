//! Tests of the sample store (`store.rs`).

use super::*;
use crate::model::time::{is_stale, FUTURE_TOLERANCE_MS};

fn fam(name: &str, series: &[(&str, f64)]) -> Family {
    let mut f = Family::gauge(name, "h");
    for (l, v) in series {
        f.add(&[("target", l)], *v);
    }
    f
}

fn limits(max_series: usize) -> Limits {
    Limits {
        retention_ms: 60_000,
        max_series,
        max_samples: crate::store::DEFAULT_MAX_SAMPLES,
    }
}

fn held(store: &Store) -> Vec<usize> {
    let mut lens = Vec::new();
    store.for_each_range(None, i64::MIN, i64::MAX, |_, _, samples| {
        lens.push(samples.len())
    });
    lens
}

fn gauge(store: &Store, name: &str) -> f64 {
    let fams = store.families();
    fams.iter().find(|f| f.name == name).unwrap().samples[0].value
}

#[test]
fn the_sample_budget_keeps_the_newest_samples_of_every_series() {
    let store = Store::new(Limits {
        retention_ms: 3_600_000,
        max_series: 1000,
        max_samples: 100,
    });
    // Ten series written every second for 60 s: 600 samples, six times the budget.
    for t in 0..60 {
        let mut f = Family::gauge("g", "");
        for i in 0..10 {
            f.add(&[("i", &i.to_string())], t as f64);
        }
        store.ingest("src", vec![f], 1_000_000 + t * 1000);
    }
    let lens = held(&store);
    assert_eq!(lens.len(), 10);
    // Appends keep each series to its share of the budget among the series held then.
    assert!(lens.iter().all(|&n| n <= 100 / 9), "{lens:?}");
    store.compact(1_060_000);
    let lens = held(&store);
    assert!(lens.iter().sum::<usize>() <= 100, "{lens:?}");
    assert!(lens.iter().all(|&n| n == 10), "{lens:?}");
    // The newest survive: the last value written is still read.
    let i3 = store.range(Some("g"), |k| k.labels[0].1 == "3", 0, i64::MAX);
    assert_eq!(i3[0].1.last().map(|s| s.1), Some(59.0));
    assert_eq!(gauge(&store, "telltale_store_samples_evicted_total"), 500.0);
    assert_eq!(gauge(&store, "telltale_store_samples_limit"), 100.0);
}

#[test]
fn ingest_keeps_history_and_latest() {
    let s = Store::new(limits(100));
    s.ingest("a", vec![fam("m", &[("x", 1.0)])], 1000);
    s.ingest("a", vec![fam("m", &[("x", 2.0)])], 2000);
    let r = s.range(Some("m"), |_| true, 0, 5000);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1, vec![(1000, 1.0), (2000, 2.0)]);
    assert_eq!(s.latest_families()[0].samples[0].value, 2.0);
}

#[test]
fn a_series_labels_are_held_once_across_polls() {
    let s = Store::new(limits(100));
    s.ingest("a", vec![fam("m", &[("x", 1.0)])], 1000);
    s.ingest("a", vec![fam("m", &[("x", 2.0)])], 2000);
    let inner = s.inner.read().unwrap();
    let stored = inner.series["m"].keys().next().unwrap();
    let seen = &inner.latest["a"].1;
    assert_eq!(seen.len(), 1);
    assert!(Arc::ptr_eq(stored, &seen[0].labels));
}

#[test]
fn vanished_series_get_a_staleness_marker() {
    let s = Store::new(limits(100));
    s.ingest("a", vec![fam("m", &[("x", 1.0), ("y", 5.0)])], 1000);
    s.ingest("a", vec![fam("m", &[("x", 1.0)])], 2000);
    let y = s.range(
        Some("m"),
        |k| k.labels.iter().any(|(_, v)| v == "y"),
        0,
        5000,
    );
    assert_eq!(y[0].1.len(), 2);
    assert!(is_stale(y[0].1[1].1));
    assert_eq!(s.latest_families()[0].samples.len(), 1);
}

#[test]
fn a_partial_poll_marks_nothing_stale() {
    let s = Store::new(limits(100));
    s.ingest_unexposed("h", vec![fam("m", &[("x", 1.0), ("y", 2.0)])], 1000, false);
    s.ingest_unexposed("h", vec![fam("m", &[("x", 1.0)])], 2000, true);
    let y = s.range(
        Some("m"),
        |k| k.labels.iter().any(|(_, v)| v == "y"),
        0,
        5000,
    );
    assert_eq!(y[0].1, vec![(1000, 2.0)]);
    // A later complete poll still knows y and marks it stale.
    s.ingest_unexposed("h", vec![fam("m", &[("x", 1.0)])], 3000, false);
    let y = s.range(
        Some("m"),
        |k| k.labels.iter().any(|(_, v)| v == "y"),
        0,
        5000,
    );
    assert_eq!((y[0].1[1].0, is_stale(y[0].1[1].1)), (3000, true));
    assert!(s.latest_families().is_empty(), "unexposed");
}

#[test]
fn series_over_the_limit_are_refused_and_counted() {
    let s = Store::new(limits(2));
    s.ingest(
        "a",
        vec![fam("m", &[("1", 1.0), ("2", 1.0), ("3", 1.0)])],
        1000,
    );
    assert_eq!(s.range(Some("m"), |_| true, 0, 5000).len(), 2);
    let refused = s
        .families()
        .into_iter()
        .find(|f| f.name == "telltale_store_series_refused_total")
        .unwrap();
    assert_eq!(refused.samples[0].value, 1.0);
    // Existing series still take new samples at the limit.
    s.ingest("a", vec![fam("m", &[("1", 2.0)])], 2000);
    assert_eq!(
        s.range(Some("m"), |k| k.labels[0].1 == "1", 0, 5000)[0]
            .1
            .len(),
        2
    );
}

#[test]
fn retention_drops_old_samples_and_empty_series() {
    let s = Store::new(limits(100));
    s.ingest("a", vec![fam("m", &[("x", 1.0)])], 1000);
    s.ingest("a", vec![fam("m", &[("x", 2.0)])], 70_000);
    s.compact(70_000);
    assert_eq!(
        s.range(Some("m"), |_| true, 0, 100_000)[0].1,
        vec![(70_000, 2.0)]
    );
    s.remove_source("a", 80_000);
    s.compact(200_000);
    assert!(s.range(Some("m"), |_| true, 0, 300_000).is_empty());
    assert!(s.sources().is_empty());
}

fn rejected(s: &Store) -> Vec<(String, f64)> {
    let f = s.families();
    let f = f
        .iter()
        .find(|f| f.name == "telltale_samples_rejected_total");
    f.unwrap()
        .samples
        .iter()
        .map(|x| (x.labels[0].1.clone(), x.value))
        .collect()
}

#[test]
fn source_timestamps_are_kept_and_out_of_order_refused_and_counted() {
    let s = Store::new(limits(100));
    let mut f = fam("m", &[("x", 1.0)]);
    f.samples[0].timestamp_ms = Some(500);
    assert_eq!(s.ingest("z", vec![f.clone()], 1000), Ingested::default());
    // The same sample again (a re-ingested push group) is a no-op, not a refusal.
    assert_eq!(s.ingest("z", vec![f.clone()], 1500), Ingested::default());
    f.samples[0].timestamp_ms = Some(400);
    f.samples[0].value = 9.0;
    let r = s.ingest("z", vec![f.clone()], 2000);
    assert_eq!(r.rejected, [0, 1, 0]);
    let first = r.first.unwrap();
    assert_eq!(first, "m{target=\"x\"} at 400 ms: out_of_order");
    f.samples[0].timestamp_ms = Some(500);
    assert_eq!(s.ingest("z", vec![f], 2000).rejected, [0, 0, 1]);
    assert_eq!(s.range(Some("m"), |_| true, 0, 5000)[0].1, vec![(500, 1.0)]);
    assert_eq!(
        rejected(&s),
        [
            ("too_far_in_future".to_string(), 0.0),
            ("out_of_order".to_string(), 1.0),
            ("duplicate_timestamp".to_string(), 1.0)
        ]
    );
}

#[test]
fn a_future_sample_is_refused_and_does_not_freeze_the_series() {
    let now = 1_765_000_000_000;
    let s = Store::new(limits(100));
    let mut f = fam("pj", &[("x", 1.0)]);
    f.samples[0].timestamp_ms = Some(253_402_300_799_000);
    let r = s.ingest("z", vec![f.clone()], now);
    assert_eq!(r.rejected, [1, 0, 0]);
    assert!(r.rejected_message().unwrap().contains("too_far_in_future"));
    // Within the tolerance a sample is taken, and a later current one still updates it.
    f.samples[0].timestamp_ms = Some(now + FUTURE_TOLERANCE_MS);
    assert_eq!(s.ingest("z", vec![f.clone()], now), Ingested::default());
    f.samples[0].timestamp_ms = None;
    f.samples[0].value = 2.0;
    let later = now + FUTURE_TOLERANCE_MS + 1;
    assert_eq!(s.ingest("z", vec![f.clone()], later), Ingested::default());
    let got = s.range(Some("pj"), |_| true, 0, i64::MAX)[0].1.clone();
    assert_eq!(got, vec![(now + FUTURE_TOLERANCE_MS, 1.0), (later, 2.0)]);
    // All or nothing: a push with one refused sample writes none.
    let mut two = fam("q", &[("a", 1.0), ("b", 1.0)]);
    two.samples[1].timestamp_ms = Some(later + FUTURE_TOLERANCE_MS + 1);
    match s.try_ingest("p", vec![two], later) {
        Err(Refused::Samples(r)) => assert_eq!(r.rejected, [1, 0, 0]),
        other => panic!("{other:?}"),
    }
    assert!(s.range(Some("q"), |_| true, 0, i64::MAX).is_empty());
    assert!(s.latest_of("p").is_none());
    assert_eq!(rejected(&s)[0].1, 2.0);
}

#[test]
fn health_series_are_kept_at_the_series_limit() {
    let s = Store::new(limits(1));
    let data = fam("m", &[("1", 1.0), ("2", 1.0)]);
    let up = Family::gauge("telltale_target_up", "h").with(&[("target", "t")], 1.0);
    let r = s.ingest("json/t", vec![data, up.clone()], 1000);
    assert_eq!(r.series_refused, 1);
    assert_eq!(
        s.range(Some("telltale_target_up"), |_| true, 0, 5000).len(),
        1
    );
    // A push (all or nothing) gets no such exemption.
    let other = Family::gauge("telltale_target_up", "h").with(&[("target", "u")], 1.0);
    assert!(matches!(
        s.try_ingest("push:x", vec![other], 1000),
        Err(Refused::Full(_))
    ));
    drop(up);
}

#[test]
fn concurrent_writers_and_readers() {
    let s = Arc::new(Store::new(limits(10_000)));
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..200 {
                    s.ingest(
                        &format!("src{w}"),
                        vec![fam("m", &[(&format!("{w}"), i as f64)])],
                        1000 + i,
                    );
                    let _ = s.latest_families();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let r = s.range(Some("m"), |_| true, 0, i64::MAX);
    assert_eq!(r.len(), 4);
    assert!(r.iter().all(|(_, pts)| pts.len() == 200));
}

#[test]
fn unsorted_labels_find_the_same_series() {
    let s = Store::new(limits(100));
    let mut f = Family::gauge("m", "h");
    f.add(&[("b", "1"), ("a", "2")], 1.0);
    s.ingest("a", vec![f.clone()], 1000);
    f.samples[0].value = 2.0;
    s.ingest("a", vec![f], 2000);
    let r = s.range(Some("m"), |_| true, 0, 5000);
    assert_eq!(r.len(), 1);
    assert_eq!(
        *r[0].0.labels,
        [("a".into(), "2".into()), ("b".into(), "1".into())]
    );
    assert_eq!(r[0].1, vec![(1000, 1.0), (2000, 2.0)]);
    // The family as served keeps the source's order.
    assert_eq!(s.latest_families()[0].samples[0].labels[0].0, "b");
}

#[test]
fn staleness_is_per_source_even_for_a_shared_series() {
    let s = Store::new(limits(100));
    s.ingest("a", vec![fam("m", &[("x", 1.0), ("y", 1.0)])], 1000);
    s.ingest("b", vec![fam("m", &[("x", 1.0)])], 1500);
    // A series reported twice in one poll is still one series, seen once.
    s.ingest("a", vec![fam("m", &[("y", 2.0), ("y", 3.0)])], 2000);
    let x = s.range(Some("m"), |k| k.labels[0].1 == "x", 0, 5000);
    assert_eq!(x[0].1.len(), 3);
    assert!(is_stale(x[0].1[2].1) && x[0].1[2].0 == 2000);
    let y = s.range(Some("m"), |k| k.labels[0].1 == "y", 0, 5000);
    assert_eq!(y[0].1, vec![(1000, 1.0), (2000, 2.0)]);
    // Only the source that dropped it: b's next poll still has x and marks nothing.
    s.ingest("b", vec![fam("m", &[("x", 4.0)])], 3000);
    let x = s.range(Some("m"), |k| k.labels[0].1 == "x", 0, 5000);
    assert_eq!(x[0].1.last(), Some(&(3000, 4.0)));
    assert_eq!(s.inner.read().unwrap().latest["a"].1.len(), 1);
}

#[test]
fn ranges_are_inclusive_and_every_name_is_read_without_one() {
    let s = Store::new(limits(100));
    for t in [1000, 2000, 3000, 4000] {
        s.ingest("a", vec![fam("m", &[("x", t as f64)]), fam("n", &[])], t);
    }
    s.ingest("b", vec![fam("a", &[("x", 0.0)])], 2500);
    let r = s.range(Some("m"), |_| true, 2000, 3000);
    assert_eq!(r[0].1, vec![(2000, 2000.0), (3000, 3000.0)]);
    assert!(s.range(Some("m"), |_| true, 3000, 2000)[0].1.is_empty());
    let names: Vec<_> = s
        .range(None, |_| true, 0, 5000)
        .into_iter()
        .map(|(k, _)| k.name)
        .collect();
    assert_eq!(names, [Arc::from("a"), Arc::from("m")]);
    assert!(s.range(Some("n"), |_| true, 0, 5000).is_empty());
}

#[test]
fn try_ingest_is_all_or_nothing_at_the_limit() {
    let s = Store::new(limits(3));
    s.ingest("a", vec![fam("m", &[("1", 1.0), ("2", 1.0)])], 1000);
    let err = s
        .try_ingest("b", vec![fam("n", &[("1", 1.0), ("2", 1.0)])], 1000)
        .unwrap_err();
    assert_eq!(
        err,
        Refused::Full(Full {
            limit: 3,
            held: 2,
            new: 2
        })
    );
    assert!(s.range(Some("n"), |_| true, 0, 5000).is_empty());
    assert!(s.latest_of("b").is_none());
    // Existing series and one new one fit.
    s.try_ingest(
        "a",
        vec![fam("m", &[("1", 2.0), ("2", 2.0), ("3", 2.0)])],
        2000,
    )
    .unwrap();
    assert_eq!(s.latest_of("a").unwrap()[0].samples.len(), 3);
}

struct Collect(std::sync::Mutex<Vec<Written>>);
impl Tap for Collect {
    fn written(&self, samples: Vec<Written>) {
        self.0.lock().unwrap().extend(samples);
    }
}

#[test]
fn the_tap_sees_what_was_written_with_staleness_markers() {
    let s = Store::new(limits(100));
    let tap = Arc::new(Collect(Default::default()));
    s.set_tap(Some(tap.clone()));
    s.ingest("a", vec![fam("m", &[("x", 1.0), ("y", 2.0)])], 1000);
    // A repeated timestamp writes nothing, so the tap sees nothing.
    let mut f = fam("m", &[("x", 3.0)]);
    f.samples[0].timestamp_ms = Some(1000);
    s.ingest("a", vec![f], 2000);
    let got = tap.0.lock().unwrap().clone();
    let short: Vec<(String, i64, bool)> = got
        .iter()
        .map(|(k, t, v)| (k.labels[0].1.clone(), *t, is_stale(*v)))
        .collect();
    assert_eq!(
        short,
        vec![
            ("x".into(), 1000, false),
            ("y".into(), 1000, false),
            ("y".into(), 2000, true)
        ]
    );
    s.set_tap(None);
    s.ingest("a", vec![fam("m", &[("x", 4.0)])], 3000);
    assert_eq!(tap.0.lock().unwrap().len(), 3);
}

#[test]
fn keys_carry_histogram_suffixes_and_drop_empty_labels() {
    let s = Store::new(limits(100));
    let mut h = Family::histogram("lat", "h");
    h.observe(&[("instance", "")], &[(1.0, 2)], 3.0, 4);
    s.ingest("a", vec![h], 1000);
    let names: Vec<String> = s
        .range(None, |_| true, 0, 5000)
        .iter()
        .map(|(k, _)| format!("{}{:?}", k.name, k.labels))
        .collect();
    assert_eq!(
        names,
        vec![
            "lat_bucket[(\"le\", \"+Inf\")]",
            "lat_bucket[(\"le\", \"1\")]",
            "lat_count[]",
            "lat_sum[]"
        ]
    );
    // Exposition keeps the family as it was given.
    assert_eq!(
        s.latest_families()[0].kind,
        crate::model::MetricType::Histogram
    );
}
