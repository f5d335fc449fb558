//! Rolling z-score: how many standard deviations a sample is from the mean of the `window`
//! samples before it. The classic detector; it trusts the window's spread, so a quiet spell makes
//! small blips look large.

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};
use super::window::RollingMoments;
use super::{Model, Spec};

pub const PARAMS: &[ParamDoc] = &[ParamDoc {
    key: "window",
    default: "300",
    help: "samples in the rolling mean and standard deviation",
}];

pub const SPEC: Spec = Spec {
    name: "zscore",
    about: "|v - mean| / std over the last `window` samples",
    params: PARAMS,
    kind: super::model_kind::<Zscore>(),
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Zscore {
    win: RollingMoments,
}

impl Model for Zscore {
    fn new(p: &Params) -> Result<Self, String> {
        Ok(Zscore {
            win: RollingMoments::new(p.usize_in("window", 2, 1_000_000)?),
        })
    }

    fn name(&self) -> &'static str {
        SPEC.name
    }

    /// The window's mean, once the window is full.
    fn expected(&self) -> Option<f64> {
        self.win.is_full().then(|| self.win.mean())
    }

    /// |z| against the full window before `v`, then learns `v`.
    fn departure(&mut self, _t: f64, v: f64) -> Option<f64> {
        let d = self.win.is_full().then(|| {
            let m = self.win.mean();
            (v - m).abs() / self.win.std().max(super::tiny(m))
        });
        self.win.push(v);
        d
    }

    fn state(&self) -> serde_json::Value {
        super::to_state(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::anomaly::testkit::*;

    #[test]
    fn a_spike_scores_high_and_noise_stays_low() {
        let mut d = detector("zscore", &[("window", "100")]);
        let s = run(&mut *d, &spike(2000, 1500, 8.0));
        assert_peak_at(&s, 1500, 0.8);
        assert_quiet(&s, 0..1500, 0.65);
    }

    #[test]
    fn a_step_scores_high_where_it_happens() {
        let mut d = detector("zscore", &[]);
        let s = run(&mut *d, &step(2000, 1500, 8.0));
        assert_peak_at(&s, 1500, 0.8);
        assert_quiet(&s, 0..1500, 0.65);
    }
}
