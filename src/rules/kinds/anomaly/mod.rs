//! `anomaly:` — an online detector (src/anomaly/) per series of a PromQL input, fed every new
//! sample once, from the past only; exports `telltale_anomaly_score{rule, ...}` and alerts on
//! the series whose latest score reaches `threshold` once their detector is warmed up.
//!
//! ```yaml
//! anomaly:
//!   input: job:latency_seconds:p99
//!   detector: ensemble          # default anomaly::DEFAULT
//!   params: {memory: 2000}      # the detector's parameters (`telltale score --list`)
//!   min_samples: 100            # shorthand for params.min_samples (the warm-up)
//!   threshold: 0.6              # default 0.9 (anomaly::calibrate::PAGE_THRESHOLD), quiet on noise
//!   forget: 1h                  # drop a series' detector after this long without samples
//!   hold: true                  # alert until the value is back in its pre-alarm range
//! ```
//!
//! The detectors are built here once, so an unknown detector or a bad parameter is a load error
//! at its position; the evaluation state (one detector per series) is in anomaly_state.rs.

mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use self::state::{State, LOOKBACK_MS};
use super::common::{decode_positive, decode_query, Query};
use super::{Def, Input, Spec};
use crate::anomaly;
use crate::config::yaml;
use crate::config::yaml::{Decoder, Fields, Node};
use crate::promql::Plan;

pub const METRIC: &str = "telltale_anomaly_score";

pub const KIND: Def = Def {
    key: "anomaly",
    metrics: &[(
        METRIC,
        "Anomaly score in [0, 1] of the newest sample of each series of an anomaly rule's input.",
    )],
    decode,
};

/// A departure three times the largest of the detector's memory, which noise does not reach
/// (docs/anomaly.md has the measured false-alarm rates; NAB's swept 0.513 pages on noise).
pub const DEFAULT_THRESHOLD: f64 = anomaly::calibrate::PAGE_THRESHOLD;
const DEFAULT_FORGET: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub struct Anomaly {
    pub input: Query,
    pub detector: String,
    /// The detector's parameters, `min_samples` shorthand merged in.
    pub params: BTreeMap<String, String>,
    pub threshold: f64,
    pub forget_ms: i64,
    /// Keep alerting after an alarm until the value is back in its normal range.
    pub hold: bool,
}

impl Anomaly {
    /// Names the detector and its parameters: saved state is only taken back by a rule whose
    /// fingerprint is the same (other parameters would misread it).
    pub fn fingerprint(&self) -> String {
        let p: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}{{{}}}", self.detector, p.join(", "))
    }

    /// A fresh detector for a new series; decoding built one already, so this cannot fail.
    pub fn detector(&self) -> Result<Box<dyn anomaly::Detector>, String> {
        anomaly::build(&self.detector, &self.params)
    }
}

fn decode(d: &mut Decoder, n: &Node, path: &str) -> Option<Arc<dyn Spec>> {
    let before = d.diags.len();
    let mut f = d.map(n, path)?;
    let input = match f.get("input") {
        Some(v) => decode_query(d, v, &format!("{path}: input")),
        None => {
            d.error(n.pos, path, "field 'input' must be set");
            None
        }
    };
    let (detector, detector_pos) = match f.get("detector") {
        Some(v) => {
            let at = format!("{path}: detector");
            let name = d.string(v, &at);
            if let Some(Err(e)) = name.as_deref().map(anomaly::spec) {
                d.error(v.pos, &at, e);
            }
            (name, Some(v.pos))
        }
        None => (Some(anomaly::DEFAULT.to_string()), None),
    };
    let (mut params, params_pos) = decode_params(d, &mut f, path);
    let mut build_pos = params_pos.or(detector_pos).unwrap_or(n.pos);
    if let Some(v) = f.get("min_samples") {
        let at = format!("{path}: min_samples");
        if let Some(m) = d.u64(v, &at) {
            if params.contains_key("min_samples") {
                d.error(v.pos, &at, "also given in params; give it once");
            }
            params.insert("min_samples".into(), m.to_string());
            build_pos = params_pos.unwrap_or(v.pos);
        }
    }
    let mut threshold = DEFAULT_THRESHOLD;
    if let Some(v) = f.get("threshold") {
        let at = format!("{path}: threshold");
        match d.f64(v, &at) {
            Some(t) if !(0.0..=1.0).contains(&t) => d.error(v.pos, &at, "must be within [0, 1]"),
            Some(t) => threshold = t,
            None => {}
        }
    }
    let forget = decode_positive(d, &mut f, path, "forget", DEFAULT_FORGET);
    if forget.as_millis() < LOOKBACK_MS as u128 {
        let v = f.get("forget").map_or(n.pos, |v| v.pos);
        d.error(
            v,
            &format!("{path}: forget"),
            "must be at least 5m (the input's lookback)",
        );
    }
    let hold = match f.get("hold") {
        Some(v) => d.bool(v, &format!("{path}: hold")).unwrap_or(false),
        None => false,
    };
    f.finish(d, "anomaly");
    let (input, detector) = (input?, detector?);
    if d.diags.len() > before {
        return None;
    }
    // Built once here so that a bad parameter is a load error, not an evaluation error.
    if let Err(e) = anomaly::build(&detector, &params) {
        d.error(build_pos, path, e);
        return None;
    }
    Some(Arc::new(Anomaly {
        input,
        detector,
        params,
        threshold,
        forget_ms: forget.as_millis() as i64,
        hold,
    }))
}

/// `params:`: a mapping of parameter names (`window`, `holtwinters.period`, ...) to scalars,
/// kept as text for the detector to parse; and where it was.
fn decode_params(
    d: &mut Decoder,
    f: &mut Fields,
    path: &str,
) -> (BTreeMap<String, String>, Option<yaml::Pos>) {
    let mut out = BTreeMap::new();
    let Some(n) = f.get("params") else {
        return (out, None);
    };
    let at = format!("{path}: params");
    if let (Some(_), yaml::Value::Map(entries)) = (d.map(n, &at), &n.value) {
        for (k, v) in entries {
            let Some(key) = k.scalar() else { continue };
            match v.scalar() {
                Some(val) if !val.trim().is_empty() => {
                    out.insert(key.to_string(), val.trim().to_string());
                }
                _ => d.error(
                    v.pos,
                    &format!("{at}: {key}"),
                    "expected a number or a word",
                ),
            }
        }
    }
    (out, Some(n.pos))
}

impl Spec for Anomaly {
    fn build(self: Arc<Self>, rule: &str) -> Box<dyn Input> {
        Box::new(State::new(self, rule))
    }

    fn plans(&self) -> Vec<&Plan> {
        vec![&self.input.plan]
    }

    fn text(&self) -> String {
        format!(
            "{} of {}: score >= {}{}",
            self.fingerprint(),
            self.input.text,
            self.threshold,
            if self.hold { ", held until normal" } else { "" }
        )
    }
}
