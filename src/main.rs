//! telltale: a Prometheus exporter and alert-rules engine in one binary.

mod anomaly;
mod app;
mod cli;
mod collector;
mod config;
mod http_client;
mod logging;
mod model;
mod notify;
mod promql;
mod remote_write;
mod rules;
mod sources;
mod store;
mod template;
mod tools;
mod web;

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cmd = match cli::parse(std::env::args()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cmd {
        cli::Cmd::CheckConfig(file) => check_config(&file),
        cli::Cmd::CheckRules(files) => check_rules(&files),
        cli::Cmd::TestRules(files) => test_rules(&files),
        cli::Cmd::Run(args) => run(*args),
        cli::Cmd::DemoApp(listen) => tools::demo_app::run(&listen),
        cli::Cmd::NotifyDriver(config, state) => tools::notify_driver::run(&config, state, "info"),
        cli::Cmd::Score(args) => match tools::score::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("telltale score: {e}");
                ExitCode::from(1)
            }
        },
        cli::Cmd::Fuzz(o) => {
            println!("fuzz {}: seed {}", o.target, o.seed);
            tools::fuzz::run(&o)
        }
    }
}

/// `check config FILE`: every problem on its own line, exit 1 when there is any.
fn check_config(file: &std::path::Path) -> ExitCode {
    println!("Checking {}", file.display());
    match app::config::load(Some(file)) {
        Ok(cfg) => {
            let base = file.parent().unwrap_or(std::path::Path::new("."));
            match rules::file::settings::load_files(
                base,
                &cfg.rules.files,
                cfg.rules.datasource.is_some(),
            ) {
                Ok(files) => {
                    let n: usize = files.iter().map(|f| f.rule_count()).sum();
                    println!(
                        "  SUCCESS: {} is valid ({n} rules in {} rule files)",
                        file.display(),
                        files.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(errs) => {
                    for e in &errs {
                        eprintln!("{e}");
                    }
                    eprintln!("  FAILED: {} problem(s) in rule files", errs.len());
                    ExitCode::from(1)
                }
            }
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("  FAILED: {} problem(s)", diags.len());
            ExitCode::from(1)
        }
    }
}

/// `check rules FILE...`: like `promtool check rules`; exit 1 when any file has a problem.
fn check_rules(files: &[std::path::PathBuf]) -> ExitCode {
    let mut ok = true;
    for file in files {
        println!("Checking {}", file.display());
        match rules::file::load(file) {
            Ok(rf) => println!("  SUCCESS: {} rules found\n", rf.rule_count()),
            Err(diags) => {
                ok = false;
                eprintln!("  FAILED:");
                for d in &diags {
                    eprintln!("{d}");
                }
                eprintln!();
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `test rules TESTFILE...`: runs promtool's rule unit-test files; exit 1 when any test fails.
fn test_rules(files: &[std::path::PathBuf]) -> ExitCode {
    let mut ok = true;
    for file in files {
        println!("Unit Testing:  {}", file.display());
        let outcome = rules::promtool::run_file(file);
        if outcome.errors.is_empty() {
            println!("  SUCCESS\n");
        } else {
            ok = false;
            eprintln!("  FAILED:");
            for e in &outcome.errors {
                eprintln!("{e}");
            }
            eprintln!();
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run(args: app::args::RunArgs) -> ExitCode {
    logging::init(&args.log_level, &args.log_format);
    // glibc gives each thread that allocates its own arena; a few arenas keep RSS flat for a
    // server whose work is short bursts on a handful of threads.
    // SAFETY: mallopt only tunes the allocator and is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cfg = match app::config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(diags) => {
            for d in &diags {
                tracing::error!("{d}");
            }
            return ExitCode::from(1);
        }
    };
    let web = match &args.web_config {
        None => web::WebState::open(),
        Some(p) => match web::WebState::from_file(p) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(err = %e, "cannot load the web config");
                return ExitCode::from(1);
            }
        },
    };
    let web = Arc::new(web);
    let addr = match web::serve::socket_addr(&args.listen) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Collectors run on the blocking pool; a few threads bound memory under concurrent scrapes
        // (a collector stuck past its timeout holds one until it returns).
        .max_blocking_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(err = %e, "cannot start the runtime");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let store = Arc::new(store::Store::new(app::limits(&cfg)));
        let running = match app::build(&args, cfg, &store, None) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(err = %e, "cannot start");
                return ExitCode::from(1);
            }
        };
        let app = Arc::new(app::App::new(args, store, running));
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(address = %addr, err = %e, "cannot listen");
                return ExitCode::from(1);
            }
        };
        let cfg_name = app
            .args
            .config
            .as_ref()
            .map_or(app::config::EMBEDDED_NAME.to_string(), |p| p.display().to_string());
        tracing::info!(version = env!("CARGO_PKG_VERSION"), address = %addr, config = %cfg_name, "telltale listening");
        let served = web::router::serve(Arc::clone(&app), listener, web).await;
        app.shutdown().await;
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(err = %e, "server failed");
                ExitCode::from(1)
            }
        }
    })
}
