//! EWMA with adaptive variance: an exponentially weighted mean and variance of the prediction
//! error (weight `alpha` per sample); the departure is the error in standard deviations. It
//! follows slow change and forgets at a fixed rate instead of keeping a window.

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};
use super::{Model, Spec};

pub const PARAMS: &[ParamDoc] = &[ParamDoc {
    key: "alpha",
    default: "0.05",
    help: "weight of the newest sample in the mean and variance (0 < alpha < 1)",
}];

pub const SPEC: Spec = Spec {
    name: "ewma",
    about: "|v - ewma| / ew-std: the error against an exponentially weighted mean and variance",
    params: PARAMS,
    kind: super::model_kind::<Ewma>(),
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ewma {
    alpha: f64,
    mean: Option<f64>,
    var: f64,
    n: u64,
}

impl Ewma {
    /// Samples before the variance estimate means something: about one time constant.
    fn settle(&self) -> u64 {
        (1.0 / self.alpha).ceil() as u64
    }
}

impl Model for Ewma {
    fn new(p: &Params) -> Result<Self, String> {
        let alpha = p.f64_in("alpha", 1e-6, 0.999_999)?;
        Ok(Ewma {
            alpha,
            mean: None,
            var: 0.0,
            n: 0,
        })
    }

    fn name(&self) -> &'static str {
        SPEC.name
    }

    /// The exponentially weighted mean, once it has settled.
    fn expected(&self) -> Option<f64> {
        self.mean.filter(|_| self.n >= self.settle())
    }

    fn departure(&mut self, _t: f64, v: f64) -> Option<f64> {
        let Some(m) = self.mean else {
            self.mean = Some(v);
            return None;
        };
        let e = v - m;
        let d = (self.n >= self.settle()).then(|| e.abs() / self.var.sqrt().max(super::tiny(m)));
        let a = self.alpha;
        self.mean = Some(m + a * e);
        self.var = (1.0 - a) * (self.var + a * e * e);
        self.n += 1;
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
        let mut d = detector("ewma", &[]);
        let s = run(&mut *d, &spike(2000, 1500, 9.0));
        assert_peak_at(&s, 1500, 0.8);
        assert_quiet(&s, 0..1500, 0.65);
    }

    #[test]
    fn a_step_is_flagged_then_learnt() {
        let mut d = detector("ewma", &[("alpha", "0.1")]);
        let s = run(&mut *d, &step(2000, 1500, 10.0));
        assert_peak_at(&s, 1500, 0.8);
        assert_quiet(&s, 1700..2000, 0.5);
        let e = build_err("ewma", "alpha", "1.5");
        assert!(e.contains("alpha=\"1.5\""), "{e}");
    }
}
