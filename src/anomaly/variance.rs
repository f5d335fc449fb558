//! Variance change: the standard deviation of the `recent` samples against that of the last
//! `window`, as |ln(ratio)|. It sees a series turning noisy (or suddenly flat) while its level
//! stays put, which level and outlier tests miss.

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};
use super::window::RollingMoments;
use super::{Model, Spec};

pub const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        key: "window",
        default: "600",
        help: "samples in the long standard deviation (the recent ones included)",
    },
    ParamDoc {
        key: "recent",
        default: "30",
        help: "samples in the short standard deviation",
    },
];

pub const SPEC: Spec = Spec {
    name: "variance",
    about: "|ln(std(last `recent`) / std(last `window`))|: a series turning noisy or flat",
    params: PARAMS,
    kind: super::model_kind::<Variance>(),
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Variance {
    recent: RollingMoments,
    long: RollingMoments,
}

impl Model for Variance {
    fn new(p: &Params) -> Result<Self, String> {
        let long = p.usize_in("window", 3, 1_000_000)?;
        let recent = p.usize_in("recent", 2, 1_000_000)?;
        if recent >= long {
            return Err(format!(
                "detector variance: recent={recent} must be smaller than window={long}"
            ));
        }
        Ok(Variance {
            recent: RollingMoments::new(recent),
            long: RollingMoments::new(long),
        })
    }

    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn departure(&mut self, _t: f64, v: f64) -> Option<f64> {
        self.recent.push(v);
        self.long.push(v);
        if !self.long.is_full() {
            return None;
        }
        // The same floor on both sides: two constant stretches compare as equal, not as 0/0.
        let floor = super::tiny(self.long.mean());
        Some(
            ((self.recent.std() + floor) / (self.long.std() + floor))
                .ln()
                .abs(),
        )
    }

    fn state(&self) -> serde_json::Value {
        super::to_state(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::anomaly::testkit::*;

    #[test]
    fn a_noise_burst_scores_high() {
        let mut d = detector("variance", &[]);
        let s = run(&mut *d, &burst(3000, 2000, 100, 5.0));
        assert_alarm(&s, 2000..2030);
        assert_quiet(&s, 0..2000, 0.65);
    }

    #[test]
    fn window_must_exceed_recent() {
        let e = build_err("variance", "recent", "600");
        assert!(e.contains("smaller than window"), "{e}");
    }
}
