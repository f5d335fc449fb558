//! The alert state file: every alerting rule's alerts (and what its rule kind learnt, see
//! `kinds::Input::save`), written atomically (temporary file, fsync, rename) while the engine
//! runs and on shutdown, and restored on start, so a restart resets neither `for` nor
//! `keep_firing_for`, loses no resolution (see `alert_out`) and does not re-learn.

use std::path::Path;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::model::file;
use crate::rules::alert::output::RuleSnapshot;

const VERSION: u32 = 1;

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub groups: Vec<GroupSnapshot>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// The group's name; rules are matched by group name, rule name and rule labels, so
    /// moving a group to another file keeps its state.
    pub group: String,
    pub rules: Vec<RuleSnapshot>,
}

impl Engine {
    pub fn snapshot(&self, now_ms: i64) -> StateFile {
        let groups = self
            .groups
            .iter()
            .map(|g| GroupSnapshot {
                group: g.spec.name.clone(),
                rules: g
                    .state()
                    .rules
                    .iter()
                    .filter_map(|r| {
                        let mut snap = r.alert.as_ref()?.snapshot(now_ms);
                        snap.kind_state = r.kind.as_ref().and_then(|k| k.save());
                        Some(snap)
                    })
                    .collect(),
            })
            .collect();
        StateFile {
            version: VERSION,
            groups,
        }
    }

    pub fn save_state(&self, path: &Path, now_ms: i64) -> Result<(), String> {
        let text = serde_json::to_vec(&self.snapshot(now_ms)).map_err(|e| e.to_string())?;
        file::write_atomic(path, &text).map_err(|e| e.to_string())
    }

    /// `save_state` for the periodic writer: a failure counts in
    /// `telltale_rule_state_write_failures_total` and is logged once per streak of failures
    /// (the writer tries every second), and once more when a write works again.
    pub fn save_state_counted(&self, path: &Path, now_ms: i64) -> Result<(), String> {
        let r = self.save_state(path, now_ms);
        let sh = &self.shared;
        match &r {
            Err(err) => {
                sh.state_write_failures.fetch_add(1, Ordering::Relaxed);
                if !sh.state_write_failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(path = %path.display(), %err,
                        "cannot write rule state; retrying, not logged again until it works");
                }
            }
            Ok(()) => {
                if sh.state_write_failing.swap(false, Ordering::Relaxed) {
                    let failures = sh.state_write_failures.load(Ordering::Relaxed);
                    tracing::info!(path = %path.display(), failures, "rule state written again");
                }
            }
        }
        r
    }

    /// Restores alert state saved by an earlier run; returns the number of alerts restored.
    /// A missing file is a first start. Whatever is not restored is logged: something other
    /// than a regular file at the path (refused unopened, so a FIFO cannot block start-up), a
    /// corrupt file or one of another `version` (moved to `<path>.corrupt-<time>` so the next
    /// save keeps it), and rules' state with impossible times (see [`check_times`]).
    pub fn restore_state(&self, path: &Path, now_ms: i64) -> usize {
        let shown = path.display();
        let text = match file::read_regular(path) {
            Ok(Some(t)) => t,
            Ok(None) => return 0,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                tracing::error!(path = %shown, err = %e, "rule state not read; starting empty");
                return 0;
            }
            Err(e) => {
                set_aside(path, now_ms, &format!("cannot read rule state: {e}"));
                return 0;
            }
        };
        let mut file = match parse(&text) {
            Ok(f) => f,
            Err(why) => {
                set_aside(path, now_ms, &why);
                return 0;
            }
        };
        let opts = self.options().restore;
        let checked = check_times(&mut file, now_ms, opts.outage_tolerance_ms);
        checked.log(&shown.to_string());
        let mut restored = 0;
        let mut used = 0;
        for g in &self.groups {
            let mut st = g.state();
            for rs in st.rules.iter_mut() {
                let Some(a) = rs.alert.as_mut() else { continue };
                let mine = a.snapshot(now_ms);
                let snap = file
                    .groups
                    .iter()
                    .filter(|s| s.group == g.spec.name)
                    .flat_map(|s| s.rules.iter())
                    .find(|s| s.rule == mine.rule && s.rule_labels == mine.rule_labels);
                if let Some(snap) = snap {
                    used += 1;
                    restored += a.restore(snap, now_ms, opts).unwrap_or(0);
                    if let (Some(k), Some(v)) = (rs.kind.as_mut(), &snap.kind_state) {
                        if let Err(e) = k.restore(v) {
                            tracing::warn!(rule = %snap.rule, err = %e, "rule kind state not restored; starting afresh");
                        }
                    }
                }
            }
        }
        let unused = file.groups.iter().map(|g| g.rules.len()).sum::<usize>() - used;
        if unused > 0 {
            tracing::warn!(path = %shown, rules = unused, "saved state of rules no longer configured; not restored");
        }
        restored
    }
}

/// The state file's JSON, of this `VERSION`.
fn parse(text: &[u8]) -> Result<StateFile, String> {
    let v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("rule state file is not JSON: {e}"))?;
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(n) if n == u64::from(VERSION) => {}
        other => {
            return Err(format!(
                "rule state file of version {}, this telltale reads version {VERSION}",
                other.map_or_else(|| "(none)".to_string(), |n| n.to_string())
            ))
        }
    }
    serde_json::from_value(v).map_err(|e| format!("rule state file unreadable: {e}"))
}

fn set_aside(path: &Path, now_ms: i64, why: &str) {
    match file::set_aside(path, now_ms) {
        Ok(aside) => tracing::error!(path = %path.display(), err = why, kept = %aside.display(),
            "rule state not restored; the file is kept aside and the engine starts empty"),
        Err(e) => tracing::error!(path = %path.display(), err = why, rename_err = %e,
            "rule state not restored, and the file could not be moved aside"),
    }
}

/// What [`check_times`] left out or changed.
#[derive(Debug, Default, PartialEq)]
pub struct TimeChecks {
    /// Rules whose state was saved after `now` (a clock set back) or before 1970: dropped.
    pub saved_in_future: usize,
    pub saved_before_epoch: usize,
    /// Rules whose state is older than the outage tolerance (not restored, as Prometheus does).
    pub too_old: usize,
    /// Alerts with a time before 1970: dropped.
    pub alerts_dropped: usize,
    /// Alerts with a time after their save (a restored `active_at` in 2058 would keep an alert
    /// pending for decades): clamped to the save time.
    pub alerts_clamped: usize,
}

impl TimeChecks {
    fn log(&self, path: &str) {
        let n = |x: usize| x > 0;
        if n(self.saved_in_future) || n(self.saved_before_epoch) {
            tracing::warn!(
                path,
                future = self.saved_in_future,
                before_1970 = self.saved_before_epoch,
                "rule state saved at an impossible time (clock changed?); those rules start empty"
            );
        }
        if n(self.too_old) {
            tracing::warn!(
                path,
                rules = self.too_old,
                "rule state older than rules.alert.for_outage_tolerance; those rules start empty"
            );
        }
        if n(self.alerts_dropped) {
            tracing::warn!(
                path,
                alerts = self.alerts_dropped,
                "restored alerts with times before 1970 dropped"
            );
        }
        if n(self.alerts_clamped) {
            tracing::warn!(
                path,
                alerts = self.alerts_clamped,
                "restored alerts with times after their save clamped to the save time"
            );
        }
    }
}

/// Leaves in `file` only what can be restored at `now_ms`: a rule's state saved between 1970
/// and now and within `tolerance_ms` of now; alerts without times before 1970, their times
/// no later than the save (so the restore's arithmetic cannot overflow either).
pub fn check_times(file: &mut StateFile, now_ms: i64, tolerance_ms: i64) -> TimeChecks {
    let mut c = TimeChecks::default();
    for g in &mut file.groups {
        g.rules.retain_mut(|r| {
            let saved = r.saved_at_ms;
            if saved > now_ms {
                c.saved_in_future += 1;
                return false;
            }
            if saved < 0 {
                c.saved_before_epoch += 1;
                return false;
            }
            if now_ms - saved > tolerance_ms {
                c.too_old += 1;
                return false;
            }
            r.alerts.retain_mut(|a| {
                let times = [
                    Some(&mut a.active_at_ms),
                    a.fired_at_ms.as_mut(),
                    a.resolved_at_ms.as_mut(),
                    a.last_sent_at_ms.as_mut(),
                    a.keep_firing_since_ms.as_mut(),
                ];
                let mut clamped = false;
                for t in times.into_iter().flatten() {
                    if *t < 0 {
                        c.alerts_dropped += 1;
                        return false;
                    }
                    if *t > saved {
                        *t = saved;
                        clamped = true;
                    }
                }
                c.alerts_clamped += usize::from(clamped);
                true
            });
            true
        });
    }
    c
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::model::file::testkit::{dir, mkfifo};
    use crate::rules::alert::output::RestoreOptions;
    use crate::rules::alert::AlertState;
    use crate::rules::engine::{LogSink, Options};
    use crate::rules::eval::Env;
    use crate::store::{Limits, Store};

    const NOW: i64 = 1_800_000_000_000;

    fn engine() -> Engine {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        for: 1h\n";
        let store = Arc::new(Store::new(Limits {
            retention_ms: 3_600_000,
            max_series: 100,
            max_samples: crate::store::DEFAULT_MAX_SAMPLES,
        }));
        let opts = Options {
            default_interval: Duration::from_secs(1),
            env: Env::default(),
            resend_delay: Duration::from_secs(60),
            restore: RestoreOptions::default(),
        };
        let files = vec![crate::rules::file::parse("r.yml", text).unwrap()];
        Engine::new(files, opts, store, Arc::new(LogSink), None).unwrap()
    }

    /// The first alert of the engine's one rule.
    fn active_at(e: &Engine) -> Option<(AlertState, i64)> {
        let st = e.groups[0].state();
        let a = st.rules[0].alert.as_ref()?.alerts().next()?.clone();
        Some((a.state, a.active_at_ms))
    }

    fn saved_pending(path: &Path, edit: impl Fn(&mut serde_json::Value)) {
        let e = engine();
        let g = Arc::clone(&e.groups[0]);
        e.eval_group(&g, NOW - 60_000, None);
        assert_eq!(active_at(&e), Some((AlertState::Pending, NOW - 60_000)));
        let mut v = serde_json::to_value(e.snapshot(NOW - 60_000)).unwrap();
        edit(&mut v);
        std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
    }

    #[test]
    fn a_fifo_at_the_state_path_is_refused_without_blocking() {
        let d = dir("state-fifo");
        let p = d.join("state.json");
        mkfifo(&p);
        let (tx, rx) = std::sync::mpsc::channel();
        let q = p.clone();
        std::thread::spawn(move || {
            let e = engine();
            let _ = tx.send(crate::logging::capture(|| e.restore_state(&q, NOW)));
        });
        let (n, log) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("restoring from a FIFO blocked");
        assert_eq!(n, 0);
        assert!(
            log.contains("level=error") && log.contains("a FIFO"),
            "{log}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_future_active_at_is_clamped_with_a_warning() {
        let d = dir("state-future");
        let p = d.join("state.json");
        // 2058: the alert would stay pending for decades.
        saved_pending(&p, |v| {
            v["groups"][0]["rules"][0]["alerts"][0]["active_at_ms"] = 2_786_000_000_000i64.into()
        });
        let e = engine();
        let (n, log) = crate::logging::capture(|| e.restore_state(&p, NOW));
        assert_eq!(n, 1);
        // Clamped to the save time, then moved on by the downtime as any pending alert is.
        assert_eq!(active_at(&e), Some((AlertState::Pending, NOW)));
        assert!(
            log.contains("clamped to the save time") && log.contains("alerts=1"),
            "{log}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn extreme_and_future_save_times_are_dropped_with_a_warning_not_a_panic() {
        let d = dir("state-extreme");
        let p = d.join("state.json");
        for (saved, active, want) in [
            (i64::MIN, NOW, "before_1970=1"),
            (i64::MAX, NOW, "future=1"),
            (NOW - 60_000, i64::MIN, "times before 1970 dropped"),
            (NOW - 7_200_000, NOW - 7_200_000, "older than"),
        ] {
            saved_pending(&p, |v| {
                v["groups"][0]["rules"][0]["saved_at_ms"] = saved.into();
                v["groups"][0]["rules"][0]["alerts"][0]["active_at_ms"] = active.into();
            });
            let e = engine();
            let (n, log) = crate::logging::capture(|| e.restore_state(&p, NOW));
            assert_eq!(n, 0, "{saved} {active}");
            assert!(
                log.contains("level=warn") && log.contains(want),
                "{want}: {log}"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn corrupt_and_unknown_version_files_are_kept_aside() {
        let d = dir("state-corrupt");
        let p = d.join("state.json");
        for (text, want) in [
            (&b"{\"version\": 1, \"groups\": [tru"[..], "not JSON"),
            (b"{\"version\": 7, \"groups\": []}", "version 7"),
            (b"{\"version\": 1, \"groups\": 3}", "unreadable"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = engine();
            let (n, log) = crate::logging::capture(|| e.restore_state(&p, NOW));
            assert_eq!(n, 0);
            assert!(log.contains(want) && log.contains("kept aside"), "{log}");
            assert!(!p.exists());
            let aside: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .map(|x| x.unwrap().path())
                .collect();
            assert_eq!(aside.len(), 1, "{aside:?}");
            let name = aside[0].file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("state.json.corrupt-2027"), "{name}");
            assert_eq!(std::fs::read(&aside[0]).unwrap(), text);
            // The next save writes a new file beside it.
            e.save_state(&p, NOW).unwrap();
            assert!(p.exists());
            std::fs::remove_file(&aside[0]).unwrap();
            std::fs::remove_file(&p).unwrap();
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failed_writes_are_counted_and_logged_once_per_streak() {
        let d = dir("state-writes");
        let bad = d.join("missing-dir").join("state.json");
        let e = engine();
        let (_, log) = crate::logging::capture(|| {
            for _ in 0..5 {
                assert!(e.save_state_counted(&bad, NOW).is_err());
            }
            e.save_state_counted(&d.join("state.json"), NOW).unwrap();
            assert!(e.save_state_counted(&bad, NOW).is_err());
        });
        assert_eq!(log.matches("cannot write rule state").count(), 2, "{log}");
        assert_eq!(log.matches("rule state written again").count(), 1, "{log}");
        let m = crate::model::encode(&e.families(), crate::model::Format::Text);
        assert!(
            m.contains("telltale_rule_state_write_failures_total 6\n"),
            "{m}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
