//! `telltale notify-driver --config FILE [--state FILE]` (hidden): a dispatcher built from the
//! config's `alerting:` section, driven through stdin, so the integration tests exercise real
//! delivery before the rules engine feeds it. One JSON command per line, one answer line each:
//!
//! - `{"submit": [OutAlert, ...]}` → `{"ok":true}` (OutAlert as serialised by serde: labels
//!   and annotations as objects, times in unix milliseconds);
//! - `{"flush_ms": N}` → `{"flushed":bool}`;
//! - `{"pending": true}` → `{"pending":N}`;
//! - `{"metrics": true}` → the self-metrics in the text format, then a line `# END`;
//! - `{"save": "PATH"}` / `{"load": "PATH"}` → `{"ok":true}` or `{"error":"..."}`.
//!
//! At start the state file (if any) is loaded; at the end of input the queues are flushed for
//! up to 5 s and the state file written.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;

use crate::notify::{Dispatcher, OutAlert};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    #[serde(default)]
    submit: Option<Vec<OutAlert>>,
    #[serde(default)]
    flush_ms: Option<u64>,
    #[serde(default)]
    pending: Option<bool>,
    #[serde(default)]
    metrics: Option<bool>,
    #[serde(default)]
    save: Option<PathBuf>,
    #[serde(default)]
    load: Option<PathBuf>,
}

fn answer(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn result(r: Result<(), String>) -> String {
    match r {
        Ok(()) => r#"{"ok":true}"#.to_string(),
        Err(e) => serde_json::json!({ "error": e }).to_string(),
    }
}

async fn handle(d: &Dispatcher, cmd: Command) {
    if let Some(alerts) = cmd.submit {
        d.submit(alerts);
        answer(r#"{"ok":true}"#);
    } else if let Some(ms) = cmd.flush_ms {
        let ok = d.flush(Duration::from_millis(ms)).await;
        answer(&format!(r#"{{"flushed":{ok}}}"#));
    } else if cmd.pending.is_some() {
        answer(&format!(r#"{{"pending":{}}}"#, d.pending()));
    } else if cmd.metrics.is_some() {
        let fams = crate::model::normalize(d.families());
        let text = crate::model::encode(&fams, crate::model::Format::Text);
        answer(&format!("{text}# END"));
    } else if let Some(p) = cmd.save {
        answer(&result(d.save(&p)));
    } else if let Some(p) = cmd.load {
        answer(&result(d.load(&p).map(|_| ())));
    } else {
        answer(r#"{"error":"empty command"}"#);
    }
}

pub fn run(config: &std::path::Path, state: Option<PathBuf>, log_level: &str) -> ExitCode {
    crate::logging::init(log_level, "logfmt");
    let cfg = match crate::app::config::load(Some(config)) {
        Ok(c) => c,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let d = match Dispatcher::from_config(&cfg.alerting, &cfg.global.external_labels) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        };
        if let Some(p) = &state {
            match d.load(p) {
                Ok(n) => tracing::info!(alerts = n, "pending notifications restored"),
                Err(e) => tracing::error!(err = %e, "cannot restore notifications"),
            }
        }
        d.start();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        answer(r#"{"ready":true}"#);
        while let Some(line) = rx.recv().await {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Command>(&line) {
                Ok(cmd) => handle(&d, cmd).await,
                Err(e) => answer(&serde_json::json!({ "error": e.to_string() }).to_string()),
            }
        }
        let flushed = d.flush(Duration::from_secs(5)).await;
        d.stop();
        if let Some(p) = &state {
            if let Err(e) = d.save(p) {
                tracing::error!(err = %e, "cannot save notifications");
                return ExitCode::from(1);
            }
        }
        tracing::info!(flushed, "notify driver done");
        ExitCode::SUCCESS
    })
}
