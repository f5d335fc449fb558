//! Level shift: the mean of the `recent` samples against the median of the `window` samples
//! before them. Averaging the recent samples hides single outliers and shows a level that moved
//! and stayed (an instance that lost half its traffic), which a per-sample test sees only as
//! mild outliers. The departure is in the series' unit.

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};
use super::window::{RollingMoments, SortedWindow};
use super::{Model, Spec};

pub const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        key: "window",
        default: "300",
        help: "samples in the reference median (those before the recent ones)",
    },
    ParamDoc {
        key: "recent",
        default: "30",
        help: "samples averaged for the current level (this one included)",
    },
];

pub const SPEC: Spec = Spec {
    name: "shift",
    about: "|mean(last `recent`) - median(the `window` before them)|: a moved level",
    params: PARAMS,
    kind: super::model_kind::<Shift>(),
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Shift {
    recent: RollingMoments,
    reference: SortedWindow,
}

impl Model for Shift {
    fn new(p: &Params) -> Result<Self, String> {
        Ok(Shift {
            recent: RollingMoments::new(p.usize_in("recent", 1, 100_000)?),
            reference: SortedWindow::new(p.usize_in("window", 3, 100_000)?),
        })
    }

    fn name(&self) -> &'static str {
        SPEC.name
    }

    /// The reference window's median, once it is full.
    fn expected(&self) -> Option<f64> {
        self.reference.is_full().then(|| self.reference.median())
    }

    fn departure(&mut self, _t: f64, v: f64) -> Option<f64> {
        if let Some(old) = self.recent.push(v) {
            self.reference.push(old);
        }
        let level = self.recent.mean();
        self.reference
            .is_full()
            .then(|| (level - self.reference.median()).abs())
    }

    fn state(&self) -> serde_json::Value {
        super::to_state(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::anomaly::testkit::*;

    #[test]
    fn a_step_scores_high_and_a_lone_spike_less() {
        // The record rises with the departure as the recent mean moves, so the alarm is raised
        // as soon as the record is beaten, not at the end of the move.
        let mut d = detector("shift", &[]);
        let s = run(&mut *d, &step(3000, 2000, 3.0));
        assert_alarm(&s, 2000..2015);
        assert_quiet(&s, 0..2000, 0.65);
        let mut d = detector("shift", &[]);
        let s = run(&mut *d, &spike(3000, 2000, 6.0));
        assert_quiet(&s, 0..3000, 0.65);
    }

    #[test]
    fn a_drift_is_flagged() {
        let mut d = detector("shift", &[]);
        let s = run(&mut *d, &drift(3000, 2000, 0.02));
        assert_quiet(&s, 0..2000, 0.65);
        assert_alarm(&s, 2000..2100);
    }
}
