//! Seasonal Holt-Winters (additive): level + trend + a seasonal offset per phase of the period.
//! The phase comes from the timestamp, bucketed (`buckets` per `period`), so irregular or missing
//! samples land in the right slot and several samples in one bucket all refine it. The departure
//! is |v - forecast| in the series' unit; a bucket not seen yet is not judged.

use serde::{Deserialize, Serialize};

use super::params::{ParamDoc, Params};
use super::{Model, Spec};

pub const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        key: "period",
        default: "1d",
        help: "season length (seconds, or with a unit: 1d, 1w, 12h)",
    },
    ParamDoc {
        key: "buckets",
        default: "48",
        help: "phases per period (the seasonal profile's resolution)",
    },
    ParamDoc {
        key: "alpha",
        default: "0.05",
        help: "level smoothing per sample",
    },
    ParamDoc {
        key: "beta",
        default: "0",
        help: "trend smoothing per sample (0: no trend)",
    },
    ParamDoc {
        key: "gamma",
        default: "0.2",
        help: "seasonal smoothing per visit of a bucket",
    },
];

pub const SPEC: Spec = Spec {
    name: "holtwinters",
    about: "|v - (level + trend + season[phase])|, phase bucketed from the timestamp",
    params: PARAMS,
    kind: super::model_kind::<HoltWinters>(),
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoltWinters {
    period: f64,
    alpha: f64,
    beta: f64,
    gamma: f64,
    level: Option<f64>,
    trend: f64,
    season: Vec<Option<f64>>,
}

impl HoltWinters {
    fn bucket(&self, t: f64) -> usize {
        let n = self.season.len();
        let phase = t.rem_euclid(self.period) / self.period;
        ((phase * n as f64) as usize).min(n - 1)
    }
}

impl Model for HoltWinters {
    fn new(p: &Params) -> Result<Self, String> {
        Ok(HoltWinters {
            period: p.seconds("period", 1.0, 366.0 * 86_400.0)?,
            alpha: p.f64_in("alpha", 0.0, 1.0)?,
            beta: p.f64_in("beta", 0.0, 1.0)?,
            gamma: p.f64_in("gamma", 0.0, 1.0)?,
            level: None,
            trend: 0.0,
            season: vec![None; p.usize_in("buckets", 1, 100_000)?],
        })
    }

    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn departure(&mut self, t: f64, v: f64) -> Option<f64> {
        let b = self.bucket(t);
        let Some(level) = self.level else {
            self.level = Some(v);
            self.season[b] = Some(0.0);
            return None;
        };
        let base = level + self.trend;
        let seen = self.season[b];
        let s = seen.unwrap_or(0.0);
        let d = seen.map(|s| (v - base - s).abs());
        let new_level = base + self.alpha * (v - base - s);
        self.trend += self.beta * (new_level - level - self.trend);
        self.level = Some(new_level);
        // A new bucket starts from what this sample says; a known one moves towards it.
        self.season[b] = Some(match seen {
            Some(s) => s + self.gamma * (v - new_level - s),
            None => v - new_level,
        });
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
    fn a_missing_daily_swing_scores_high_and_the_pattern_does_not() {
        // 6 days a minute apart; on day 5 the swing disappears for 4 hours around its peak.
        let at = 4 * 1440 + 240;
        let series = seasonal(6 * 1440, at, 240);
        let mut d = detector("holtwinters", &[]);
        let s = run(&mut *d, &series);
        assert_alarm(&s, at..at + 60);
        assert_quiet(&s, 2 * 1440..at, 0.65);
    }

    #[test]
    fn irregular_sampling_lands_in_the_right_buckets() {
        // Same signal sampled every 7 minutes with gaps: the profile still predicts it.
        let series: Vec<(f64, f64)> = seasonal(8 * 1440, usize::MAX, 0)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 7 == 0 && (i / 500) % 5 != 3)
            .map(|(_, s)| s)
            .collect();
        let mut d = detector("holtwinters", &[("min_samples", "0")]);
        let s = run(&mut *d, &series);
        let late = &s[s.len() / 2..];
        assert!(
            late.iter().all(|x| *x < 0.7),
            "{:?}",
            late.iter().fold(0.0f64, |a, b| a.max(*b))
        );
        assert!(build_err("holtwinters", "period", "0").contains("period"));
    }
}
