//! The alert lifecycle of one alerting rule as plain data, advanced only by the evaluation
//! timestamp passed in (never the clock), with Prometheus' semantics (`rules/alerting.go`
//! `Eval`, 2.42+): new label sets become pending, fire once `t - active_at >= for`, a pending
//! alert whose series disappears is deleted, a firing one resolves (held by `keep_firing_for`)
//! and is kept 15 minutes so the resolution is re-sent.
//!
//! Beyond Prometheus, per rule and optional (None = Prometheus' behaviour):
//! - `no_data` (the engine found the rule's input absent) and `on_error` (the query failed):
//!   `ok` = as if the result were empty; `keep_last` = no transition at all (timers keep their
//!   wall-clock start, firing alerts keep being re-sent); `alerting` = active alerts count as
//!   present, plus one rule-level alert labelled `telltale_reason="no_data"|"error"` that goes
//!   through `for` like any other. Prometheus on error leaves state untouched and sends nothing
//!   that cycle (`RuleError::skip_send`), which lets Alertmanager time firing alerts out.
//! - hysteresis: with a `resolve_expr` result, a firing alert missing from the main result
//!   stays firing until some resolve sample's labels (minus `__name__`) are a subset of its
//!   labels; a resolve input that is empty, absent or failed never resolves anything.

pub mod output;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{labels, Labels};
use crate::promql::Sample;
use crate::template::{Data, FloatMap, StrMap, Template};

/// How long a resolved alert is kept (and re-sent) before it is forgotten.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;
pub const REASON_LABEL: &str = "telltale_reason";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// `no_data:` / `on_error:` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    Alerting,
    Ok,
    KeepLast,
}

impl Policy {
    pub fn parse(s: &str) -> Result<Policy, String> {
        match s {
            "alerting" => Ok(Policy::Alerting),
            "ok" => Ok(Policy::Ok),
            "keep_last" => Ok(Policy::KeepLast),
            _ => Err(format!(
                "unknown policy {s:?} (want alerting, ok or keep_last)"
            )),
        }
    }
}

/// One alert instance. Times are unix milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    /// NaN/Inf are stored as null in JSON.
    #[serde(with = "float_or_null")]
    pub value: f64,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub last_sent_at_ms: Option<i64>,
    pub valid_until_ms: Option<i64>,
    pub keep_firing_since_ms: Option<i64>,
}

mod float_or_null {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match v.is_finite() {
            true => s.serialize_some(v),
            false => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// The static part of an alerting rule, templates parsed at load time.
#[derive(Clone, Debug)]
pub struct AlertRuleSpec {
    pub name: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    /// Rule labels and annotations, sorted by name.
    pub labels: Vec<(String, Template)>,
    pub annotations: Vec<(String, Template)>,
    pub external_labels: Arc<StrMap>,
    pub external_url: String,
    /// The group's `limit` (0 = none).
    pub limit: usize,
    pub no_data: Option<Policy>,
    pub on_error: Option<Policy>,
}

impl AlertRuleSpec {
    /// Parses the label and annotation templates; a bad one is a load-time error.
    pub fn new(
        name: &str,
        for_ms: i64,
        keep_firing_for_ms: i64,
        labels: &[(String, String)],
        annotations: &[(String, String)],
    ) -> Result<Self, String> {
        let tname = format!("__alert_{name}");
        let parse = |what: &str, kv: &[(String, String)]| {
            let mut out = kv
                .iter()
                .map(|(k, v)| {
                    Template::parse(&tname, v)
                        .map(|t| (k.clone(), t))
                        .map_err(|e| format!("{what} {k:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok::<_, String>(out)
        };
        Ok(AlertRuleSpec {
            name: name.to_string(),
            for_ms,
            keep_firing_for_ms,
            labels: parse("label", labels)?,
            annotations: parse("annotation", annotations)?,
            external_labels: Arc::default(),
            external_url: String::new(),
            limit: 0,
            no_data: None,
            on_error: None,
        })
    }
}

/// What the engine got for the rule's expression at `t`.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalInput {
    Ok(Vec<Sample>),
    /// The rule's input series are absent (the engine decides, e.g. every selector of the
    /// expression matched nothing). An empty result of a comparison is `Ok(vec![])`.
    NoData,
    Error(String),
}

/// Why an alerting rule's evaluation failed (a template or limit problem, or its query's error).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleError {
    pub message: String,
    /// True when the state was left as Prometheus leaves it on error: the engine must not
    /// call `due_notifications` for this rule in this cycle.
    pub skip_send: bool,
}

/// One alerting rule's state.
#[derive(Clone, Debug)]
pub struct AlertRule {
    pub spec: AlertRuleSpec,
    pub(super) alerts: BTreeMap<Labels, Alert>,
    /// Whether ALERTS / ALERTS_FOR_STATE are written (Prometheus: only after restore).
    pub restored: bool,
    pub(super) last_eval_ms: Option<i64>,
    /// A rule kind's named input values per result sample (by its labels) for the evaluation
    /// at hand, which templates read as `$inputs` (see `kinds`).
    pub(super) inputs: BTreeMap<Labels, Arc<FloatMap>>,
}

fn err(message: String, skip_send: bool) -> RuleError {
    RuleError { message, skip_send }
}

impl AlertRule {
    pub fn new(spec: AlertRuleSpec) -> Self {
        AlertRule {
            spec,
            alerts: BTreeMap::new(),
            restored: true,
            last_eval_ms: None,
            inputs: BTreeMap::new(),
        }
    }

    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// Pending and firing alerts (what `/api/v1/alerts` lists).
    pub fn active_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values().filter(|a| a.resolved_at_ms.is_none())
    }

    /// The rule's state: the highest of its alerts; None ("unknown") before the first eval.
    pub fn state(&self) -> Option<AlertState> {
        self.last_eval_ms?;
        Some(
            self.alerts
                .values()
                .map(|a| a.state)
                .max()
                .unwrap_or(AlertState::Inactive),
        )
    }

    /// Prometheus' `Eval`, without hysteresis (the tests' entry point).
    #[cfg(test)]
    pub fn eval(&mut self, t_ms: i64, input: EvalInput) -> Result<(), RuleError> {
        self.eval_with_resolve(t_ms, input, None)
    }

    /// `eval` with hysteresis: `resolve` is the `resolve_expr` result at the same time.
    pub fn eval_with_resolve(
        &mut self,
        t: i64,
        input: EvalInput,
        resolve: Option<&EvalInput>,
    ) -> Result<(), RuleError> {
        match input {
            EvalInput::Ok(samples) => self.apply(t, &samples, resolve),
            EvalInput::NoData => match self.spec.no_data {
                None | Some(Policy::Ok) => self.apply(t, &[], resolve),
                Some(Policy::KeepLast) => {
                    self.hold(t);
                    Ok(())
                }
                Some(Policy::Alerting) => self.force(t, "no_data", None),
            },
            EvalInput::Error(msg) => match self.spec.on_error {
                None => Err(err(msg, true)),
                Some(p) => {
                    match p {
                        Policy::Ok => self.apply(t, &[], resolve)?,
                        Policy::KeepLast => self.hold(t),
                        Policy::Alerting => self.force(t, "error", Some(&msg))?,
                    }
                    Err(err(msg, false))
                }
            },
        }
    }

    /// Labels and annotations of the alert for one result sample (Prometheus' order: sample
    /// labels minus `__name__`, templated rule labels, `alertname`).
    pub(super) fn instance(&self, labels: &Labels, value: f64) -> (Labels, Labels) {
        let data = Data {
            labels: Arc::new(labels.iter().cloned().collect()),
            external_labels: self.spec.external_labels.clone(),
            external_url: self.spec.external_url.clone(),
            value,
            inputs: self.inputs.get(labels).cloned().unwrap_or_default(),
        };
        let mut lbls = labels::drop_name(labels.clone());
        lbls.sort();
        for (k, t) in &self.spec.labels {
            labels::set(&mut lbls, k, &t.expand(&data));
        }
        labels::set(&mut lbls, "alertname", &self.spec.name);
        let ann = self
            .spec
            .annotations
            .iter()
            .map(|(k, t)| (k.clone(), t.expand(&data)))
            .collect();
        (lbls, ann)
    }

    pub(super) fn new_alert(labels: Labels, annotations: Labels, value: f64, t: i64) -> Alert {
        Alert {
            labels,
            annotations,
            state: AlertState::Pending,
            value,
            active_at_ms: t,
            fired_at_ms: None,
            resolved_at_ms: None,
            last_sent_at_ms: None,
            valid_until_ms: None,
            keep_firing_since_ms: None,
        }
    }

    /// Merges one evaluation's result into the state (alerting.go `Eval`).
    fn apply(
        &mut self,
        t: i64,
        samples: &[Sample],
        resolve: Option<&EvalInput>,
    ) -> Result<(), RuleError> {
        let mut current: BTreeMap<Labels, (Labels, f64)> = BTreeMap::new();
        for s in samples {
            let (lbls, ann) = self.instance(&s.labels, s.value);
            if current.insert(lbls, (ann, s.value)).is_some() {
                let m =
                    "vector contains metrics with the same labelset after applying alert labels";
                return Err(err(m.into(), true));
            }
        }
        let present: BTreeSet<Labels> = current.keys().cloned().collect();
        for (lbls, (ann, v)) in current {
            match self.alerts.get_mut(&lbls) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = v;
                    a.annotations = ann;
                }
                _ => {
                    let a = Self::new_alert(lbls.clone(), ann, v, t);
                    self.alerts.insert(lbls, a);
                }
            }
        }
        self.advance(t, &present, resolve)
    }

    /// The transitions of one evaluation, given which alerts are present.
    pub(super) fn advance(
        &mut self,
        t: i64,
        present: &BTreeSet<Labels>,
        resolve: Option<&EvalInput>,
    ) -> Result<(), RuleError> {
        self.last_eval_ms = Some(t);
        let (hold_for, kff) = (self.spec.for_ms, self.spec.keep_firing_for_ms);
        let mut active = 0usize;
        self.alerts.retain(|lbls, a| {
            let held =
                a.state == AlertState::Firing && resolve.is_some_and(|r| !resolve_holds(r, lbls));
            if present.contains(lbls) || held {
                a.keep_firing_since_ms = None;
            } else {
                let mut keep = false;
                if a.state == AlertState::Firing && kff > 0 {
                    let since = *a.keep_firing_since_ms.get_or_insert(t);
                    keep = t - since < kff;
                }
                if a.state == AlertState::Pending {
                    return false;
                }
                if a.resolved_at_ms
                    .is_some_and(|r| t - r > RESOLVED_RETENTION_MS)
                {
                    return false;
                }
                if !keep {
                    if a.state != AlertState::Inactive {
                        a.state = AlertState::Inactive;
                        a.resolved_at_ms = Some(t);
                    }
                    return true;
                }
            }
            active += 1;
            if a.state == AlertState::Pending && t - a.active_at_ms >= hold_for {
                a.state = AlertState::Firing;
                a.fired_at_ms = Some(t);
            } else if a.state == AlertState::Firing && t - a.active_at_ms < hold_for {
                // Only after `for` was raised on reload (Prometheus 3 does the same).
                a.state = AlertState::Pending;
            }
            true
        });
        if self.spec.limit > 0 && active > self.spec.limit {
            self.alerts.clear();
            let limit = self.spec.limit;
            return Err(err(
                format!("exceeded limit of {limit} with {active} alerts"),
                true,
            ));
        }
        Ok(())
    }
}

// The extensions beyond Prometheus' lifecycle: `keep_last` and `alerting` policies for
// no_data / on_error, and the hysteresis match (see the `alert` module doc).

impl AlertRule {
    /// `keep_last`: nothing moves; resolved alerts past retention are still forgotten.
    pub(super) fn hold(&mut self, t: i64) {
        self.last_eval_ms = Some(t);
        self.alerts.retain(|_, a| {
            a.resolved_at_ms
                .is_none_or(|r| t - r <= RESOLVED_RETENTION_MS)
        });
    }

    /// `alerting`: active alerts count as present, plus the rule-level `reason` alert.
    pub(super) fn force(
        &mut self,
        t: i64,
        reason: &str,
        error: Option<&str>,
    ) -> Result<(), RuleError> {
        let (mut lbls, mut ann) = self.instance(&Vec::new(), f64::NAN);
        labels::set(&mut lbls, REASON_LABEL, reason);
        if let Some(e) = error {
            labels::set(&mut ann, "telltale_error", e);
        }
        match self.alerts.get_mut(&lbls) {
            Some(a) if a.state != AlertState::Inactive => a.annotations = ann,
            _ => {
                let a = Self::new_alert(lbls.clone(), ann, f64::NAN, t);
                self.alerts.insert(lbls, a);
            }
        }
        let present: BTreeSet<Labels> = self
            .alerts
            .iter()
            .filter(|(_, a)| a.state != AlertState::Inactive)
            .map(|(l, _)| l.clone())
            .collect();
        self.advance(t, &present, None)
    }
}

/// Hysteresis: does some resolve sample designate this alert?
pub(super) fn resolve_holds(resolve: &EvalInput, alert_labels: &Labels) -> bool {
    let EvalInput::Ok(samples) = resolve else {
        return false;
    };
    samples.iter().any(|s| {
        s.labels
            .iter()
            .filter(|(k, _)| k != labels::NAME)
            .all(|(k, v)| labels::get(alert_labels, k) == Some(v.as_str()))
    })
}
