//! Forecast crossing (`predict_linear`-style): a least-squares line through the last `window`
//! samples, extrapolated; the score says how soon it crosses a limit: 1 - eta / `horizon`
//! (1 = crossing now or already past, 0 = not within the horizon). "Disk full in 4 h" is
//! `limit=<size> horizon=4h`. Without limits the range of the last `memory` samples serves:
//! the trend is about to leave everything seen recently.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};
use super::{Detector, Spec};

pub const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        key: "window",
        default: "60",
        help: "samples the line is fitted to",
    },
    ParamDoc {
        key: "horizon",
        default: "4h",
        help: "how far ahead a crossing counts (seconds, or 90m, 4h, 1d)",
    },
    ParamDoc {
        key: "limit",
        default: "",
        help: "upper limit (e.g. the disk size); unset: see `lower`",
    },
    ParamDoc {
        key: "lower",
        default: "",
        help: "lower limit; with neither set, the range of the last `memory` samples",
    },
    ParamDoc {
        key: "memory",
        default: "5000",
        help: "samples whose range serves as limits when neither limit is set",
    },
    ParamDoc {
        key: "min_samples",
        default: "200",
        help: "warm-up: the score is 0 until this many samples have been seen",
    },
];

pub const SPEC: Spec = Spec {
    name: "forecast",
    about: "1 - eta/horizon, eta = when the linear trend of the last `window` crosses a limit",
    params: PARAMS,
    kind: super::Kind::Detector {
        calibrated: false,
        nested: false,
        build: |p| Ok(Box::new(Forecast::new(p)?)),
        restore: |v| Ok(Box::new(super::from_state::<Forecast>(v)?)),
    },
};

/// Blocks the range memory is split into.
const BLOCKS: usize = 64;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Forecast {
    cap: usize,
    horizon: f64,
    upper: Option<f64>,
    lower: Option<f64>,
    min_samples: u64,
    seen: u64,
    /// (t, v) relative to `origin`; sums of t, v, t², t·v over the ring.
    ring: VecDeque<(f64, f64)>,
    origin: (f64, f64),
    sums: [f64; 4],
    since_rebase: usize,
    /// Per-block (min, max) of the samples, for the automatic limits.
    block_len: usize,
    blocks: VecDeque<(f64, f64)>,
    cur: Option<(f64, f64)>,
    cur_n: usize,
}

impl Forecast {
    pub fn new(p: &Params) -> Result<Forecast, String> {
        let upper = p.opt_f64("limit")?;
        let lower = p.opt_f64("lower")?;
        if let (Some(u), Some(l)) = (upper, lower) {
            if l >= u {
                return Err(format!(
                    "detector forecast: lower={l} must be below limit={u}"
                ));
            }
        }
        Ok(Forecast {
            cap: p.usize_in("window", 2, 1_000_000)?,
            horizon: p.seconds("horizon", 1e-3, 1e10)?,
            upper,
            lower,
            min_samples: p.usize_in("min_samples", 0, 10_000_000)? as u64,
            seen: 0,
            ring: VecDeque::new(),
            origin: (0.0, 0.0),
            sums: [0.0; 4],
            since_rebase: 0,
            block_len: p
                .usize_in("memory", 1, 100_000_000)?
                .div_ceil(BLOCKS)
                .max(1),
            blocks: VecDeque::new(),
            cur: None,
            cur_n: 0,
        })
    }

    fn add(&mut self, t: f64, v: f64, sign: f64) {
        let (x, y) = (t - self.origin.0, v - self.origin.1);
        self.sums[0] += sign * x;
        self.sums[1] += sign * y;
        self.sums[2] += sign * x * x;
        self.sums[3] += sign * x * y;
    }

    fn push(&mut self, t: f64, v: f64) {
        if self.ring.is_empty() {
            self.origin = (t, v);
        }
        if self.ring.len() == self.cap {
            if let Some((ot, ov)) = self.ring.pop_front() {
                self.add(ot, ov, -1.0);
            }
        }
        self.ring.push_back((t, v));
        self.add(t, v, 1.0);
        self.since_rebase += 1;
        // Re-base on the oldest sample now and then, so the sums stay small and exact enough.
        if self.since_rebase >= self.cap {
            self.origin = self.ring[0];
            self.sums = [0.0; 4];
            let ring: Vec<(f64, f64)> = self.ring.iter().copied().collect();
            for (t, v) in ring {
                self.add(t, v, 1.0);
            }
            self.since_rebase = 0;
        }
    }

    /// The fitted value at the newest sample and the slope per second.
    fn fit(&self) -> Option<(f64, f64)> {
        let n = self.ring.len() as f64;
        let [sx, sy, sxx, sxy] = self.sums;
        let den = n * sxx - sx * sx;
        if den <= 1e-12 * (n * sxx).abs().max(1e-300) {
            return None;
        }
        let slope = (n * sxy - sx * sy) / den;
        let icpt = (sy - slope * sx) / n;
        let (t, _) = *self.ring.back()?;
        Some((self.origin.1 + icpt + slope * (t - self.origin.0), slope))
    }

    fn range(&self) -> Option<(f64, f64)> {
        self.blocks
            .iter()
            .copied()
            .chain(self.cur)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    fn remember(&mut self, v: f64) {
        let (lo, hi) = self.cur.unwrap_or((v, v));
        self.cur = Some((lo.min(v), hi.max(v)));
        self.cur_n += 1;
        if self.cur_n == self.block_len {
            if self.blocks.len() == BLOCKS {
                self.blocks.pop_front();
            }
            self.blocks.extend(self.cur.take());
            self.cur_n = 0;
        }
    }

    /// Seconds until the fitted line reaches `limit` from `now` going the way `up` says; 0 when
    /// it is there already (or, for a given limit, the sample itself is).
    fn eta(&self, v: f64, now: f64, slope: f64, limit: f64, up: bool) -> f64 {
        let v = if self.upper.is_some() || self.lower.is_some() {
            v
        } else {
            now
        };
        let past = if up {
            v >= limit || now >= limit
        } else {
            v <= limit || now <= limit
        };
        if past {
            return 0.0;
        }
        let toward = if up { slope > 0.0 } else { slope < 0.0 };
        if toward {
            (limit - now) / slope
        } else {
            f64::INFINITY
        }
    }
}

impl Detector for Forecast {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn update(&mut self, t: f64, v: f64) -> f64 {
        if !t.is_finite() || !v.is_finite() {
            return 0.0;
        }
        let (upper, lower) = match (self.upper, self.lower) {
            (None, None) => self
                .range()
                .map_or((None, None), |(l, u)| (Some(u), Some(l))),
            limits => limits,
        };
        self.push(t, v);
        self.remember(v);
        self.seen += 1;
        if self.seen <= self.min_samples || self.ring.len() < self.cap {
            return 0.0;
        }
        let Some((now, slope)) = self.fit() else {
            return 0.0;
        };
        let eta_up = upper.map_or(f64::INFINITY, |u| self.eta(v, now, slope, u, true));
        let eta_down = lower.map_or(f64::INFINITY, |l| self.eta(v, now, slope, l, false));
        (1.0 - eta_up.min(eta_down) / self.horizon).clamp(0.0, 1.0)
    }

    fn warmed_up(&self) -> bool {
        self.seen >= self.min_samples && self.ring.len() >= self.cap
    }

    fn state(&self) -> serde_json::Value {
        super::to_state(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::anomaly::testkit::*;

    #[test]
    fn disk_full_in_four_hours() {
        // A disk at 50 % filling 1 % per 10 minutes (a sample a minute): full in 500 minutes.
        let series: Vec<(f64, f64)> = (0..1000)
            .map(|i| (i as f64 * STEP_SECS, 50.0 + 0.1 * i as f64))
            .collect();
        let mut d = detector("forecast", &[("limit", "100"), ("min_samples", "0")]);
        let s = run(&mut *d, &series);
        // At minute 300 it is 200 minutes from full: 1 - 200/240.
        assert!((s[300] - (1.0 - 200.0 / 240.0)).abs() < 1e-6, "{}", s[300]);
        assert_eq!(s[100], 0.0); // 400 minutes away: beyond the horizon
        assert_eq!(s[600], 1.0); // full
        assert!(d.warmed_up());
    }

    #[test]
    fn without_limits_a_drift_out_of_the_range_scores_and_noise_does_not() {
        let mut d = detector("forecast", &[]);
        let s = run(&mut *d, &drift(3000, 2000, 0.05));
        assert_quiet(&s, 0..2000, 0.65);
        assert!(s[2000..2200].iter().any(|x| *x > 0.8));
        let mut d = detector("forecast", &[]);
        let s = run(&mut *d, &spike(3000, 3500, 0.0));
        assert_quiet(&s, 0..3000, 0.65);
    }

    #[test]
    fn limits_are_checked() {
        let given = [("limit", "1"), ("lower", "2")];
        let map = given
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let e = super::super::build("forecast", &map).err().unwrap();
        assert!(e.contains("must be below"), "{e}");
        assert!(build_err("forecast", "limit", "full").contains("not a number"));
    }
}
