//! The extensions beyond Prometheus' lifecycle: `keep_last` and `alerting` policies for
//! no_data / on_error, and the hysteresis match (see the `alert` module doc).

use std::collections::BTreeSet;

use super::alert::{
    AlertRule, AlertState, EvalError, EvalInput, REASON_LABEL, RESOLVED_RETENTION_MS,
};
use crate::exposition::Labels;
use crate::promql;

impl AlertRule {
    /// `keep_last`: nothing moves; resolved alerts past retention are still forgotten.
    pub(super) fn hold(&mut self, t: i64) {
        self.last_eval_ms = Some(t);
        self.alerts.retain(|_, a| {
            a.resolved_at_ms
                .is_none_or(|r| t - r <= RESOLVED_RETENTION_MS)
        });
    }

    /// `alerting`: active alerts count as present, plus the rule-level `reason` alert.
    pub(super) fn force(
        &mut self,
        t: i64,
        reason: &str,
        error: Option<&str>,
    ) -> Result<(), EvalError> {
        let (mut lbls, mut ann) = self.instance(&Vec::new(), f64::NAN);
        promql::set(&mut lbls, REASON_LABEL, reason);
        if let Some(e) = error {
            promql::set(&mut ann, "telltale_error", e);
        }
        match self.alerts.get_mut(&lbls) {
            Some(a) if a.state != AlertState::Inactive => a.annotations = ann,
            _ => {
                let a = Self::new_alert(lbls.clone(), ann, f64::NAN, t);
                self.alerts.insert(lbls, a);
            }
        }
        let present: BTreeSet<Labels> = self
            .alerts
            .iter()
            .filter(|(_, a)| a.state != AlertState::Inactive)
            .map(|(l, _)| l.clone())
            .collect();
        self.advance(t, &present, None)
    }
}

/// Hysteresis: does some resolve sample designate this alert?
pub(super) fn resolve_holds(resolve: &EvalInput, alert_labels: &Labels) -> bool {
    let EvalInput::Ok(samples) = resolve else {
        return false;
    };
    samples.iter().any(|s| {
        s.labels
            .iter()
            .filter(|(k, _)| k != promql::NAME)
            .all(|(k, v)| promql::get(alert_labels, k) == Some(v.as_str()))
    })
}
