//! An anomaly rule on a live application end to end (issue 6, scenario b): telltale polls
//! `telltale demo-app`'s response time every second, the rule's detector learns its normal
//! (~120 ± 30 ms), and when the app's latency fault is switched on (2.5 s) the alert fires,
//! stays firing while the latency is away from that normal (`hold: true`) and resolves once it
//! is back; a webhook sink receives both.

mod common;
mod notify_support;
mod scenario_support;

use std::time::{Duration, Instant};

use notify_support::{tmpdir, wait_until, Sink};
use scenario_support::{alerts, demo_app, fault, telltale};

/// The default detector (ensemble) with windows of 10 samples and a 10-sample warm-up, so that it
/// judges after about 20 s; no hold-off (an early noise record would otherwise halve the scores
/// of the fault's start). At threshold 0.9 (a departure three times the largest yet) the app's
/// noise stayed quiet in 199 simulated runs of this timeline, and the fault fired in all of them
/// (a unit-test harness over the same noise, fault and timeline).
const RULES: &str = r#"groups:
  - name: app
    interval: 1s
    rules:
      - alert: LatencyAnomaly
        anomaly:
          input: app_response_time_seconds
          params: {mad.window: 10, shift.window: 10, shift.recent: 3, variance.window: 20, variance.recent: 5, holdoff: 0}
          min_samples: 10
          threshold: 0.9
          hold: true
        labels: {severity: warning}
        annotations:
          summary: 'response time {{ $inputs.value }}s, normally {{ $inputs.normal_low }}s to {{ $inputs.normal_high }}s'
"#;

const CONFIG: &str = r#"global: {scrape_interval: 1s, evaluation_interval: 1s}
system: {enabled: false}
rule_files: [rules.yml]
json_targets:
  - name: demo
    url: http://APP/metrics
    interval: 1s
    metrics:
      - {name: app_response_time_seconds, path: $.response_time_ms, scale: 0.001}
alerting:
  webhooks:
    - {name: hook, url: 'HOOK', group_wait: 1s, group_interval: 1s}
"#;

fn score(tt: &common::Proc) -> Option<f64> {
    let m = common::get(&tt.addr(), "/metrics");
    (m.lines())
        .find_map(|l| {
            l.strip_prefix("telltale_anomaly_score{rule=\"LatencyAnomaly\",target=\"demo\"} ")
        })
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[test]
fn latency_departing_from_its_learnt_normal_fires_and_resolves_when_it_returns() {
    let dir = tmpdir("scenario-anomaly");
    let app = demo_app();
    let hook = Sink::start(common::free_port());
    let config = CONFIG
        .replace("APP", &app.addr())
        .replace("HOOK", &hook.url("/hook"));
    let tt = telltale(&dir, &config, RULES);
    let ctx = || format!("telltale:\n{}\nwebhook:\n{}", tt.log_text(), hook.dump());

    // Learning the normal: the score is exported from the first sample; no alert for 25 s.
    wait_until(10, "the anomaly score", || score(&tt).is_some(), ctx);
    let learning = Instant::now();
    while learning.elapsed() < Duration::from_secs(25) {
        let s = score(&tt).unwrap();
        assert!((0.0..=1.0).contains(&s), "score {s}");
        assert!(alerts(&tt, "LatencyAnomaly").is_empty(), "{}", ctx());
        std::thread::sleep(Duration::from_millis(250));
    }

    // 2.5 s instead of ~120 ms: fires within a few samples and stays firing while it lasts.
    fault(&app, "latency_ms=2500");
    let on = Instant::now();
    wait_until(
        10,
        "the alert firing",
        || !alerts(&tt, "LatencyAnomaly").is_empty(),
        ctx,
    );
    eprintln!("fired {:?} after the fault", on.elapsed());
    let a = &alerts(&tt, "LatencyAnomaly")[0];
    assert_eq!(a["state"], "firing", "{a}");
    let summary = a["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("response time 2.5s, normally 0."),
        "{summary}"
    );
    // The detector soon takes 2.5 s as the level and its scores fall; the hold keeps the alert
    // until the latency is back in its normal range.
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(6) {
        assert_eq!(alerts(&tt, "LatencyAnomaly").len(), 1, "{}", ctx());
        std::thread::sleep(Duration::from_millis(250));
    }
    wait_until(
        10,
        "the firing webhook",
        || hook.count("LatencyAnomaly", "firing") > 0,
        ctx,
    );

    fault(&app, "clear");
    let off = Instant::now();
    wait_until(
        10,
        "the alert resolved",
        || alerts(&tt, "LatencyAnomaly").is_empty(),
        ctx,
    );
    eprintln!("resolved {:?} after the fault ended", off.elapsed());
    wait_until(
        10,
        "the resolved webhook",
        || hook.count("LatencyAnomaly", "resolved") > 0,
        ctx,
    );
}
