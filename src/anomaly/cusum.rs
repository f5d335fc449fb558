//! CUSUM change point: standardised errors against a slow exponentially weighted mean are summed,
//! less a slack `k` per sample, separately upwards and downwards (each floored at 0); the
//! departure is the larger sum. Small persistent shifts add up where one sample says little.

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};
use super::{Model, Spec};

pub const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        key: "alpha",
        default: "0.03",
        help: "weight of the newest sample in the reference mean and mean absolute error",
    },
    ParamDoc {
        key: "k",
        default: "1",
        help: "slack per sample, in mean absolute errors (shifts smaller than this never add up)",
    },
    ParamDoc {
        key: "clip",
        default: "5",
        help: "each standardised error counts at most this much (one outlier is not a shift)",
    },
];

pub const SPEC: Spec = Spec {
    name: "cusum",
    about: "max of the upward and downward cumulative sums of standardised errors",
    params: PARAMS,
    kind: super::model_kind::<Cusum>(),
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cusum {
    alpha: f64,
    k: f64,
    clip: f64,
    mean: Option<f64>,
    mae: f64,
    up: f64,
    down: f64,
    n: u64,
}

impl Model for Cusum {
    fn new(p: &Params) -> Result<Self, String> {
        Ok(Cusum {
            alpha: p.f64_in("alpha", 1e-6, 0.999_999)?,
            k: p.f64_in("k", 0.0, 1e6)?,
            clip: p.f64_in("clip", 1e-6, 1e6)?,
            mean: None,
            mae: 0.0,
            up: 0.0,
            down: 0.0,
            n: 0,
        })
    }

    fn name(&self) -> &'static str {
        SPEC.name
    }

    /// The slow EWMA the errors are taken against, once it has settled.
    fn expected(&self) -> Option<f64> {
        self.mean.filter(|_| self.n as f64 >= 1.0 / self.alpha)
    }

    fn departure(&mut self, _t: f64, v: f64) -> Option<f64> {
        let Some(m) = self.mean else {
            self.mean = Some(v);
            return None;
        };
        let e = v - m;
        self.n += 1;
        let settled = self.n as f64 >= 1.0 / self.alpha;
        let d = settled.then(|| {
            let z = (e / self.mae.max(super::tiny(m))).clamp(-self.clip, self.clip);
            self.up = (self.up + z - self.k).max(0.0);
            self.down = (self.down - z - self.k).max(0.0);
            self.up.max(self.down)
        });
        self.mean = Some(m + self.alpha * e);
        self.mae = if self.n == 1 {
            e.abs()
        } else {
            self.mae + self.alpha * (e.abs() - self.mae)
        };
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
    fn a_small_step_adds_up() {
        let mut d = detector("cusum", &[]);
        let s = run(&mut *d, &step(3000, 2000, 2.0));
        assert_alarm(&s, 2000..2020);
        assert_quiet(&s, 0..2000, 0.65);
    }

    #[test]
    fn a_drift_adds_up() {
        let mut d = detector("cusum", &[]);
        let s = run(&mut *d, &drift(3000, 2000, 0.02));
        assert_alarm(&s, 2000..2150);
        assert_quiet(&s, 0..2000, 0.65);
    }
}
