//! From a departure (how far a sample is from what a model expected, in the model's own unit) to a
//! score in [0, 1] that means the same on every series.
//!
//! Record calibration: a departure is compared with the largest departure of the previous
//! `memory` samples, x = d / record. x = 1 is "as unusual as the most unusual moment recently",
//! whatever the series' unit, scale or noise; score = x² / (1 + x²), so 0.5 is a tie with the
//! record, 0.8 twice it, 0.9 three times. A series that keeps misbehaving in the same way raises
//! its own record and stops alarming, and an anomaly is reported when it first departs, which is
//! what an alert wants. On top, a hold-off: once a sample beats the record by `margin`, the next
//! `holdoff` scores are halved (one alarm per event, not one per sample of it).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};

/// Blocks the record memory is split into: the window max is kept per block, so the state is
/// this many floats whatever `memory` is.
const BLOCKS: usize = 64;

/// Departure ratios above this are reported as this (a departure from a record of 0).
const X_MAX: f64 = 1e12;

pub const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        key: "memory",
        default: "5000",
        help: "samples over which the largest departure is remembered (the record)",
    },
    ParamDoc {
        key: "holdoff",
        default: "30",
        help: "after an alarm, samples whose scores are halved (one alarm per event)",
    },
    ParamDoc {
        key: "margin",
        default: "0.01",
        help: "an alarm (starting the hold-off) is a departure above (1 + margin) x the record",
    },
    ParamDoc {
        key: "min_samples",
        default: "200",
        help:
            "warm-up: a model is judged once it has produced this many departures (score 0 before)",
    },
];

/// The largest value pushed over roughly the last `memory` pushes (between `memory` and
/// `memory` + one block), kept as per-block maxima.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    block_len: usize,
    blocks: VecDeque<f64>,
    cur: f64,
    cur_n: usize,
    /// Departures seen (up to `warm`) and how many make the record meaningful.
    seen: usize,
    warm: usize,
}

impl Record {
    /// A record over `memory` departures that judges from the `warm`-th on (at least the 2nd).
    pub fn new(memory: usize, warm: usize) -> Record {
        Record {
            block_len: memory.div_ceil(BLOCKS).max(1),
            blocks: VecDeque::with_capacity(BLOCKS),
            cur: 0.0,
            cur_n: 0,
            seen: 0,
            warm: warm.max(1),
        }
    }

    /// From `p`'s memory and min_samples.
    pub fn from_params(p: &Params) -> Result<Record, String> {
        Ok(Record::new(
            p.usize_in("memory", 1, 100_000_000)?,
            p.usize_in("min_samples", 0, 100_000_000)?,
        ))
    }

    pub fn warmed_up(&self) -> bool {
        self.seen >= self.warm
    }

    /// The largest value remembered (0 when none).
    pub fn best(&self) -> f64 {
        self.blocks.iter().fold(self.cur, |a, b| a.max(*b))
    }

    pub fn push(&mut self, d: f64) {
        self.cur = self.cur.max(d);
        self.cur_n += 1;
        if self.cur_n == self.block_len {
            if self.blocks.len() == BLOCKS {
                self.blocks.pop_front();
            }
            self.blocks.push_back(self.cur);
            self.cur = 0.0;
            self.cur_n = 0;
        }
    }

    /// x = d / record (of the departures before this one), then remembers d; None during the
    /// warm-up.
    pub fn ratio(&mut self, d: f64) -> Option<f64> {
        let d = if d.is_finite() { d.max(0.0) } else { X_MAX };
        let best = self.best();
        let x = if best > 0.0 {
            (d / best).min(X_MAX)
        } else if d > 0.0 {
            X_MAX
        } else {
            0.0
        };
        let judged = self.warmed_up();
        self.push(d);
        self.seen = (self.seen + 1).min(self.warm);
        judged.then_some(x)
    }
}

/// The score an alert pages at by default (the default threshold of `anomaly` rules),
/// [`squash`] of x = 3: a departure three times the largest of the last `memory`. Noise does not
/// do that. For noise with exponential tails (Laplace; Gaussian and
/// bounded noise are lighter), a sample exceeds k times the largest of M before it with a
/// probability of about k! / M^k (the record's Gumbel spread): k = 1, the NAB-swept threshold,
/// is one sample in M; k = 2 is 2 / M² (M = 5000: about one false page a month on a 1 s series
/// with five models); k = 3 is 6 / M³, about once a century there. Heavy-tailed
/// (power-law) noise is not covered. bench/noise.py measures it (docs/anomaly.md).
pub const PAGE_THRESHOLD: f64 = 0.9;

/// x (departure over record) to a score in [0, 1).
pub fn squash(x: f64) -> f64 {
    let x2 = x * x;
    if x2.is_finite() {
        x2 / (1.0 + x2)
    } else {
        1.0
    }
}

/// Hold-off around the final x, and its squashing into a score.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Output {
    holdoff: usize,
    margin: f64,
    left: usize,
}

impl Output {
    pub fn new(p: &Params) -> Result<Output, String> {
        Ok(Output {
            holdoff: p.usize_in("holdoff", 0, 10_000_000)?,
            margin: p.f64_in("margin", 0.0, 100.0)?,
            left: 0,
        })
    }

    /// The score of one sample whose (combined) departure ratio is `x` (None: no model could
    /// judge it yet).
    pub fn score(&mut self, x: Option<f64>) -> f64 {
        let Some(x) = x else { return 0.0 };
        let s = squash(x);
        if self.left > 0 {
            self.left -= 1;
            return s * 0.5;
        }
        if x >= 1.0 + self.margin {
            self.left = self.holdoff;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn out(pairs: &[(&str, &str)]) -> Output {
        let given: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Output::new(&Params::new("t", &[PARAMS], &given, false).unwrap()).unwrap()
    }

    #[test]
    fn record_warms_up_then_forgets_after_memory() {
        let mut r = Record::new(128, 1); // blocks of 2
        assert_eq!(r.ratio(5.0), None);
        assert_eq!(r.ratio(2.5), Some(0.5));
        assert_eq!(r.ratio(10.0), Some(2.0));
        for _ in 0..200 {
            r.ratio(1.0);
        }
        assert_eq!(r.best(), 1.0);
        assert_eq!(r.ratio(3.0), Some(3.0));
        let mut z = Record::new(10, 0);
        assert_eq!(z.ratio(0.0), None);
        assert_eq!(z.ratio(0.0), Some(0.0));
        assert_eq!(z.ratio(f64::INFINITY), Some(X_MAX));
        let mut w = Record::new(10, 3);
        assert_eq!(
            (w.ratio(1.0), w.ratio(1.0), w.ratio(1.0)),
            (None, None, None)
        );
        assert!(w.warmed_up());
        assert_eq!(w.ratio(2.0), Some(2.0));
    }

    #[test]
    fn squash_is_monotone_and_bounded() {
        assert_eq!(squash(0.0), 0.0);
        assert_eq!(squash(1.0), 0.5);
        assert!((squash(2.0) - 0.8).abs() < 1e-12);
        assert!(squash(X_MAX) <= 1.0 && squash(X_MAX) > 0.999);
        assert_eq!(squash(f64::INFINITY), 1.0);
        assert!((squash(3.0) - PAGE_THRESHOLD).abs() < 1e-12);
    }

    #[test]
    fn holdoff_halves_scores_after_an_alarm() {
        let mut o = out(&[("holdoff", "2")]);
        assert!(o.score(Some(3.0)) > 0.89); // alarm
        assert!(o.score(Some(3.0)) < 0.5); // held off
        assert!(o.score(Some(3.0)) < 0.5);
        assert!(o.score(Some(3.0)) > 0.89); // a new alarm
                                            // A tie with the record (within the margin) does not start a hold-off.
        let mut o = out(&[("holdoff", "5")]);
        assert_eq!(o.score(Some(1.005)), squash(1.005));
        assert_eq!(o.score(Some(1.5)), squash(1.5));
        assert_eq!(o.score(None), 0.0);
        assert_eq!(o.score(Some(1.5)), squash(1.5) * 0.5);
    }

    #[test]
    fn bad_calibration_params_are_errors() {
        let given: BTreeMap<String, String> = [("holdoff".to_string(), "-1".to_string())].into();
        let p = Params::new("t", &[PARAMS], &given, false).unwrap();
        assert!(Output::new(&p).unwrap_err().contains("holdoff"));
    }
}
