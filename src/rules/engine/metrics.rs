//! The engine's self-metrics: Prometheus' `prometheus_rule_*` set under the `telltale_` prefix,
//! labelled `rule_group="<file>;<group>"`.

use std::sync::atomic::Ordering;

use super::Engine;
use crate::model::Family;

impl Engine {
    pub fn families(&self) -> Vec<Family> {
        let fam = |name: &str, help: &str, counter: bool| {
            if counter {
                Family::counter(name, help)
            } else {
                Family::gauge(name, help)
            }
        };
        let mut f = [
            fam("telltale_rule_evaluations_total", "Rule evaluations.", true),
            fam(
                "telltale_rule_evaluation_failures_total",
                "Rule evaluations that failed.",
                true,
            ),
            fam(
                "telltale_rule_group_iterations_total",
                "Scheduled evaluations of the group, run or missed.",
                true,
            ),
            fam(
                "telltale_rule_group_iterations_missed_total",
                "Group evaluations skipped because an earlier one overran.",
                true,
            ),
            fam(
                "telltale_rule_group_duration_seconds_total",
                "Time spent evaluating the group.",
                true,
            ),
            fam(
                "telltale_rule_group_interval_seconds",
                "The group's evaluation interval.",
                false,
            ),
            fam(
                "telltale_rule_group_last_duration_seconds",
                "Duration of the group's last evaluation.",
                false,
            ),
            fam(
                "telltale_rule_group_last_evaluation_timestamp_seconds",
                "When the group was last evaluated (unix seconds).",
                false,
            ),
            fam(
                "telltale_rule_group_last_evaluation_samples",
                "Samples the group's rules wrote at the last evaluation.",
                false,
            ),
            fam("telltale_rule_group_rules", "Rules in the group.", false),
        ];
        for g in &self.groups {
            let key = g.key();
            let l = [("rule_group", key.as_str())];
            let s = g.state().stats.clone();
            let last = s.last_eval_ms.map_or(0.0, |t| t as f64 / 1000.0);
            let values = [
                s.evaluations as f64,
                s.failures as f64,
                (s.iterations + s.missed) as f64,
                s.missed as f64,
                s.duration_sum.as_secs_f64(),
                g.interval.as_secs_f64(),
                s.last_duration.as_secs_f64(),
                last,
                s.last_samples as f64,
                g.spec.rules.len() as f64,
            ];
            for (fam, v) in f.iter_mut().zip(values) {
                fam.add(&l, v);
            }
        }
        let mut out: Vec<Family> = f.into_iter().collect();
        out.push(
            Family::counter(
                "telltale_rule_state_write_failures_total",
                "Failed writes of the alert state file.",
            )
            .with(
                &[],
                self.shared.state_write_failures.load(Ordering::Relaxed) as f64,
            ),
        );
        out
    }
}
