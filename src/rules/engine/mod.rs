//! The running rules engine: rule groups evaluated on their intervals over the sample store.
//! Each evaluation runs the group's rules in order at one timestamp (Prometheus' `Group.Eval`),
//! writes recording-rule output and `ALERTS` / `ALERTS_FOR_STATE` back into the store (so later
//! rules, `/metrics` and staleness handling see them, one store source per rule), and hands the
//! alerts due for sending to a [`Sink`]. Scheduling lives in `engine_sched`, the state file in
//! `engine_state`; this module never reads the clock for alert state.

mod metrics;
mod schedule;
mod state_file;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::alert::output::{Notification, RestoreOptions};
use super::alert::{AlertRule, EvalInput};
use super::datasource::{Datasource, DatasourceConfig};
use super::eval::{eval_rule, local_inputs, Env, RuleState};
use super::file::{self, Kind, RuleFile};
use super::kinds;
use crate::model::labels;
use crate::model::{Family, Labels};
use crate::store::Store;

/// Inputs of a datasource group's rules, in rule order (see `remote`).
pub type RemoteInputs = Vec<(EvalInput, Option<EvalInput>)>;

/// Prefix of the store sources the engine writes; the sources' reload leaves them alone.
pub const SOURCE_PREFIX: &str = "rule:";

/// Engine-wide settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// For groups without their own `interval`.
    pub default_interval: Duration,
    pub env: Env,
    pub resend_delay: Duration,
    pub restore: RestoreOptions,
}

/// An alert due for sending, with the link back to its rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub alert: Notification,
    pub generator_url: String,
}

/// Where due alerts go (the notifiers); must not block.
pub trait Sink: Send + Sync {
    fn deliver(&self, alerts: Vec<Outgoing>);
}

/// The sink when no notifier is configured: every notification logged (DESIGN: alerts logged
/// to stdout).
pub struct LogSink;

/// One info line per batch (counts and up to five alert names), one debug line per alert: a
/// re-send every minute of 200 alerts is one line, not 200.
impl Sink for LogSink {
    fn deliver(&self, alerts: Vec<Outgoing>) {
        if alerts.is_empty() {
            return;
        }
        let mut names: Vec<&str> = Vec::new();
        let mut resolved = 0;
        for o in &alerts {
            let name = labels::get(&o.alert.labels, "alertname").unwrap_or("");
            let status = if o.alert.resolved {
                "resolved"
            } else {
                "firing"
            };
            resolved += usize::from(o.alert.resolved);
            tracing::debug!(
                alertname = name,
                status,
                labels = %labels::fmt_labels(&o.alert.labels),
                "alert"
            );
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let more = names.len().saturating_sub(5);
        names.truncate(5);
        let mut shown = names.join(",");
        if more > 0 {
            shown.push_str(&format!(" and {more} more"));
        }
        tracing::info!(
            alerts = alerts.len(),
            firing = alerts.len() - resolved,
            resolved,
            alertnames = %shown,
            "alerts sent"
        );
    }
}

/// Counters and last-evaluation facts of one group, for self-metrics and the API.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub last_eval_ms: Option<i64>,
    pub last_duration: Duration,
    pub iterations: u64,
    pub missed: u64,
    pub evaluations: u64,
    pub failures: u64,
    pub duration_sum: Duration,
    pub last_samples: usize,
}

#[derive(Debug)]
pub struct GroupState {
    pub rules: Vec<RuleState>,
    pub stats: Stats,
}

/// One rule group as loaded, with its mutable state.
pub struct Group {
    pub file: String,
    pub spec: file::Group,
    pub interval: Duration,
    /// Where a datasource group's expressions are evaluated.
    pub datasource: Option<Arc<Datasource>>,
    state: Mutex<GroupState>,
}

impl Group {
    /// Prometheus' `GroupKey`: `file;name`, the `rule_group` label of the self-metrics.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.spec.name)
    }

    pub fn state(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The query time of the evaluation at `ts`: `ts - query_offset`.
    pub fn query_time(&self, ts: i64) -> i64 {
        ts - self.spec.query_offset.map_or(0, |d| d.as_millis() as i64)
    }

    fn source(&self, rule: usize) -> String {
        format!("{SOURCE_PREFIX}{};{rule}", self.key())
    }
}

/// What the group tasks share.
pub(super) struct Shared {
    pub store: Arc<Store>,
    pub sink: Arc<dyn Sink>,
    pub opts: Options,
    /// Set by an evaluation, cleared by the state-file writer.
    pub dirty: AtomicBool,
    /// Failed writes of the state file, and whether the last one failed (one log line a streak).
    pub state_write_failures: AtomicU64,
    pub state_write_failing: AtomicBool,
}

pub struct Engine {
    pub groups: Vec<Arc<Group>>,
    pub(super) shared: Arc<Shared>,
    pub(super) tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Engine {
    /// Builds the groups of `files` (label and annotation templates parsed here); nothing runs
    /// until [`Engine::start`].
    pub fn new(
        files: Vec<RuleFile>,
        opts: Options,
        store: Arc<Store>,
        sink: Arc<dyn Sink>,
        default_ds: Option<&DatasourceConfig>,
    ) -> Result<Engine, String> {
        let mut groups = Vec::new();
        for f in files {
            for g in f.groups {
                let remote = g.rules.iter().any(|r| r.expr.is_remote());
                let datasource = match g.datasource.as_ref().or(default_ds) {
                    Some(cfg) if remote => Some(Arc::new(Datasource::new(cfg)?)),
                    _ => None,
                };
                let rules = g
                    .rules
                    .iter()
                    .map(|r| {
                        RuleState::new(r, g.limit, &opts.env).map_err(|e| {
                            format!("{}: group {:?}, rule {:?}: {e}", f.path, g.name, r.name)
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                groups.push(Arc::new(Group {
                    file: f.path.clone(),
                    interval: g.interval.unwrap_or(opts.default_interval),
                    datasource,
                    spec: g,
                    state: Mutex::new(GroupState {
                        rules,
                        stats: Stats::default(),
                    }),
                }));
            }
        }
        Ok(Engine {
            groups,
            shared: Arc::new(Shared {
                store,
                sink,
                opts,
                dirty: AtomicBool::new(false),
                state_write_failures: AtomicU64::new(0),
                state_write_failing: AtomicBool::new(false),
            }),
            tasks: Mutex::new(Vec::new()),
        })
    }

    pub fn options(&self) -> &Options {
        &self.shared.opts
    }

    pub fn store_sources(&self) -> Vec<String> {
        self.groups
            .iter()
            .flat_map(|g| (0..g.spec.rules.len()).map(|i| g.source(i)))
            .collect()
    }

    /// Takes over the state of `old` (a reload): a rule keeps its alerts and health when its
    /// group (file and name) and its kind, name and labels are unchanged; its new `for`,
    /// annotations and expression apply from the next evaluation. The store sources of rules
    /// that are gone are removed, so their series go stale.
    pub fn adopt(&self, old: &Engine, now_ms: i64) {
        old.stop();
        let failures = old.shared.state_write_failures.load(Ordering::Relaxed);
        self.shared
            .state_write_failures
            .store(failures, Ordering::Relaxed);
        for g in &self.groups {
            let Some(og) = old.groups.iter().find(|o| o.key() == g.key()) else {
                continue;
            };
            let ost = og.state();
            let mut st = g.state();
            st.stats = ost.stats.clone();
            for (i, rule) in g.spec.rules.iter().enumerate() {
                let same = og.spec.rules.iter().position(|r| {
                    r.kind == rule.kind && r.name == rule.name && r.labels == rule.labels
                });
                if let Some(j) = same {
                    carry(&ost.rules[j], &mut st.rules[i]);
                }
            }
        }
        let keep = self.store_sources();
        for s in old.store_sources() {
            if !keep.contains(&s) {
                self.shared.store.remove_source(&s, now_ms);
            }
        }
    }

    /// Evaluates every rule of `g` at `ts` (ms): queries (locally, or takes the `remote`
    /// inputs of a datasource group), advances state, writes the output into the store and
    /// delivers the alerts due. One rule's failure does not stop the others.
    pub fn eval_group(&self, g: &Group, ts: i64, remote: Option<RemoteInputs>) {
        let started = Instant::now();
        let sh = &self.shared;
        let t = g.query_time(ts);
        let mut remote = remote.map(|v| v.into_iter());
        let (mut samples, mut failures) = (0usize, 0u64);
        let mut due = Vec::new();
        for (i, rule) in g.spec.rules.iter().enumerate() {
            let rule_started = Instant::now();
            let fetched = remote.as_mut().and_then(|r| r.next());
            // A kind rule evaluates locally, with its state (so under the group's lock).
            let plain = (!rule.expr.is_kind())
                .then(|| fetched.unwrap_or_else(|| local_inputs(rule, t, &*sh.store)));
            let out = {
                let mut st = g.state();
                let rs = &mut st.rules[i];
                let limit = g.spec.limit;
                let out = match plain {
                    Some((input, resolve)) => {
                        eval_rule(rule, rs, input, resolve.as_ref(), t, limit)
                    }
                    None => kinds::eval(rule, rs, t, &*sh.store, limit),
                };
                rs.last_duration = rule_started.elapsed();
                if let (Some(a), true) = (rs.alert.as_mut(), out.write) {
                    let notes = a.due_notifications(
                        ts,
                        sh.opts.resend_delay.as_millis() as i64,
                        g.interval.as_millis() as i64,
                    );
                    if !notes.is_empty() {
                        let url = super::alert::output::generator_url(
                            &sh.opts.env.external_url,
                            &rule.expr_text,
                        );
                        due.extend(notes.into_iter().map(|alert| Outgoing {
                            alert,
                            generator_url: url.clone(),
                        }));
                    }
                }
                out
            };
            if let Some(e) = &out.error {
                failures += 1;
                tracing::warn!(group = %g.spec.name, rule = %rule.name, err = %e, "rule evaluation failed");
            }
            if out.write {
                samples += out.samples.len();
                sh.store.ingest(
                    &g.source(i),
                    families(rule.kind.clone(), &rule.name, out.samples),
                    t,
                );
            }
        }
        if !due.is_empty() {
            sh.sink.deliver(due);
        }
        let mut st = g.state();
        let s = &mut st.stats;
        s.last_eval_ms = Some(ts);
        s.last_duration = started.elapsed();
        s.duration_sum += s.last_duration;
        s.iterations += 1;
        s.evaluations += g.spec.rules.len() as u64;
        s.failures += failures;
        s.last_samples = samples;
        sh.dirty.store(true, Ordering::Relaxed);
    }
}

/// Moves what a reload keeps from an old rule's state into the new one.
fn carry(old: &RuleState, new: &mut RuleState) {
    new.health = old.health;
    new.last_error.clone_from(&old.last_error);
    new.last_eval_ms = old.last_eval_ms;
    new.last_duration = old.last_duration;
    if let (Some(o), Some(n)) = (&old.alert, &mut new.alert) {
        let spec = n.spec.clone();
        *n = AlertRule { spec, ..o.clone() };
    }
    kinds::carry(old.kind.as_deref(), new.kind.as_mut());
}

/// One rule's output as families for the store: samples grouped by `__name__`.
fn families(kind: Kind, rule: &str, samples: Vec<(Labels, f64)>) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for (mut labels, v) in samples {
        let name = labels::get(&labels, labels::NAME)
            .unwrap_or(rule)
            .to_string();
        labels::del(&mut labels, labels::NAME);
        let fam = match out.iter_mut().position(|f| f.name == name) {
            Some(i) => &mut out[i],
            None => {
                let help = match (kind.clone(), name.as_str()) {
                    (_, "ALERTS") => {
                        "Alerts of telltale's alerting rules (pending and firing).".to_string()
                    }
                    (_, "ALERTS_FOR_STATE") => {
                        "When each pending or firing alert became active, in unix seconds."
                            .to_string()
                    }
                    (_, name) => kinds::help(name)
                        .map_or_else(|| format!("Recorded by rule {rule}."), String::from),
                };
                out.push(Family::gauge(name, help));
                out.last_mut().expect("just pushed")
            }
        };
        fam.samples.push(crate::model::Sample {
            labels,
            value: v,
            timestamp_ms: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_are_logged_per_batch_at_info_and_per_alert_at_debug() {
        let alerts: Vec<Outgoing> = (0..200)
            .map(|i| Outgoing {
                alert: Notification {
                    labels: vec![
                        ("alertname".into(), format!("A{}", i % 7)),
                        ("instance".into(), format!("h{i}")),
                    ],
                    annotations: Vec::new(),
                    starts_at_ms: 0,
                    ends_at_ms: 1,
                    resolved: i % 4 == 0,
                },
                generator_url: String::new(),
            })
            .collect();
        let ((), log) = crate::logging::capture(|| LogSink.deliver(alerts));
        let info: Vec<&str> = log.lines().filter(|l| l.contains("level=info")).collect();
        assert_eq!(info.len(), 1, "{log}");
        assert!(
            info[0].contains("alerts=200 firing=150 resolved=50")
                && info[0].contains("alertnames=\"A0,A1,A2,A3,A4 and 2 more\""),
            "{}",
            info[0]
        );
        assert_eq!(log.matches("level=debug msg=alert ").count(), 200);
    }
}
