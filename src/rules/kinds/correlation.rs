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
use crate::config::yaml;
use crate::config::yaml::{Decoder, Node};
use crate::model::labels;
use crate::model::Labels;
use crate::promql;
use crate::promql::{Plan, Sample, Value};
use crate::rules::alert::EvalInput;
use crate::rules::eval::selectors;
use crate::store::select::Queryable;

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
        labels::set(&mut l, "rule", &self.rule);
        labels::set(&mut l, labels::NAME, name);
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
                .filter(|(_, v)| !crate::model::time::is_stale(*v))
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
                .map(|s| (labels::drop_name(s.labels), s.samples))
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
                    let l = labels::drop_name(s.labels);
                    by.entry(l).or_default().push((tk, s.value));
                }
            }
            Value::Scalar(v) => by.entry(Vec::new()).or_default().push((tk, v)),
            _ => return Err("the result is not a vector or scalar".into()),
        }
    }
    Ok(by.into_iter().collect())
}

#[cfg(test)]
mod tests {
    //! `correlation`: the coefficients on series of known r, alignment, the lag search, and the
    //! kind over a `MemStore` (exported series, alerts, no value for constant or short series).

    use crate::model::labels::sorted as l;
    use crate::model::labels;
    use crate::model::Labels;
    use crate::rules::alert::AlertState;
    use crate::rules::eval::{eval_group_mem, Env, RuleState};
    use crate::rules::file::parse;
    use crate::rules::kinds::stats::{
        align, best_lag, median_step, pearson, ranks, Method, Search,
    };
    use crate::store::memstore::MemStore;
    use crate::store::select::{MatchOp, Matcher, Queryable};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// A wiggly series with no simple shape: `sin(1.7 i) + cos(0.3 i)`.
    fn wiggle(i: i64) -> f64 {
        (i as f64 * 1.7).sin() + (i as f64 * 0.3).cos()
    }

    #[test]
    fn known_coefficients() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 5.0, 4.0, 5.0];
        // r = 6 / sqrt(10 * 6); Spearman with tied ranks [1, 2.5, 4.5, 2.5, 4.5]: 7 / sqrt(90).
        assert!(close(pearson(&x, &y).unwrap(), 6.0 / 60f64.sqrt()));
        assert_eq!(ranks(&y), [1.0, 2.5, 4.5, 2.5, 4.5]);
        assert!(close(
            Method::Spearman.r(&x, &y).unwrap(),
            7.0 / 90f64.sqrt()
        ));
        let lin: Vec<f64> = x.iter().map(|v| -3.0 * v + 1.0).collect();
        assert!(close(pearson(&x, &lin).unwrap(), -1.0));
        // Monotonic but not linear: Spearman 1, Pearson below.
        let cube: Vec<f64> = x.iter().map(|v| v * v * v).collect();
        assert!(close(Method::Spearman.r(&x, &cube).unwrap(), 1.0));
        assert!(pearson(&x, &cube).unwrap() < 0.99);
        // Undefined: a constant side (also one with rounding noise in its mean), too few points.
        assert_eq!(pearson(&x, &[3.0; 5]), None);
        assert_eq!(
            pearson(
                &[0.1; 10],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
            ),
            None
        );
        assert_eq!(pearson(&[1.0], &[2.0]), None);
    }

    #[test]
    fn alignment_pairs_the_nearest_sample_within_half_a_step() {
        let x = [(0, 1.0), (10_000, 2.0), (20_000, 3.0)];
        let y4 = [(4_000, 10.0), (14_000, 20.0), (24_000, 30.0)];
        assert_eq!(
            align(&x, &y4, 0, 5_000),
            (vec![1.0, 2.0, 3.0], vec![10.0, 20.0, 30.0])
        );
        // 6 s late: x at 0 has nothing within 5 s; x at 10 s and 20 s take the nearer earlier one.
        let y6 = [(6_000, 10.0), (16_000, 20.0), (26_000, 30.0)];
        assert_eq!(align(&x, &y6, 0, 5_000), (vec![2.0, 3.0], vec![10.0, 20.0]));
        // With a lag of 10 s, x(t) pairs with y(t + 10 s).
        assert_eq!(
            align(&x, &y4, 10_000, 5_000),
            (vec![1.0, 2.0], vec![20.0, 30.0])
        );
        assert_eq!(
            median_step(&[(0, 0.0), (15_000, 0.0), (30_000, 0.0), (60_000, 0.0)]),
            Some(15_000)
        );
    }

    #[test]
    fn the_lag_search_finds_a_lagged_copy() {
        let step = 15_000;
        let x: Vec<(i64, f64)> = (0..40).map(|i| (i * step, wiggle(i))).collect();
        // y repeats x three steps later.
        let y: Vec<(i64, f64)> = (0..40).map(|i| (i * step, wiggle(i - 3))).collect();
        let s = Search {
            method: Method::Pearson,
            step_ms: step,
            max_lag_ms: 0,
            abs: false,
            min_points: 10,
        };
        let at0 = best_lag(&x, &y, s).unwrap();
        assert!(at0.r < 0.6 && at0.lag_ms == 0, "{at0:?}");
        let b = best_lag(
            &x,
            &y,
            Search {
                max_lag_ms: 120_000,
                ..s
            },
        )
        .unwrap();
        assert_eq!((b.lag_ms, b.points), (45_000, 37));
        assert!(close(b.r, 1.0), "{b:?}");
        // y leading x is a negative lag.
        let b = best_lag(
            &y,
            &x,
            Search {
                max_lag_ms: 120_000,
                ..s
            },
        )
        .unwrap();
        assert_eq!(b.lag_ms, -45_000);
        // Too few pairs at every lag: no value.
        assert_eq!(best_lag(&x[..9], &y[..9], s), None);
        // A constant side: no value.
        let flat: Vec<(i64, f64)> = x.iter().map(|(t, _)| (*t, 4.0)).collect();
        assert_eq!(best_lag(&x, &flat, s), None);
    }

    fn values(s: &MemStore, name: &str) -> Vec<(Labels, f64)> {
        let m = Matcher {
            name: labels::NAME.into(),
            op: MatchOp::Eq(name.into()),
        };
        (s.select(&[m], i64::MIN, i64::MAX).into_iter())
            .map(|x| (labels::drop_name(x.labels), x.samples.last().unwrap().1))
            .collect()
    }


    #[test]
    fn the_kind_exports_r_and_fires_past_the_threshold() {
        let text = r#"groups:
  - name: g
    rules:
      - alert: Raw
        correlation: {x: a, y: b, window: 10m, max_lag: 2m, threshold: 0.9}
        annotations: {summary: 'r={{ printf "%.3f" $value }} lag={{ $inputs.lag_seconds }}s n={{ $inputs.points }}'}
      - alert: Expr
        correlation: {x: a, y: 'b * 2', window: 10m, max_lag: 2m, threshold: 0.9}
"#;
        let g = parse("r.yml", text).unwrap().groups.remove(0);
        let mut st: Vec<RuleState> = (g.rules.iter())
            .map(|r| RuleState::new(r, 0, &Env::default()).unwrap())
            .collect();
        let mut s = MemStore::new();
        let step = 15_000;
        for i in 0..=40 {
            let t = i * step;
            // Host h1: b follows a by 30 s, sampled 2 s after a. Host h2: b constant. Host h3:
            // a alone.
            s.add(&[("__name__", "a"), ("host", "h1")], &[(t, wiggle(i))]);
            s.add(
                &[("__name__", "b"), ("host", "h1")],
                &[(t + 2_000, wiggle(i - 2))],
            );
            s.add(&[("__name__", "a"), ("host", "h2")], &[(t, wiggle(i))]);
            s.add(&[("__name__", "b"), ("host", "h2")], &[(t, 7.0)]);
            s.add(&[("__name__", "a"), ("host", "h3")], &[(t, wiggle(i))]);
        }
        assert!(eval_group_mem(&g, &mut st, 40 * step, &mut s).is_empty());
        // Only h1 has a value. Raw samples pair 2 s apart: lag 30 s. The expression is evaluated
        // every step, where its value is the newest `b` (from the step before): lag 45 s.
        let raw = l(&[("host", "h1"), ("rule", "Raw")]);
        let expr = l(&[("host", "h1"), ("rule", "Expr")]);
        let mut r = values(&s, "telltale_correlation");
        r.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!((&r[0].0, &r[1].0), (&expr, &raw));
        assert!(r.iter().all(|(_, v)| (v - 1.0).abs() < 1e-9), "{r:?}");
        let mut lags = values(&s, "telltale_correlation_lag_seconds");
        lags.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(lags, [(expr, 45.0), (raw, 30.0)]);
        for rs in &st {
            let a: Vec<_> = rs.alert.as_ref().unwrap().alerts().cloned().collect();
            assert_eq!(a.len(), 1);
            assert_eq!(a[0].state, AlertState::Firing);
            assert_eq!(labels::get(&a[0].labels, "host"), Some("h1"));
        }
        let a = st[0].alert.as_ref().unwrap().alerts().next().unwrap();
        let summary = labels::get(&a.annotations, "summary").unwrap();
        assert_eq!(summary, "r=1.000 lag=30s n=38");
    }
}
