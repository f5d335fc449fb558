//! The running state: the validated config and what was built from it, swapped whole on reload so
//! a bad reload keeps everything that was running.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::RunArgs;
use crate::collector::{self, Ctx};
use crate::config::{self, Config, SystemConfig};
use crate::exposition::{self, Family, Format};
use crate::rules::alert_out::RestoreOptions;
use crate::rules::engine::{self, Engine, LogSink};
use crate::rules::file::RuleFile;
use crate::rules::groupeval::Env;
use crate::rules::settings;
use crate::selfmetrics::{self, ProcessMetrics, ReloadStatus};
use crate::sources::{self, Scheduler, Source};
use crate::store::{Limits, Store};

/// Everything derived from one config.
pub struct Running {
    pub config: Config,
    pub system: Option<Arc<collector::System>>,
    pub sources: Vec<Arc<dyn Source>>,
    /// The rules engine; `None` when no rule file is configured.
    pub engine: Option<Arc<Engine>>,
    /// Polls `sources`; replaced (and so stopped) with the rest on reload.
    _scheduler: Scheduler,
}

pub struct App {
    pub args: RunArgs,
    pub store: Arc<Store>,
    running: RwLock<Arc<Running>>,
    reload: Mutex<ReloadStatus>,
    process: ProcessMetrics,
}

/// Which collectors run: the config's list (or every default one), then
/// `--collector.disable-defaults`, then each `--[no-]collector.NAME` in order.
pub fn enabled_collectors(sys: &SystemConfig, args: &RunArgs) -> Vec<String> {
    let mut on: Vec<String> = if !sys.enabled || args.disable_defaults {
        Vec::new()
    } else if let Some(list) = &sys.collectors {
        list.clone()
    } else {
        collector::ALL
            .iter()
            .filter(|s| s.default_enabled)
            .map(|s| s.name.to_string())
            .collect()
    };
    for (name, enable) in &args.collector_flags {
        on.retain(|n| n != name);
        if *enable {
            on.push(name.clone());
        }
    }
    on.sort();
    on.dedup();
    on
}

pub fn limits(cfg: &Config) -> Limits {
    Limits {
        retention_ms: cfg.storage.retention.as_millis() as i64,
        max_series: cfg.storage.max_series,
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
        .unwrap_or(std::path::Path::new("."));
    let remote = config.rules.datasource.is_some();
    let mut files = settings::load_files(base, &config.rules.files, remote)?;
    files.extend(settings::load_files(
        std::path::Path::new("."),
        &args.rules,
        remote,
    )?);
    Ok(files)
}

/// The store source of the host collectors' samples.
const SYSTEM_SOURCE: &str = "system/host";

/// With rules to feed, the host collectors are also gathered every scrape interval into the
/// store (unexposed: `/metrics` gathers them live, as node_exporter does).
fn poll_host(
    sys: Arc<collector::System>,
    every: std::time::Duration,
    store: Arc<Store>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = sources::now_ms();
            let families = sys.gather(|_| true).await;
            store.ingest_unexposed(SYSTEM_SOURCE, families, now);
        }
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Builds the rules engine (not started); its alert state comes from `old` on a reload.
fn build_engine(
    args: &RunArgs,
    config: &Config,
    store: &Arc<Store>,
) -> Result<Option<Arc<Engine>>, String> {
    let files = rule_files(args, config).map_err(|e| e.join("\n"))?;
    if files.is_empty() {
        return Ok(None);
    }
    let r = &config.rules;
    let external_url = args.external_url.clone().or(r.external_url.clone());
    let external_url = external_url.unwrap_or_else(|| {
        let port = args.listen.rsplit(':').next().unwrap_or("8465");
        format!("http://{}:{port}", hostname())
    });
    let opts = engine::Options {
        default_interval: config.global.evaluation_interval,
        env: Env {
            external_labels: Arc::new(config.global.external_labels.iter().cloned().collect()),
            external_url,
        },
        resend_delay: r.resend_delay,
        restore: RestoreOptions {
            outage_tolerance_ms: r.outage_tolerance.as_millis() as i64,
            grace_period_ms: r.grace_period.as_millis() as i64,
        },
    };
    let ds = r.datasource.as_ref();
    Engine::new(files, opts, Arc::clone(store), Arc::new(LogSink), ds).map(|e| Some(Arc::new(e)))
}

fn state_file(args: &RunArgs, config: &Config) -> Option<std::path::PathBuf> {
    args.rules_state_file
        .clone()
        .or(config.rules.state_file.clone())
}

/// Starts `new`, taking over the alert state of `old` (a reload) or of the state file (a start).
fn start_engine(
    args: &RunArgs,
    config: &Config,
    store: &Store,
    new: Option<&Arc<Engine>>,
    old: Option<&Arc<Engine>>,
    sources: &[Arc<dyn Source>],
) {
    let now = sources::now_ms();
    let warmup = match old {
        Some(_) => std::time::Duration::ZERO,
        None => sources
            .iter()
            .map(|s| s.interval())
            .max()
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(60)),
    };
    let path = state_file(args, config);
    match (new, old) {
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
    if let Some(n) = new {
        n.start(path, warmup);
    }
}

/// Builds the running state for a config and starts its sources (inside the tokio runtime);
/// fails without side effects. `old` sources with unchanged config are kept; `old_engine`'s
/// alert state carries over.
pub fn build(
    args: &RunArgs,
    config: Config,
    store: &Arc<Store>,
    old: &[Arc<dyn Source>],
    old_engine: Option<&Arc<Engine>>,
) -> Result<Running, String> {
    let engine = build_engine(args, &config, store)?;
    let names = enabled_collectors(&config.system, args);
    let mut options: std::collections::HashMap<String, String> =
        config.system.options.iter().cloned().collect();
    options.extend(args.collector_options.clone());
    let ctx = Ctx {
        paths: args.paths.clone(),
        options,
    };
    let system = if names.is_empty() {
        None
    } else {
        Some(Arc::new(collector::System::new(
            &names,
            &ctx,
            config.global.scrape_timeout,
        )?))
    };
    let sources = sources::build_all(&config, old)?;
    store.set_limits(limits(&config));
    let now = sources::now_ms();
    let mut new_ids: Vec<String> = sources.iter().map(|s| sources::id(&**s)).collect();
    let poll_system = engine.is_some() && system.is_some();
    if poll_system {
        new_ids.push(SYSTEM_SOURCE.to_string());
    }
    for gone in store
        .sources()
        .into_iter()
        .filter(|id| !new_ids.contains(id) && !id.starts_with(engine::SOURCE_PREFIX))
    {
        store.remove_source(&gone, now);
    }
    let mut scheduler = Scheduler::start(&sources, Arc::clone(store));
    if let (Some(sys), true) = (&system, poll_system) {
        scheduler.add(poll_host(
            Arc::clone(sys),
            config.global.scrape_interval,
            Arc::clone(store),
        ));
    }
    start_engine(args, &config, store, engine.as_ref(), old_engine, &sources);
    Ok(Running {
        config,
        system,
        sources,
        engine,
        _scheduler: scheduler,
    })
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl App {
    pub fn new(args: RunArgs, store: Arc<Store>, running: Running) -> Self {
        App {
            args,
            store,
            running: RwLock::new(Arc::new(running)),
            reload: Mutex::new(ReloadStatus {
                ok: true,
                last_success_unix: now_unix(),
                reloads: 0,
                failures: 0,
            }),
            process: ProcessMetrics::new(),
        }
    }

    pub fn current(&self) -> Arc<Running> {
        Arc::clone(&self.running.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads the config; on any problem the running state is kept and the failure recorded.
    pub fn reload(&self) -> Result<(), String> {
        let result = config::load(self.args.config.as_deref())
            .map_err(|ds| {
                ds.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .and_then(|cfg| {
                let cur = self.current();
                build(
                    &self.args,
                    cfg,
                    &self.store,
                    &cur.sources,
                    cur.engine.as_ref(),
                )
            });
        let mut st = self.reload.lock().unwrap_or_else(|e| e.into_inner());
        st.reloads += 1;
        match result {
            Ok(running) => {
                *self.running.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(running);
                st.ok = true;
                st.last_success_unix = now_unix();
                tracing::info!("configuration reloaded");
                Ok(())
            }
            Err(e) => {
                st.ok = false;
                st.failures += 1;
                tracing::error!(err = %e, "reload failed; keeping the running configuration");
                Err(e)
            }
        }
    }

    /// Stops the rules engine and writes its state file (on shutdown).
    pub fn shutdown(&self) {
        let running = self.current();
        if let (Some(e), Some(p)) = (&running.engine, state_file(&self.args, &running.config)) {
            e.stop();
            match e.save_state(&p, sources::now_ms()) {
                Ok(()) => tracing::info!(path = %p.display(), "alert state saved"),
                Err(err) => tracing::error!(path = %p.display(), %err, "cannot save alert state"),
            }
        }
    }

    /// One scrape: the enabled collectors (filtered by `keep`) plus telltale's own metrics.
    pub async fn scrape(&self, keep: impl Fn(&str) -> bool, format: Format) -> String {
        // The reload outcome is read before the running state: a reload swaps the state first,
        // so a scrape never reports a reload whose configuration it did not use.
        let reload = *self.reload.lock().unwrap_or_else(|e| e.into_inner());
        let running = self.current();
        let mut families: Vec<Family> = match &running.system {
            Some(sys) => sys.gather(keep).await,
            None => Vec::new(),
        };
        families.extend(self.store.latest_families());
        if !self.args.disable_exporter_metrics {
            families.extend(self.store.families());
            if let Some(e) = &running.engine {
                families.extend(e.families());
            }
            self.process.collect(&mut families);
            families.push(selfmetrics::build_info());
            reload.families(&mut families);
        }
        exposition::encode(&exposition::normalize(families), format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli;

    fn run_args(extra: &[&str]) -> RunArgs {
        let argv = std::iter::once("telltale")
            .chain(extra.iter().copied())
            .map(String::from);
        match cli::parse(argv).unwrap() {
            cli::Cmd::Run(r) => *r,
            _ => panic!("expected run"),
        }
    }

    #[test]
    fn flags_adjust_the_configured_set() {
        let sys = SystemConfig {
            enabled: true,
            collectors: Some(vec!["a".into(), "b".into()]),
            options: Vec::new(),
        };
        let mut args = run_args(&[]);
        assert_eq!(enabled_collectors(&sys, &args), vec!["a", "b"]);
        args.collector_flags = vec![("b".into(), false), ("c".into(), true)];
        assert_eq!(enabled_collectors(&sys, &args), vec!["a", "c"]);
        args.disable_defaults = true;
        assert_eq!(enabled_collectors(&sys, &args), vec!["c"]);
        let off = SystemConfig {
            enabled: false,
            ..sys
        };
        args.collector_flags.clear();
        args.disable_defaults = false;
        assert!(enabled_collectors(&off, &args).is_empty());
    }

    #[tokio::test]
    async fn a_bad_reload_keeps_the_running_config() {
        let dir = std::env::temp_dir().join(format!("telltale-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yml");
        std::fs::write(
            &file,
            "global: {scrape_interval: 7s}\nsystem: {enabled: false}\n",
        )
        .unwrap();
        let mut args = run_args(&[]);
        args.config = Some(file.clone());
        let cfg = config::load(Some(&file)).unwrap();
        let store = Arc::new(Store::new(limits(&cfg)));
        let running = build(&run_args(&[]), cfg, &store, &[], None).unwrap();
        let app = App::new(args, store, running);
        std::fs::write(&file, "global: {scrape_interval: nope}\n").unwrap();
        assert!(app.reload().is_err());
        assert_eq!(app.current().config.global.scrape_interval.as_secs(), 7);
        assert!(!app.reload.lock().unwrap().ok);
        std::fs::write(
            &file,
            "global: {scrape_interval: 9s}\nsystem: {enabled: false}\n",
        )
        .unwrap();
        app.reload().unwrap();
        assert_eq!(app.current().config.global.scrape_interval.as_secs(), 9);
        assert!(app.reload.lock().unwrap().ok);
    }
}
