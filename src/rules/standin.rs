//! STAND-IN, to be replaced by the lifecycle branch (`src/rules/alert.rs`, `src/rules/template.rs`).
//!
//! `telltale test rules` needs alert state and templating now; these two functions are the whole
//! interface it uses, so swapping in the real implementations touches only this file:
//! - [`step_alerts`]: one evaluation of one alerting rule's state at `ts`, Prometheus' algorithm
//!   (alerting.go `Eval`): new → pending, pending → firing after `for`, absent pending deleted,
//!   absent firing kept for `keep_firing_for` then inactive (resolved), inactive kept 15m.
//! - [`expand`]: only `{{ $labels.x }}`, `{{ .Labels.x }}`, `{{ $value }}`, `{{ .Value }}`,
//!   `{{ $externalLabels.x }}`, `{{ $externalURL }}`; anything else yields an error string (so a
//!   test that relies on it fails loudly instead of passing by accident).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::exposition::Labels;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Inactive,
    Pending,
    Firing,
}

#[derive(Clone, Debug)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
    pub state: State,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

/// One output element of the rule's expression, labels and annotations already templated.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
}

const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Advances one alerting rule's alerts (keyed by label set) to the evaluation at `ts`.
/// Afterwards, the alerts that are pending or firing are the ones to write as `ALERTS`.
pub fn step_alerts(
    active: &mut BTreeMap<Labels, Alert>,
    found: Vec<Candidate>,
    ts: i64,
    hold: Duration,
    keep_firing_for: Duration,
) {
    let hold = hold.as_millis() as i64;
    let keep = keep_firing_for.as_millis() as i64;
    let present: std::collections::HashSet<Labels> =
        found.iter().map(|c| c.labels.clone()).collect();
    for c in found {
        match active.get_mut(&c.labels) {
            Some(a) if a.state != State::Inactive => {
                a.value = c.value;
                a.annotations = c.annotations;
            }
            _ => {
                let alert = Alert {
                    labels: c.labels.clone(),
                    annotations: c.annotations,
                    value: c.value,
                    state: State::Pending,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    keep_firing_since: None,
                };
                active.insert(c.labels, alert);
            }
        }
    }
    active.retain(|labels, a| {
        if !present.contains(labels) {
            let mut keep_firing = false;
            if a.state == State::Firing && keep > 0 {
                let since = *a.keep_firing_since.get_or_insert(ts);
                keep_firing = ts - since < keep;
            }
            if a.state == State::Pending
                || a.resolved_at
                    .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
            {
                return false;
            }
            if !keep_firing {
                if a.state != State::Inactive {
                    a.state = State::Inactive;
                    a.resolved_at = Some(ts);
                }
                return true;
            }
        } else {
            a.keep_firing_since = None;
        }
        if a.state == State::Pending && ts - a.active_at >= hold {
            a.state = State::Firing;
            a.fired_at = Some(ts);
        }
        true
    });
}

/// What a template sees.
pub struct TemplateData<'a> {
    pub labels: &'a Labels,
    pub value: f64,
    pub external_labels: &'a [(String, String)],
    pub external_url: &'a str,
}

/// Expands a label or annotation template with the template engine (`rules::template`).
pub fn expand(text: &str, data: &TemplateData) -> String {
    let d = crate::rules::template::Data {
        labels: std::sync::Arc::new(data.labels.iter().cloned().collect()),
        external_labels: std::sync::Arc::new(data.external_labels.iter().cloned().collect()),
        external_url: data.external_url.to_string(),
        value: data.value,
    };
    match crate::rules::template::Template::parse("__alert", text) {
        Ok(t) => t.expand(&d),
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lbl(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn step(active: &mut BTreeMap<Labels, Alert>, on: bool, ts_min: i64, hold: u64, keep: u64) {
        let found = if on {
            vec![Candidate {
                labels: lbl(&[("alertname", "A")]),
                annotations: Vec::new(),
                value: 1.0,
            }]
        } else {
            Vec::new()
        };
        let m = |x: u64| Duration::from_secs(60 * x);
        step_alerts(active, found, ts_min * 60_000, m(hold), m(keep));
    }

    fn state(active: &BTreeMap<Labels, Alert>) -> Option<State> {
        active.values().next().map(|a| a.state)
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let mut a = BTreeMap::new();
        step(&mut a, true, 0, 2, 0);
        assert_eq!(state(&a), Some(State::Pending));
        step(&mut a, true, 1, 2, 0);
        assert_eq!(state(&a), Some(State::Pending));
        step(&mut a, true, 2, 2, 0);
        assert_eq!(state(&a), Some(State::Firing));
        step(&mut a, false, 3, 2, 0);
        assert_eq!(state(&a), Some(State::Inactive));
        step(&mut a, false, 19, 2, 0);
        assert_eq!(state(&a), None, "dropped after 15m of retention");
    }

    #[test]
    fn a_gap_resets_pending_and_keep_firing_holds() {
        let mut a = BTreeMap::new();
        step(&mut a, true, 0, 1, 0);
        step(&mut a, false, 1, 1, 0);
        assert_eq!(state(&a), None);
        step(&mut a, true, 2, 0, 2);
        assert_eq!(state(&a), Some(State::Firing));
        step(&mut a, false, 3, 0, 2);
        step(&mut a, false, 4, 0, 2);
        assert_eq!(state(&a), Some(State::Firing));
        step(&mut a, false, 5, 0, 2);
        assert_eq!(state(&a), Some(State::Inactive));
    }

    #[test]
    fn templates() {
        let labels = lbl(&[("instance", "x:1")]);
        let ext = vec![("site".to_string(), "eu".to_string())];
        let data = TemplateData {
            labels: &labels,
            value: 0.5,
            external_labels: &ext,
            external_url: "http://h",
        };
        assert_eq!(
            expand("{{ $labels.instance }} at {{$value}} in {{ $externalLabels.site }} {{ $labels.nope }}", &data),
            "x:1 at 0.5 in eu "
        );
        assert_eq!(expand("{{ humanize $value }}", &data), "500m");
        assert!(expand("{{ nosuchfunc $value }}", &data).starts_with("<error expanding template"));
    }
}
