//! The alerting half of the running state: the rules engine and the dispatcher that delivers
//! its notifications. Built without side effects (a bad reload changes nothing), then started:
//! on a reload the engine adopts the old engine's alert state and the dispatcher's queues carry
//! over; on a fresh start both come from their state files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::args::RunArgs;
use super::config::Config;
use crate::model::Family;
use crate::notify::config::AlertmanagerConfig;
use crate::notify::{Dispatcher, OutAlert};
use crate::rules::alert::output::Notification;
use crate::rules::alert::output::RestoreOptions;
use crate::rules::engine::{self, Engine, LogSink, Outgoing, Sink};
use crate::rules::eval::Env;
use crate::rules::file::settings;
use crate::rules::file::RuleFile;
use crate::sources::Source;
use crate::store::Store;

/// The rules engine (none without rule files) and the dispatcher (none without notifiers).
#[derive(Default)]
pub struct Alerting {
    pub engine: Option<Arc<Engine>>,
    pub dispatcher: Option<Arc<Dispatcher>>,
}

/// The sink with notifiers configured: every notification logged and handed to the dispatcher.
struct Deliver(Arc<Dispatcher>);

impl Sink for Deliver {
    fn deliver(&self, alerts: Vec<Outgoing>) {
        let out = alerts
            .iter()
            .map(|o| out_alert(&o.alert, &o.generator_url))
            .collect();
        // Handed over first: the log line must not delay delivery.
        self.0.submit(out);
        LogSink.deliver(alerts);
    }
}

/// The notifier's form of an alert the engine sends (Prometheus' `SendAlerts` adapter): the
/// conversion lives on this side so that `notify` never imports `rules`.
fn out_alert(n: &Notification, generator_url: &str) -> OutAlert {
    OutAlert {
        labels: n.labels.clone(),
        annotations: n.annotations.clone(),
        starts_at_ms: n.starts_at_ms,
        ends_at_ms: n.ends_at_ms,
        generator_url: generator_url.to_string(),
        resolved: n.resolved,
    }
}

/// The rule files to run: the config's `rule_files` (relative to the config's directory) and
/// `--rules`; with neither and no `--config`, the shipped rules compiled in.
pub fn rule_files(args: &RunArgs, config: &Config) -> Result<Vec<RuleFile>, Vec<String>> {
    if args.config.is_none() && args.rules.is_empty() && config.rules.files.is_empty() {
        return Ok(settings::embedded());
    }
    let base = args
        .config
        .as_deref()
        .and_then(|p| p.parent())
        .unwrap_or(Path::new("."));
    let remote = config.rules.datasource.is_some();
    let mut files = settings::load_files(base, &config.rules.files, remote)?;
    files.extend(settings::load_files(Path::new("."), &args.rules, remote)?);
    Ok(files)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// `--web.external-url`, else `alerting.external_url`, else `http://<hostname>:<port>`.
pub fn external_url(args: &RunArgs, config: &Config) -> String {
    let configured = Some(config.alerting.external_url.clone()).filter(|u| !u.is_empty());
    args.external_url.clone().or(configured).unwrap_or_else(|| {
        let port = args.listen.rsplit(':').next().unwrap_or("8465");
        format!("http://{}:{port}", hostname())
    })
}

/// An Alertmanager from `--alertmanager.url`: `http(s)://host:port[/prefix]`.
fn alertmanager_flag(u: &str) -> Result<AlertmanagerConfig, String> {
    let err = || {
        format!(
            "--alertmanager.url {:?}: want http://host:port[/prefix]",
            crate::config::redact::url(u)
        )
    };
    let (scheme, rest) = u.split_once("://").ok_or_else(err)?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return Err(err());
    }
    let (host, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    Ok(AlertmanagerConfig {
        url: format!("{scheme}://{host}"),
        path_prefix: prefix.trim_end_matches('/').to_string(),
        http: Default::default(),
    })
}

/// The alert state file: `--rules.state-file` (relative to the working directory) or
/// `rules.state_file` (relative to the config file's directory, like `rule_files`).
pub fn state_file(args: &RunArgs, config: &Config) -> Option<PathBuf> {
    if let Some(p) = &args.rules_state_file {
        return Some(p.clone());
    }
    let p = config.rules.state_file.as_ref()?;
    let base = args.config.as_deref().and_then(|c| c.parent());
    Some(match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.clone(),
    })
}

#[cfg(test)]
#[test]
fn alertmanager_flags() {
    let a = alertmanager_flag("http://127.0.0.1:9093/am/").unwrap();
    assert_eq!(
        (a.url.as_str(), a.path_prefix.as_str()),
        ("http://127.0.0.1:9093", "/am")
    );
    assert_eq!(
        alertmanager_flag("https://am:9093").unwrap().path_prefix,
        ""
    );
    assert!(alertmanager_flag("am:9093").is_err());
    assert!(alertmanager_flag("ftp://am").is_err());
}

/// Pending deliveries are kept beside the alert state.
fn queue_file(state: &Path) -> PathBuf {
    state.with_extension("notifications.json")
}

impl Alerting {
    /// Builds both halves, not started. `old`'s dispatcher is reused when `alerting:` and the
    /// external labels and URL are unchanged.
    pub fn build(
        args: &RunArgs,
        config: &Config,
        store: &Arc<Store>,
        old: Option<&Alerting>,
        old_config: Option<&Config>,
    ) -> Result<Alerting, String> {
        let url = external_url(args, config);
        let mut acfg = config.alerting.clone();
        acfg.external_url.clone_from(&url);
        for u in &args.alertmanager_urls {
            acfg.alertmanagers.push(alertmanager_flag(u)?);
        }
        let same = old_config.is_some_and(|o| {
            o.alerting == config.alerting
                && o.global.external_labels == config.global.external_labels
                && external_url(args, o) == url
        });
        let dispatcher = match (old.and_then(|o| o.dispatcher.as_ref()), same) {
            (Some(d), true) => Some(Arc::clone(d)),
            _ if acfg.is_empty() => None,
            _ => Some(Arc::new(Dispatcher::from_config(
                &acfg,
                &config.global.external_labels,
            )?)),
        };
        let files = rule_files(args, config).map_err(|e| e.join("\n"))?;
        let engine = if files.is_empty() {
            None
        } else {
            let sink: Arc<dyn Sink> = match &dispatcher {
                Some(d) => Arc::new(Deliver(Arc::clone(d))),
                None => Arc::new(LogSink),
            };
            let r = &config.rules;
            let opts = engine::Options {
                default_interval: config.global.evaluation_interval,
                env: Env {
                    external_labels: Arc::new(
                        config.global.external_labels.iter().cloned().collect(),
                    ),
                    external_url: url,
                },
                resend_delay: config.alerting.resend_delay,
                restore: RestoreOptions {
                    outage_tolerance_ms: r.outage_tolerance.as_millis() as i64,
                    grace_period_ms: r.grace_period.as_millis() as i64,
                },
            };
            let ds = r.datasource.as_ref();
            Some(Arc::new(Engine::new(
                files,
                opts,
                Arc::clone(store),
                sink,
                ds,
            )?))
        };
        Ok(Alerting { engine, dispatcher })
    }

    /// Starts what `build` made, taking over `old`'s state (a reload) or the state files (a
    /// start). On a fresh start the first evaluations wait until every source was polled once.
    pub fn start(
        &self,
        args: &RunArgs,
        config: &Config,
        store: &Store,
        old: Option<&Alerting>,
        sources: &[Arc<dyn Source>],
    ) {
        let now = crate::model::time::now_ms();
        let path = state_file(args, config);
        self.start_dispatcher(path.as_deref(), old);
        let old_engine = old.and_then(|o| o.engine.as_ref());
        let warmup = match old_engine {
            Some(_) => Duration::ZERO,
            None => sources
                .iter()
                .map(|s| s.interval())
                .max()
                .unwrap_or_default()
                .min(Duration::from_secs(60)),
        };
        match (&self.engine, old_engine) {
            (Some(n), Some(o)) => n.adopt(o, now),
            (Some(n), None) => {
                if let Some(p) = &path {
                    let k = n.restore_state(p, now);
                    tracing::info!(alerts = k, path = %p.display(), "alert state restored");
                }
            }
            (None, Some(o)) => {
                o.stop();
                for s in o.store_sources() {
                    store.remove_source(&s, now);
                }
            }
            (None, None) => {}
        }
        if let Some(n) = &self.engine {
            n.start(path, warmup);
        }
    }

    fn start_dispatcher(&self, state: Option<&Path>, old: Option<&Alerting>) {
        let old_d = old.and_then(|o| o.dispatcher.as_ref());
        let Some(d) = &self.dispatcher else {
            if let Some(o) = old_d {
                o.stop();
            }
            return;
        };
        if old_d.is_some_and(|o| Arc::ptr_eq(o, d)) {
            return;
        }
        // Queued deliveries move to the new dispatcher through a file, as across a restart.
        let carried = match old_d {
            Some(o) => {
                o.stop();
                let tmp = std::env::temp_dir()
                    .join(format!("telltale-{}-reload-queue.json", std::process::id()));
                let moved = o.save(&tmp).and_then(|()| d.load(&tmp));
                let _ = std::fs::remove_file(&tmp);
                moved
            }
            None => state.map_or(Ok(0), |p| d.load(&queue_file(p))),
        };
        match carried {
            Ok(n) if n > 0 => tracing::info!(alerts = n, "pending notifications restored"),
            Ok(_) => {}
            Err(e) => tracing::error!(err = %e, "cannot restore pending notifications"),
        }
        d.start();
    }

    /// On shutdown: the engine stops and saves its state; the dispatcher flushes (up to 5 s)
    /// and saves what it could not deliver.
    pub async fn shutdown(&self, args: &RunArgs, config: &Config) {
        let path = state_file(args, config);
        if let Some(e) = &self.engine {
            e.stop();
            if let Some(p) = &path {
                match e.save_state(p, crate::model::time::now_ms()) {
                    Ok(()) => tracing::info!(path = %p.display(), "alert state saved"),
                    Err(err) => {
                        tracing::error!(path = %p.display(), %err, "cannot save alert state")
                    }
                }
            }
        }
        if let Some(d) = &self.dispatcher {
            if !d.flush(Duration::from_secs(5)).await {
                tracing::warn!(
                    pending = d.pending(),
                    "notifications still queued at shutdown"
                );
            }
            d.stop();
            if let Some(p) = &path {
                if let Err(err) = d.save(&queue_file(p)) {
                    tracing::error!(%err, "cannot save pending notifications");
                }
            }
        }
    }

    pub fn families(&self, out: &mut Vec<Family>) {
        if let Some(e) = &self.engine {
            out.extend(e.families());
        }
        if let Some(d) = &self.dispatcher {
            out.extend(d.families());
        }
    }
}
