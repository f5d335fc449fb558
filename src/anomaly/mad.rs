//! Robust median/MAD: how far a sample is from the median of the `window` samples before it.
//! The median ignores the outliers it is meant to find. With `scale=mad` the distance is in MADs
//! (a robust z-score); the default `scale=none` keeps the series' unit, which under record
//! calibration asks "is this the largest jump from normal recently?" and is not fooled by quiet
//! spells (NAB: 56 against 31 for `scale=mad`, docs/anomaly.md).

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};
use super::window::SortedWindow;
use super::{Model, Spec};

pub const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        key: "window",
        default: "100",
        help: "samples in the rolling median",
    },
    ParamDoc {
        key: "scale",
        default: "none",
        help: "none: |v - median| in the series' unit; mad: divided by 1.4826 x MAD",
    },
];

pub const SPEC: Spec = Spec {
    name: "mad",
    about: "|v - median| over the last `window` samples (optionally in MADs)",
    params: PARAMS,
    kind: super::model_kind::<Mad>(),
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Mad {
    win: SortedWindow,
    scaled: bool,
}

impl Model for Mad {
    fn new(p: &Params) -> Result<Self, String> {
        Ok(Mad {
            win: SortedWindow::new(p.usize_in("window", 3, 100_000)?),
            scaled: p.choice("scale", &["none", "mad"])? == "mad",
        })
    }

    fn name(&self) -> &'static str {
        SPEC.name
    }

    /// The window's median, once the window is full.
    fn expected(&self) -> Option<f64> {
        self.win.is_full().then(|| self.win.median())
    }

    fn departure(&mut self, _t: f64, v: f64) -> Option<f64> {
        let d = self.win.is_full().then(|| {
            let m = self.win.median();
            let d = (v - m).abs();
            if self.scaled {
                d / (1.4826 * self.win.mad(m)).max(super::tiny(m))
            } else {
                d
            }
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
        for scale in ["none", "mad"] {
            let mut d = detector("mad", &[("scale", scale)]);
            let s = run(&mut *d, &spike(2000, 1500, 9.0));
            assert_peak_at(&s, 1500, 0.8);
            assert_quiet(&s, 0..1500, 0.65);
            assert_quiet(&s, 1501..2000, 0.65);
        }
    }

    #[test]
    fn a_step_scores_high_where_it_happens() {
        let mut d = detector("mad", &[]);
        let s = run(&mut *d, &step(2000, 1500, 8.0));
        assert_peak_at(&s, 1500, 0.8);
        assert_quiet(&s, 0..1500, 0.65);
        // Once the median has moved, the new level is normal again.
        assert_quiet(&s, 1600..2000, 0.5);
    }
}
