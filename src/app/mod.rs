//! The running state: the validated config and what was built from it, swapped whole on reload so
//! a bad reload keeps everything that was running.

pub mod alerting;
pub mod args;
pub mod config;
pub mod selfmetrics;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::app::alerting::Alerting;
use crate::app::args::RunArgs;
use crate::app::config::{Config, SystemConfig};
use crate::app::selfmetrics::{ProcessMetrics, ReloadStatus};
use crate::collector::{self, Ctx};
use crate::model;
use crate::model::{Family, Format};
use crate::remote_write::RemoteWrite;
use crate::rules::engine;
use crate::sources::push;
use crate::sources::sink::Sink;
use crate::sources::{self, Scheduler, Source};
use crate::store::{self, Limits, Store};

/// Everything derived from one config.
pub struct Running {
    pub config: Config,
    pub system: Option<Arc<collector::System>>,
    pub sources: Vec<Arc<dyn Source>>,
    /// The rules engine and the notifiers.
    pub alerting: Alerting,
    /// The remote_write receivers, fed by the store's tap.
    pub remote_write: RemoteWrite,
    /// Polls `sources`; replaced (and so stopped) with the rest on reload.
    _scheduler: Scheduler,
}

pub struct App {
    pub args: RunArgs,
    pub store: Arc<Store>,
    /// Push groups: the app's, not one configuration's, so a reload keeps them.
    pub push: Arc<push::Registry>,
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
        max_samples: cfg.storage.max_samples,
    }
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
            let now = crate::model::time::now_ms();
            let families = sys.gather(|_| true).await;
            let failed = families
                .iter()
                .filter(|f| f.name == "node_scrape_collector_success")
                .flat_map(|f| f.samples.iter())
                .any(|s| s.value == 0.0);
            store.ingest_unexposed(SYSTEM_SOURCE, families, now, failed);
        }
    })
}

/// Builds the running state for a config and starts its sources (inside the tokio runtime);
/// fails without side effects. With `old` (a reload), unchanged sources are kept and alert
/// state and queued notifications carry over.
pub fn build(
    args: &RunArgs,
    config: Config,
    store: &Arc<Store>,
    old: Option<&Running>,
) -> Result<Running, String> {
    let alerting = Alerting::build(
        args,
        &config,
        store,
        old.map(|o| &o.alerting),
        old.map(|o| &o.config),
    )?;
    let remote_write = RemoteWrite::build(
        &config.remote_write,
        &config.global.external_labels,
        old.map(|o| &o.remote_write),
    )?;
    let old_sources = old.map_or(&[][..], |o| &o.sources[..]);
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
    let sources = config.sources.build_all(old_sources)?;
    store.set_limits(limits(&config));
    let now = crate::model::time::now_ms();
    let mut new_ids: Vec<String> = sources.iter().map(|s| sources::id(&**s)).collect();
    let poll_system = alerting.engine.is_some() && system.is_some();
    if poll_system {
        new_ids.push(SYSTEM_SOURCE.to_string());
    }
    for gone in store.sources().into_iter().filter(|id| {
        !new_ids.contains(id)
            && !id.starts_with(engine::SOURCE_PREFIX)
            && !id.starts_with(push::SOURCE_PREFIX)
    }) {
        store.remove_source(&gone, now);
    }
    let mut scheduler = Scheduler::start(&sources, Arc::clone(store) as Arc<dyn Sink>);
    scheduler.add(store::spawn_compactor(Arc::clone(store)));
    if let (Some(sys), true) = (&system, poll_system) {
        scheduler.add(poll_host(
            Arc::clone(sys),
            config.global.scrape_interval,
            Arc::clone(store),
        ));
    }
    alerting.start(args, &config, store, old.map(|o| &o.alerting), &sources);
    store.set_tap(remote_write.start());
    Ok(Running {
        config,
        system,
        sources,
        alerting,
        remote_write,
        _scheduler: scheduler,
    })
}

fn configure_push(reg: &push::Registry, cfg: &Config) {
    reg.configure(
        cfg.push.clone(),
        cfg.global.scrape_interval,
        crate::model::time::now_ms(),
    );
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl App {
    pub fn new(args: RunArgs, store: Arc<Store>, running: Running) -> Self {
        let push = Arc::new(push::Registry::new(Arc::clone(&store) as Arc<dyn Sink>));
        configure_push(&push, &running.config);
        let ticker = Arc::clone(&push);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ticker.refresh_interval()).await;
                ticker.tick(crate::model::time::now_ms());
            }
        });
        App {
            args,
            store,
            push,
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
        let result = config::load_for_reload(self.args.config.as_deref())
            .map_err(|ds| {
                ds.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .and_then(|cfg| {
                let cur = self.current();
                build(&self.args, cfg, &self.store, Some(&cur))
            });
        let mut st = self.reload.lock().unwrap_or_else(|e| e.into_inner());
        st.reloads += 1;
        match result {
            Ok(running) => {
                configure_push(&self.push, &running.config);
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

    /// On shutdown: the engine's state saved, the notifiers flushed and their queues saved.
    pub async fn shutdown(&self) {
        let running = self.current();
        running.alerting.shutdown(&self.args, &running.config).await;
        running
            .remote_write
            .flush(std::time::Duration::from_secs(5))
            .await;
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
            running.alerting.families(&mut families);
            running.remote_write.families(&mut families);
            self.push.families(&mut families);
            self.process.collect(&mut families);
            families.push(selfmetrics::build_info());
            reload.families(&mut families);
        }
        model::encode(&model::normalize(families), format)
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
        let running = build(&run_args(&[]), cfg, &store, None).unwrap();
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
        // A truncated write (nothing, or only whitespace) is refused and says so.
        for (text, why) in [("", "empty"), (" \n\t\n", "only whitespace")] {
            std::fs::write(&file, text).unwrap();
            let e = app.reload().unwrap_err();
            assert!(e.contains(why), "{e}");
            assert_eq!(app.current().config.global.scrape_interval.as_secs(), 9);
            assert!(!app.reload.lock().unwrap().ok);
            // At start-up the same file is a valid config of defaults.
            assert!(config::load(Some(&file)).is_ok());
        }
    }
}
