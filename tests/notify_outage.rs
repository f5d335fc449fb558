//! Nothing lost: a real Alertmanager stopped for several resend periods while alerts fire and
//! resolve, then started again (every firing alert and every resolution reaches the sink it
//! routes to); and telltale itself restarted with deliveries pending (they survive in its
//! state file). Ports 19393-19397.

mod common;
mod notify_support;

use std::time::Duration;

use notify_support::{alert, now_ms, tmpdir, wait_until, Alertmanager, Driver, Sink};

fn config(dir: &std::path::Path, am: &Alertmanager) -> std::path::PathBuf {
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        format!(
            "alerting:\n  alertmanagers:\n    - url: http://{}\n      timeout: 2s\n",
            am.addr()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn an_alertmanager_outage_loses_nothing() {
    let dir = tmpdir("notify-outage");
    let sink = Sink::start(19394);
    let mut am = Alertmanager::new(19393, &sink, &dir);
    am.start();
    let mut d = Driver::start(&config(&dir, &am), None, &dir.join("driver.log"));
    let ctx = |d: &Driver, am: &Alertmanager, sink: &Sink| {
        format!(
            "driver:\n{}\nalertmanager:\n{}\nsink:\n{}",
            d.log_text(),
            am.log(),
            sink.dump()
        )
    };
    // The engine's timing, scaled down: a resend period of 1 s, endsAt = now + 4 periods.
    let period = 1000;
    let t0 = now_ms() - 10_000;
    d.submit(vec![
        alert("OutageA", &[], t0, now_ms() + 4 * period, false),
        alert("OutageB", &[], t0, now_ms() + 4 * period, false),
    ]);
    wait_until(
        20,
        "A and B firing at the sink",
        || sink.count("OutageA", "firing") == 1 && sink.count("OutageB", "firing") == 1,
        || ctx(&d, &am, &sink),
    );

    am.stop();
    // Five resend periods down: A resolves, B keeps firing, C starts firing.
    let resolved_at = now_ms();
    let c_start = now_ms();
    for _ in 0..5 {
        let now = now_ms();
        d.submit(vec![
            alert("OutageA", &[], t0, resolved_at, true),
            alert("OutageB", &[], t0, now + 4 * period, false),
            alert("OutageC", &[], c_start, now + 4 * period, false),
        ]);
        std::thread::sleep(Duration::from_millis(period as u64));
    }
    let failed = d.metric(&format!(
        "telltale_notifications_failed_total{{notifier=\"http://{}/api/v2/alerts\",reason=\"connect\"}}",
        am.addr()
    ));
    assert!(failed > 0.0, "connection failures counted");
    // Re-sent alerts replace their queued copies: one slot per alert state (15 without), or
    // two when a re-send arrived while a retry was on the wire.
    let pending = d.pending();
    assert!((3..=6).contains(&pending), "{pending} alerts queued");

    am.start();
    let keep_sending = |d: &mut Driver| {
        let now = now_ms();
        d.submit(vec![
            alert("OutageA", &[], t0, resolved_at, true),
            alert("OutageB", &[], t0, now + 4 * period, false),
            alert("OutageC", &[], c_start, now + 4 * period, false),
        ]);
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !(sink.count("OutageA", "resolved") >= 1 && sink.count("OutageC", "firing") >= 1) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out: {}",
            ctx(&d, &am, &sink)
        );
        keep_sending(&mut d);
        std::thread::sleep(Duration::from_millis(period as u64));
    }
    let log = d.log.clone();
    wait_until(
        10,
        "the queue to drain",
        || d.pending() == 0,
        || {
            format!(
                "{}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default(),
                sink.dump()
            )
        },
    );
    // Alertmanager kept its notification log across the restart: B, still firing, was not
    // announced again, and A's resolution went to a receiver that had seen it fire.
    assert_eq!(sink.count("OutageA", "firing"), 1, "{}", sink.dump());
    assert_eq!(sink.count("OutageB", "firing"), 1, "{}", sink.dump());
    assert_eq!(sink.count("OutageC", "firing"), 1, "{}", sink.dump());
    let resolved: Vec<_> = sink
        .alerts()
        .into_iter()
        .filter(|(n, s, _)| n == "OutageA" && s == "resolved")
        .collect();
    let ends = resolved[0].2["alerts"][0]["endsAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        ends.starts_with(&notify_support_time(resolved_at)),
        "{ends} vs {resolved_at}"
    );
    assert!(d.finish());
}

/// The seconds part of an RFC 3339 time, for comparing with Alertmanager's rendering.
fn notify_support_time(ms: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{}", ms / 1000), "+%Y-%m-%dT%H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn pending_deliveries_survive_a_telltale_restart() {
    let dir = tmpdir("notify-restart");
    let sink = Sink::start(19397);
    let mut am = Alertmanager::new(19396, &sink, &dir);
    let cfg = config(&dir, &am);
    let state = dir.join("notifications.json");
    // Alertmanager is not up yet: the alerts stay queued, and are saved on exit.
    let mut d = Driver::start(&cfg, Some(&state), &dir.join("driver.log"));
    let t0 = now_ms() - 5_000;
    d.submit(vec![alert("Restarted", &[], t0, now_ms() + 600_000, false)]);
    assert_eq!(d.pending(), 1);
    assert!(
        d.finish(),
        "the driver exits cleanly after its flush deadline"
    );
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("Restarted"), "{saved}");

    am.start();
    let d = Driver::start(&cfg, Some(&state), &dir.join("driver.log"));
    wait_until(
        20,
        "the restored alert at the sink",
        || sink.count("Restarted", "firing") == 1,
        || {
            format!(
                "driver:\n{}\nalertmanager:\n{}\nsink:\n{}",
                d.log_text(),
                am.log(),
                sink.dump()
            )
        },
    );
    assert!(d.finish());
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(
        !saved.contains("Restarted"),
        "delivered alerts are not saved again: {saved}"
    );
}
