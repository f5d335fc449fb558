//! What an alerting rule's state produces: notifications due at `t` (Prometheus'
//! `needsSending`/`sendAlerts`), the `ALERTS` / `ALERTS_FOR_STATE` samples, and a serialisable
//! snapshot with restore on start.
//!
//! Restore (Prometheus' `RestoreForState`, applied to a full snapshot instead of the
//! `ALERTS_FOR_STATE` series): a snapshot older than `outage_tolerance` is ignored. A pending
//! alert keeps the pending time it had accumulated (`active_at` moves forward by the downtime),
//! but with `remaining = for - (saved_at - active_at)` below `min(grace, for)` it fires
//! `min(grace, for)` after the restore. With Prometheus' grace (10 m) this reproduces its
//! behaviour exactly, including "rules with `for` < grace start from scratch"; telltale's
//! default grace is 0, so a restart never resets `for`. Firing alerts keep `active_at`,
//! `fired_at` (so `startsAt` is unchanged at Alertmanager), `keep_firing_since` (the downtime
//! counts against `keep_firing_for`, which Prometheus does not persist at all) and
//! `last_sent_at`; resolved alerts keep their retention, so a resolution is never lost.

use serde::{Deserialize, Serialize};

use super::{Alert, AlertRule, AlertState};
use crate::model::labels;
use crate::model::Labels;
use crate::promql::Sample;

/// One alert to hand to the notifiers (Prometheus' `notifier.Alert` without the URL).
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub labels: Labels,
    pub annotations: Labels,
    /// `startsAt`: when the alert fired.
    pub starts_at_ms: i64,
    /// `endsAt`: the resolve time, or `t + 4 * max(resend delay, interval)` while firing.
    pub ends_at_ms: i64,
    pub resolved: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSnapshot {
    pub rule: String,
    /// The rule's label templates, as written (Prometheus identifies a rule by name + labels).
    pub rule_labels: Labels,
    /// The last evaluation before the snapshot: the "down at" time of a restore.
    pub saved_at_ms: i64,
    pub alerts: Vec<Alert>,
    /// What a rule kind learnt (`kinds::Input::save`); absent for `expr` rules and for kinds
    /// that learn nothing, so older state files read unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind_state: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RestoreOptions {
    pub outage_tolerance_ms: i64,
    pub grace_period_ms: i64,
}

impl RestoreOptions {
    /// Prometheus' `--rules.alert.for-outage-tolerance=1h --rules.alert.for-grace-period=10m`.
    #[cfg(test)]
    pub const PROMETHEUS: RestoreOptions = RestoreOptions {
        outage_tolerance_ms: 3_600_000,
        grace_period_ms: 600_000,
    };
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            outage_tolerance_ms: 3_600_000,
            grace_period_ms: 0,
        }
    }
}

impl Alert {
    fn needs_sending(&self, t: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if let Some(r) = self.resolved_at_ms {
            if self.last_sent_at_ms.is_none_or(|s| r > s) {
                return true;
            }
        }
        self.last_sent_at_ms.is_none_or(|s| s + resend_delay_ms < t)
    }
}

impl AlertRule {
    /// The alerts to send at `t` (firing ones not sent within the resend delay, fresh and
    /// retained resolutions), marking them sent. Skip it after an `RuleError` with `skip_send`.
    pub fn due_notifications(
        &mut self,
        t: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        for a in self.alerts.values_mut() {
            if !a.needs_sending(t, resend_delay_ms) {
                continue;
            }
            let valid_until = t + 4 * resend_delay_ms.max(interval_ms);
            a.last_sent_at_ms = Some(t);
            a.valid_until_ms = Some(valid_until);
            out.push(Notification {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
                ends_at_ms: a.resolved_at_ms.unwrap_or(valid_until),
                resolved: a.resolved_at_ms.is_some(),
            });
        }
        out
    }

    /// `ALERTS{alertstate}` = 1 and `ALERTS_FOR_STATE` = `active_at` in seconds for every
    /// pending or firing alert, stamped `t` by the caller (empty until restored).
    pub fn series(&self) -> Vec<Sample> {
        if !self.restored {
            return Vec::new();
        }
        let mut out = Vec::new();
        for a in self
            .alerts
            .values()
            .filter(|a| a.state != AlertState::Inactive)
        {
            // Base: the rule's raw labels, overlaid with the alert's (alerting.go `sample`).
            let mut base: Labels = Vec::new();
            for (k, tpl) in &self.spec.labels {
                labels::set(&mut base, k, tpl.source());
            }
            for (k, v) in &a.labels {
                labels::set(&mut base, k, v);
            }
            labels::set(&mut base, "alertname", &self.spec.name);
            let mut alerts = base.clone();
            labels::set(&mut alerts, labels::NAME, "ALERTS");
            labels::set(&mut alerts, "alertstate", a.state.as_str());
            out.push(Sample {
                labels: alerts,
                value: 1.0,
            });
            labels::set(&mut base, labels::NAME, "ALERTS_FOR_STATE");
            out.push(Sample {
                labels: base,
                value: a.active_at_ms.div_euclid(1000) as f64,
            });
        }
        out
    }

    /// The state to persist; `saved_at` is the last evaluation (or `now` if none yet).
    pub fn snapshot(&self, now_ms: i64) -> RuleSnapshot {
        RuleSnapshot {
            rule: self.spec.name.clone(),
            rule_labels: self
                .spec
                .labels
                .iter()
                .map(|(k, t)| (k.clone(), t.source().to_string()))
                .collect(),
            saved_at_ms: self.last_eval_ms.unwrap_or(now_ms),
            alerts: self.alerts.values().cloned().collect(),
            kind_state: None,
        }
    }

    /// Restores a snapshot taken before a restart at `now_ms` (see the module doc). Returns the
    /// number of alerts restored; a snapshot of another rule is an error.
    pub fn restore(
        &mut self,
        snap: &RuleSnapshot,
        now_ms: i64,
        opts: RestoreOptions,
    ) -> Result<usize, String> {
        let mine = self.snapshot(now_ms);
        if snap.rule != mine.rule || snap.rule_labels != mine.rule_labels {
            return Err(format!(
                "state of rule {:?} does not belong to rule {:?}",
                snap.rule, mine.rule
            ));
        }
        self.restored = true;
        let down_at = snap.saved_at_ms;
        let downtime = now_ms - down_at;
        if !(0..=opts.outage_tolerance_ms).contains(&downtime) {
            return Ok(0);
        }
        let hold = self.spec.for_ms;
        let grace = opts.grace_period_ms.min(hold);
        for a in &snap.alerts {
            let mut a = a.clone();
            if a.state == AlertState::Pending {
                let remaining = hold - (down_at - a.active_at_ms);
                if remaining <= 0 {
                    // It would have fired: it fires at the next evaluation.
                } else if remaining < grace {
                    a.active_at_ms = now_ms + grace - hold;
                } else {
                    a.active_at_ms += downtime;
                }
            }
            self.alerts.insert(a.labels.clone(), a);
        }
        Ok(snap.alerts.len())
    }
}

/// Prometheus' `generatorURL`: `<external_url>/graph?g0.expr=<expr, query-escaped as Go's
/// url.QueryEscape does>&g0.tab=1`.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let mut q = String::with_capacity(expr.len() * 3);
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                q.push(b as char)
            }
            b' ' => q.push('+'),
            _ => q.push_str(&format!("%{b:02X}")),
        }
    }
    format!(
        "{}/graph?g0.expr={q}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_urls_escape_like_go() {
        assert_eq!(
            generator_url("http://prom:9090/", "up == 0"),
            "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
        assert_eq!(
            generator_url("", r#"rate(x{a="b/c"}[5m]) > 0.5"#),
            "/graph?g0.expr=rate%28x%7Ba%3D%22b%2Fc%22%7D%5B5m%5D%29+%3E+0.5&g0.tab=1"
        );
    }
}
