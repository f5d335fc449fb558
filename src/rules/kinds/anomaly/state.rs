//! The evaluation state of an `anomaly:` rule: one detector per input series (by labels), each
//! fed the samples newer than the newest it has seen, so every sample is scored once and from
//! the past only. A plain selector input contributes its raw samples, read with a range select
//! over the span since the last evaluation (at least the 5 m lookback, so samples written late
//! are not missed); any other expression contributes its value at each evaluation.
//!
//! The detectors (and the newest score and value of each series) are saved with the rule's
//! alerts under a fingerprint of the detector and its parameters; a rule whose detector or
//! parameters changed starts afresh. A series without samples for `forget` loses its detector,
//! so memory is bounded by the series seen within that time.
//!
//! With `hold`, a sample whose score reaches the threshold and whose value is outside the range
//! of the [`BASELINE`] values before it starts a hold: the series keeps alerting until a value
//! is back within that range (the detectors themselves soon take a lasting departure as the new
//! normal, and their scores fall while the series is still away).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Anomaly, METRIC};
use crate::anomaly::{self, Detector};
use crate::model::labels;
use crate::model::Labels;
use crate::promql;
use crate::promql::{Plan, Sample, Value};
use crate::rules::alert::EvalInput;
use crate::rules::kinds::common;
use crate::rules::kinds::{Input, Output};
use crate::store::select::Queryable;
use crate::template::FloatMap;

/// The lookback of the input's instant evaluation (which series are present), and the least
/// span read for new samples.
pub const LOOKBACK_MS: i64 = 300_000;

/// With `hold`: the values before an alarm whose range is the series' normal.
pub const BASELINE: usize = 60;

/// A series' samples: (unix ms, value), in time order.
type Samples = Vec<(i64, f64)>;

pub struct State {
    spec: Arc<Anomaly>,
    rule: String,
    tracks: BTreeMap<Labels, Track>,
    last_eval: Option<i64>,
}

/// One series' detector, the time of the newest sample it was given, and its newest score,
/// (finite) value and the level the detector expected for that value; with `hold`, the last
/// [`BASELINE`] values and the hold in progress.
struct Track {
    det: Box<dyn Detector>,
    last_ts: i64,
    score: f64,
    value: Option<f64>,
    expected: Option<f64>,
    recent: VecDeque<f64>,
    held: Option<Held>,
}

/// A hold: the normal range before the alarm, and the alarm's score.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Held {
    low: f64,
    high: f64,
    score: f64,
}

impl Track {
    fn new(det: Box<dyn Detector>) -> Track {
        Track {
            det,
            last_ts: i64::MIN,
            score: 0.0,
            value: None,
            expected: None,
            recent: VecDeque::new(),
            held: None,
        }
    }

    /// Scores and learns one finite sample; with `hold`, starts or ends a hold.
    fn learn(&mut self, ts: i64, v: f64, spec: &Anomaly) {
        self.expected = self.det.expected();
        self.score = self.det.update(ts as f64 / 1000.0, v);
        self.value = Some(v);
        if !spec.hold {
            return;
        }
        let outside = |low: f64, high: f64| v < low || v > high;
        match self.held {
            Some(h) if outside(h.low, h.high) => return,
            Some(_) => self.held = None,
            None if self.alarm(spec) => {
                let (low, high) = (self.recent.iter())
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
                        (l.min(*x), h.max(*x))
                    });
                // Some values before, and this one outside their range.
                if low <= high && outside(low, high) {
                    let score = self.score;
                    self.held = Some(Held { low, high, score });
                    return;
                }
            }
            None => {}
        }
        if self.recent.len() == BASELINE {
            self.recent.pop_front();
        }
        self.recent.push_back(v);
    }

    /// The newest score reaches the threshold, after the warm-up.
    fn alarm(&self, spec: &Anomaly) -> bool {
        self.det.warmed_up() && self.score >= spec.threshold
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("anomaly::State")
            .field("rule", &self.rule)
            .field("series", &self.tracks.len())
            .field("last_eval", &self.last_eval)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    fingerprint: String,
    last_eval: Option<i64>,
    series: Vec<SavedTrack>,
}

#[derive(Serialize, Deserialize)]
struct SavedTrack {
    labels: Labels,
    last_ts: i64,
    score: f64,
    value: Option<f64>,
    #[serde(default)]
    expected: Option<f64>,
    #[serde(default)]
    recent: Vec<f64>,
    #[serde(default)]
    held: Option<Held>,
    detector: serde_json::Value,
}

impl State {
    pub fn new(spec: Arc<Anomaly>, rule: &str) -> Self {
        State {
            spec,
            rule: rule.to_string(),
            tracks: BTreeMap::new(),
            last_eval: None,
        }
    }

    fn compute(&mut self, t: i64, q: &dyn Queryable) -> Result<Output, String> {
        let plan = &self.spec.input.plan;
        let present = common::instant(plan, t, q, LOOKBACK_MS)?;
        let fresh = match &present {
            Some(p) => self.new_samples(t, q, p)?,
            None => Vec::new(),
        };
        for (labels, samples) in fresh {
            self.feed(labels, samples)?;
        }
        self.last_eval = Some(t);
        let oldest = t - self.spec.forget_ms;
        self.tracks.retain(|_, tr| tr.last_ts >= oldest);
        let Some(present) = present else {
            return Ok(Output::new(EvalInput::NoData));
        };
        let mut out = Output::new(EvalInput::Ok(Vec::new()));
        let mut alerts = Vec::new();
        for s in present {
            let key = labels::drop_name(s.labels);
            let Some(tr) = self.tracks.get(&key) else {
                continue;
            };
            let mut l = key.clone();
            labels::set(&mut l, "rule", &self.rule);
            labels::set(&mut l, labels::NAME, METRIC);
            out.series.push((l, tr.score));
            let value = match tr.held {
                Some(h) => h.score,
                None if tr.alarm(&self.spec) => tr.score,
                None => continue,
            };
            let mut named = FloatMap::new();
            named.insert("score".into(), tr.score);
            named.extend(tr.value.map(|v| ("value".to_string(), v)));
            named.extend(tr.expected.map(|v| ("expected".to_string(), v)));
            if let Some(h) = tr.held {
                named.insert("normal_low".into(), h.low);
                named.insert("normal_high".into(), h.high);
            }
            out.inputs.insert(key.clone(), Arc::new(named));
            alerts.push(Sample { labels: key, value });
        }
        out.result = EvalInput::Ok(alerts);
        Ok(out)
    }

    /// Every series' samples up to `t` that may be new to its detector (older ones are skipped
    /// in `feed`), without `__name__`.
    fn new_samples(
        &self,
        t: i64,
        q: &dyn Queryable,
        present: &[Sample],
    ) -> Result<Vec<(Labels, Samples)>, String> {
        let mut out: Vec<(Labels, Samples)> = match &self.spec.input.plan {
            Plan::Selector(sel) => {
                let since = self.last_eval.map_or(0, |l| t - l);
                let span = since.clamp(LOOKBACK_MS, self.spec.forget_ms.max(LOOKBACK_MS));
                let range = Plan::Range(sel.clone(), span);
                match promql::eval_instant(&range, t, q).map_err(|e| e.0)? {
                    Value::Matrix(m) => (m.into_iter())
                        .map(|s| (labels::drop_name(s.labels), s.samples))
                        .collect(),
                    _ => return Err("a range selector did not give a matrix".into()),
                }
            }
            _ => (present.iter())
                .map(|s| (labels::drop_name(s.labels.clone()), vec![(t, s.value)]))
                .collect(),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!(
                "several input series have the labels {} once __name__ is dropped; add a label or aggregate the input",
                labels::fmt_labels(&w[0].0)
            ));
        }
        Ok(out)
    }

    /// Scores and learns `samples` (time order) newer than the series' newest so far.
    /// Non-finite samples move the series on but are not scored (the detectors skip them).
    fn feed(&mut self, labels: Labels, samples: Samples) -> Result<(), String> {
        let tr = match self.tracks.entry(labels) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(Track::new(self.spec.detector()?)),
        };
        for (ts, v) in samples {
            if ts <= tr.last_ts {
                continue;
            }
            tr.last_ts = ts;
            if v.is_finite() {
                tr.learn(ts, v, &self.spec);
            }
        }
        Ok(())
    }
}

impl Input for State {
    fn eval(&mut self, t: i64, q: &dyn Queryable) -> Output {
        match self.compute(t, q) {
            Ok(out) => out,
            Err(e) => Output::new(EvalInput::Error(e)),
        }
    }

    fn save(&self) -> Option<serde_json::Value> {
        let series = (self.tracks.iter())
            .map(|(labels, tr)| SavedTrack {
                labels: labels.clone(),
                last_ts: tr.last_ts,
                score: tr.score,
                value: tr.value,
                expected: tr.expected,
                recent: tr.recent.iter().copied().collect(),
                held: tr.held,
                detector: anomaly::save(&*tr.det),
            })
            .collect();
        let saved = Saved {
            fingerprint: self.spec.fingerprint(),
            last_eval: self.last_eval,
            series,
        };
        serde_json::to_value(saved).ok()
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        let saved = Saved::deserialize(state).map_err(|e| format!("anomaly state: {e}"))?;
        let now = self.spec.fingerprint();
        if saved.fingerprint != now {
            return Err(format!(
                "the saved detectors are {}, the rule now asks for {now}",
                saved.fingerprint
            ));
        }
        let mut tracks = BTreeMap::new();
        for s in saved.series {
            let det = anomaly::restore(&s.detector)?;
            let track = Track {
                det,
                last_ts: s.last_ts,
                score: s.score.clamp(0.0, 1.0),
                value: s.value,
                expected: s.expected,
                recent: s.recent.into_iter().rev().take(BASELINE).rev().collect(),
                held: s.held,
            };
            tracks.insert(s.labels, track);
        }
        self.tracks = tracks;
        self.last_eval = saved.last_eval;
        Ok(())
    }
}
