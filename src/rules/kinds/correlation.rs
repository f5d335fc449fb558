//! `correlation:` — the Pearson or Spearman coefficient between two series over a window,
//! optionally at the best lag within a bound, exported as `telltale_correlation{rule, ...}`
//! (and `telltale_correlation_lag_seconds`) at every evaluation; an alert per joined pair
//! whose coefficient reaches `threshold`.
//!
//! ```yaml
//! correlation:
//!   x: job:errors:ratio
//!   y: job:latency_seconds:p99
//!   window: 30m          # default 30m
//!   method: spearman     # default pearson
//!   max_lag: 5m          # default 0
//!   threshold: 0.7       # default 0.7; `abs: true` compares |r|
//! ```
//!
//! A plain selector input contributes its raw samples in the window; any other expression is
//! evaluated every `step` across it. `step` (default: the median spacing of the samples of
//! `x`'s first selector) is the sample interval: samples pair with the nearest one within
//! half a step, and lags are whole steps.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::common::{self, by_key, decode_on, decode_positive, decode_query, Query};
use super::stats::{self, Method, Search};
use super::{Def, Input, Output, Spec};
use crate::exposition::Labels;
use crate::promql::{self, Plan, Queryable, Sample, Value};
use crate::rules::alert::EvalInput;
use crate::rules::groupeval::selectors;
use crate::yaml::{self, Decoder, Node};

pub const METRIC: &str = "telltale_correlation";
pub const LAG_METRIC: &str = "telltale_correlation_lag_seconds";

pub const KIND: Def = Def {
    key: "correlation",
    metrics: &[
        (
            METRIC,
            "Correlation coefficient of a correlation rule's two series over its window, at the best lag.",
        ),
        (
            LAG_METRIC,
            "The lag of telltale_correlation: how far y follows x (negative: y leads).",
        ),
    ],
    decode,
};

const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 60);
const DEFAULT_STEP_MS: i64 = 60_000;
/// Evaluations of an expression input per window at most (Prometheus' limit for a range query).
const MAX_POINTS: i64 = 11_000;

#[derive(Debug)]
struct Correlation {
    x: Query,
    y: Query,
    on: Option<Vec<String>>,
    window_ms: i64,
    step_ms: Option<i64>,
    method: Method,
    max_lag_ms: i64,
    threshold: f64,
    abs: bool,
    min_points: usize,
}

fn decode(d: &mut Decoder, n: &Node, path: &str) -> Option<Arc<dyn Spec>> {
    let before = d.diags.len();
    let mut f = d.map(n, path)?;
    let mut query = |d: &mut Decoder, key: &str| match f.get(key) {
        Some(v) => decode_query(d, v, &format!("{path}: {key}")),
        None => {
            d.error(n.pos, path, format!("field '{key}' must be set"));
            None
        }
    };
    let (x, y) = (query(d, "x"), query(d, "y"));
    let on = decode_on(d, &mut f, path);
    let window = decode_positive(d, &mut f, path, "window", DEFAULT_WINDOW);
    let step_ms =
        (f.get("step").is_some()).then(|| decode_positive(d, &mut f, path, "step", Duration::ZERO));
    let mut method = Method::Pearson;
    if let Some(v) = f.get("method") {
        let at = format!("{path}: method");
        match d.string(v, &at).map(|s| Method::parse(&s)) {
            Some(Ok(m)) => method = m,
            Some(Err(e)) => d.error(v.pos, &at, e),
            None => {}
        }
    }
    let mut max_lag = Duration::ZERO;
    if let Some(v) = f.get("max_lag") {
        let at = format!("{path}: max_lag");
        match d.duration(v, &at) {
            Some(l) if l >= window => d.error(v.pos, &at, "must be shorter than the window"),
            Some(l) => max_lag = l,
            None => {}
        }
    }
    let abs = match f.get("abs") {
        Some(v) => d.bool(v, &format!("{path}: abs")).unwrap_or(false),
        None => false,
    };
    let mut threshold = 0.7;
    if let Some(v) = f.get("threshold") {
        let at = format!("{path}: threshold");
        match d.f64(v, &at) {
            Some(t) if !(-1.0..=1.0).contains(&t) => d.error(v.pos, &at, "must be within [-1, 1]"),
            Some(t) if abs && t < 0.0 => d.error(v.pos, &at, "must be >= 0 with abs: true"),
            Some(t) => threshold = t,
            None => {}
        }
    }
    let mut min_points = 10;
    if let Some(v) = f.get("min_points") {
        let at = format!("{path}: min_points");
        match d.u64(v, &at) {
            Some(m) if m < 3 => d.error(v.pos, &at, "must be at least 3"),
            Some(m) => min_points = m as usize,
            None => {}
        }
    }
    f.finish(d, "correlation");
    let (x, y) = (x?, y?);
    if d.diags.len() > before {
        return None;
    }
    Some(Arc::new(Correlation {
        x,
        y,
        on,
        window_ms: window.as_millis() as i64,
        step_ms: step_ms.map(|s| s.as_millis() as i64),
        method,
        max_lag_ms: max_lag.as_millis() as i64,
        threshold,
        abs,
        min_points,
    }))
}

impl Spec for Correlation {
    fn build(self: Arc<Self>, rule: &str) -> Box<dyn Input> {
        Box::new(State {
            spec: self,
            rule: rule.to_string(),
        })
    }

    fn plans(&self) -> Vec<&Plan> {
        vec![&self.x.plan, &self.y.plan]
    }

    fn text(&self) -> String {
        let dur = |ms: i64| yaml::format_duration(Duration::from_millis(ms as u64));
        let on = match &self.on {
            Some(on) => format!(" on ({})", on.join(", ")),
            None => String::new(),
        };
        let r = if self.abs { "|r|" } else { "r" };
        format!(
            "{} of x: {}, y: {}{on} over {}, max lag {}: {r} >= {}",
            self.method.as_str(),
            self.x.text,
            self.y.text,
            dur(self.window_ms),
            dur(self.max_lag_ms),
            self.threshold
        )
    }
}

/// Correlation rules learn nothing; the rule name labels the exported series.
#[derive(Debug)]
struct State {
    spec: Arc<Correlation>,
    rule: String,
}

type Samples = Vec<(i64, f64)>;

impl Input for State {
    fn eval(&mut self, t: i64, q: &dyn Queryable) -> Output {
        match self.compute(t, q) {
            Ok(out) => out,
            Err(e) => Output::new(EvalInput::Error(e)),
        }
    }
}

impl State {
    fn compute(&self, t: i64, q: &dyn Queryable) -> Result<Output, String> {
        let c = &self.spec;
        let step = (c.step_ms)
            .or_else(|| infer_step(&c.x.plan, t, c.window_ms, q))
            .unwrap_or(DEFAULT_STEP_MS)
            .max(c.window_ms / MAX_POINTS)
            .max(1);
        let xs = series(&c.x.plan, t, c.window_ms, step, q).map_err(|e| format!("x: {e}"))?;
        let ys = series(&c.y.plan, t, c.window_ms, step, q).map_err(|e| format!("y: {e}"))?;
        if xs.is_empty() || ys.is_empty() {
            let gone = |p: &Plan| common::absent(p, t, q, c.window_ms);
            if gone(&c.x.plan) || gone(&c.y.plan) {
                return Ok(Output::new(EvalInput::NoData));
            }
        }
        let on = match &c.on {
            Some(on) => on.clone(),
            None => common::shared_names([
                xs.iter().map(|(l, _)| l).collect(),
                ys.iter().map(|(l, _)| l).collect(),
            ]),
        };
        let kx = by_key("x", xs, &on)?;
        let ky = by_key("y", ys, &on)?;
        let search = Search {
            method: c.method,
            step_ms: step,
            max_lag_ms: c.max_lag_ms,
            abs: c.abs,
            min_points: c.min_points,
        };
        let mut out = Output::new(EvalInput::Ok(Vec::new()));
        let mut samples = Vec::new();
        for (key, sx) in &kx {
            let Some(sy) = ky.get(key) else { continue };
            let Some(b) = stats::best_lag(sx, sy, search) else {
                continue;
            };
            let lag_s = b.lag_ms as f64 / 1000.0;
            out.series.push((self.labels(METRIC, key), b.r));
            out.series.push((self.labels(LAG_METRIC, key), lag_s));
            let score = if c.abs { b.r.abs() } else { b.r };
            if score < c.threshold {
                continue;
            }
            samples.push(Sample {
                labels: key.clone(),
                value: b.r,
            });
            let last = |s: &Samples| s.last().map_or(f64::NAN, |p| p.1);
            let named = [
                ("r", b.r),
                ("lag_seconds", lag_s),
                ("points", b.points as f64),
                ("x", last(sx)),
                ("y", last(sy)),
            ];
            let named = named.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            out.inputs.insert(key.clone(), Arc::new(named));
        }
        out.result = EvalInput::Ok(samples);
        Ok(out)
    }

    /// `name{rule="<rule>", <join labels>}`.
    fn labels(&self, name: &str, key: &Labels) -> Labels {
        let mut l = key.clone();
        promql::set(&mut l, "rule", &self.rule);
        promql::set(&mut l, promql::NAME, name);
        l
    }
}

/// The sample interval of the first series of `plan`'s first selector within the window.
fn infer_step(plan: &Plan, t: i64, window_ms: i64, q: &dyn Queryable) -> Option<i64> {
    let mut sels = Vec::new();
    selectors(plan, &mut sels);
    let (sel, _) = sels.first()?;
    let end = t - sel.offset_ms;
    q.select(&sel.matchers, end - window_ms, end)
        .into_iter()
        .find_map(|s| {
            let live: Samples = (s.samples.into_iter())
                .filter(|(_, v)| !promql::is_stale(*v))
                .collect();
            stats::median_step(&live)
        })
}

/// The series of an input over the window ending at `t`, without `__name__`: a selector's raw
/// samples, or an expression evaluated every `step_ms`.
fn series(
    plan: &Plan,
    t: i64,
    window_ms: i64,
    step_ms: i64,
    q: &dyn Queryable,
) -> Result<Vec<(Labels, Samples)>, String> {
    if let Plan::Selector(sel) = plan {
        let range = Plan::Range(sel.clone(), window_ms);
        return match promql::eval_instant(&range, t, q).map_err(|e| e.0)? {
            Value::Matrix(m) => Ok(m
                .into_iter()
                .map(|s| (promql::drop_name(s.labels), s.samples))
                .collect()),
            _ => Err("a range selector did not give a matrix".into()),
        };
    }
    let mut by: BTreeMap<Labels, Samples> = BTreeMap::new();
    for k in (0..window_ms / step_ms).rev() {
        let tk = t - k * step_ms;
        match promql::eval_instant(plan, tk, q).map_err(|e| e.0)? {
            Value::Vector(v) => {
                for s in v {
                    let l = promql::drop_name(s.labels);
                    by.entry(l).or_default().push((tk, s.value));
                }
            }
            Value::Scalar(v) => by.entry(Vec::new()).or_default().push((tk, v)),
            _ => return Err("the result is not a vector or scalar".into()),
        }
    }
    Ok(by.into_iter().collect())
}
