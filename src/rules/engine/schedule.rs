//! When groups run: each on its interval, at a slot offset by a hash of its key (so groups
//! spread over the interval, as in Prometheus' `EvalTimestamp`); an evaluation that overruns
//! skips the ticks it missed and counts them. Also the task that writes the state file.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::model::time::now_ms;
use crate::rules::eval::remote;

/// The group's offset within its interval: a stable hash of its key (FNV-1a).
pub fn offset_ms(key: &str, interval_ms: i64) -> i64 {
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (h % interval_ms.max(1) as u64) as i64
}

/// The latest slot at or before `now`: `offset + k * interval`.
pub fn slot(now: i64, interval: i64, offset: i64) -> i64 {
    let adj = now - offset;
    adj - adj.rem_euclid(interval) + offset
}

/// Ticks missed when an evaluation for `ts` ends at `now`, and the next timestamp.
pub fn next_tick(ts: i64, now: i64, interval: i64) -> (u64, i64) {
    let missed = ((now - ts) / interval - 1).max(0);
    (missed as u64, ts + (missed + 1) * interval)
}

async fn sleep_until_ms(t: i64) {
    let wait = t - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

impl Engine {
    /// Starts one task per group (and the state-file writer); must run inside the runtime.
    /// The first evaluations wait `warmup`, so that on a fresh start every source has been
    /// polled once and a restored alert is not resolved for want of data nobody fetched yet.
    pub fn start(self: &Arc<Self>, state_file: Option<PathBuf>, warmup: Duration) {
        let first = now_ms() + warmup.as_millis() as i64;
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for g in &self.groups {
            let (engine, g) = (Arc::downgrade(self), Arc::clone(g));
            tasks.push(tokio::spawn(async move {
                let every = g.interval.as_millis().max(1) as i64;
                let mut ts = slot(first, every, offset_ms(&g.key(), every)) + every;
                loop {
                    sleep_until_ms(ts).await;
                    let Some(e) = engine.upgrade() else { return };
                    let remote = match &g.datasource {
                        Some(ds) => Some(remote::inputs(ds, &g.spec.rules, g.query_time(ts)).await),
                        None => None,
                    };
                    let g2 = Arc::clone(&g);
                    // Local queries are CPU work: keep them off the async workers.
                    let done =
                        tokio::task::spawn_blocking(move || e.eval_group(&g2, ts, remote)).await;
                    if done.is_err() {
                        tracing::error!(group = %g.spec.name, "rule group evaluation panicked");
                    }
                    let (missed, next) = next_tick(ts, now_ms(), every);
                    if missed > 0 {
                        g.state().stats.missed += missed;
                        tracing::warn!(group = %g.spec.name, missed, "rule group missed evaluations");
                    }
                    ts = next;
                }
            }));
        }
        if let Some(path) = state_file {
            let engine = Arc::downgrade(self);
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let Some(e) = engine.upgrade() else { return };
                    if e.shared.dirty.swap(false, Ordering::Relaxed) {
                        // Counted and logged once per failure streak there.
                        let _ = e.save_state_counted(&path, now_ms());
                    }
                }
            }));
        }
    }

    /// Stops every task; an evaluation in progress finishes its current rule.
    pub fn stop(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_aligned_and_spread() {
        assert_eq!(slot(125_000, 60_000, 5_000), 125_000);
        assert_eq!(slot(124_999, 60_000, 5_000), 65_000);
        assert_eq!(slot(3_000, 60_000, 5_000), -55_000);
        let a = offset_ms("f;a", 60_000);
        let b = offset_ms("f;b", 60_000);
        assert!(a != b && (0..60_000).contains(&a) && (0..60_000).contains(&b));
        assert_eq!(offset_ms("f;a", 60_000), a);
    }

    #[test]
    fn overruns_skip_and_count_ticks() {
        assert_eq!(next_tick(0, 500, 1000), (0, 1000));
        assert_eq!(next_tick(0, 1000, 1000), (0, 1000));
        assert_eq!(next_tick(0, 3500, 1000), (2, 3000));
    }
}
