//! The command line: `run` (the default), `check config`, `check rules`, `test rules`, with Prometheus exporters' flag names.
//! Collector flags (`--collector.NAME`, `--no-collector.NAME`, `--collector.NAME.OPTION`) are
//! generated from the collector registry, as node_exporter does.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::app::args::RunArgs;
use crate::collector::{self, Paths};
use crate::tools::score::ScoreArgs;

pub const DEFAULT_LISTEN: &str = ":8465";

pub enum Cmd {
    Run(Box<RunArgs>),
    CheckConfig(PathBuf),
    /// `check rules FILE...`, like `promtool check rules`.
    CheckRules(Vec<PathBuf>),
    /// `test rules FILE...`, like `promtool test rules`.
    TestRules(Vec<PathBuf>),
    /// `demo-app --listen ADDR`: the hyphenmon-style demo application.
    DemoApp(String),
    /// `notify-driver --config FILE [--state FILE]` (hidden): a dispatcher driven over stdin.
    NotifyDriver(PathBuf, Option<PathBuf>),
    /// `fuzz --target NAME [--seconds N] [--corpus DIR] [--crashes DIR] [--seed N]` (hidden).
    Fuzz(crate::tools::fuzz::Options),
    /// `score`: run an anomaly detector over a CSV.
    Score(ScoreArgs),
}

fn is_bool(opt: &collector::Opt) -> bool {
    matches!(opt.default, "true" | "false")
}

fn run_args(cmd: Command) -> Command {
    let mut cmd = cmd
        .arg(
            Arg::new("config")
                .long("config")
                .alias("config.file")
                .value_name("FILE")
                .help("Configuration file (default: the embedded default)"),
        )
        .arg(
            Arg::new("web.listen-address")
                .long("web.listen-address")
                .value_name("ADDR")
                .default_value(DEFAULT_LISTEN)
                .help("Address to listen on for the web interface and telemetry"),
        )
        .arg(
            Arg::new("web.telemetry-path")
                .long("web.telemetry-path")
                .value_name("PATH")
                .default_value("/metrics")
                .help("Path under which to expose metrics"),
        )
        .arg(
            Arg::new("rules")
                .long("rules")
                .value_name("GLOB")
                .action(ArgAction::Append)
                .help("Rule files to load (path or glob; repeatable), besides the config's rule_files"),
        )
        .arg(
            Arg::new("rules.state-file")
                .long("rules.state-file")
                .value_name("FILE")
                .help("Keep alert state in FILE across restarts (default: the config's rules.state_file)"),
        )
        .arg(
            Arg::new("alertmanager.url")
                .long("alertmanager.url")
                .value_name("URL")
                .action(ArgAction::Append)
                .help("Send alerts to this Alertmanager too (repeatable; e.g. http://127.0.0.1:9093)"),
        )
        .arg(
            Arg::new("web.config.file")
                .long("web.config.file")
                .value_name("FILE")
                .help("Web config (TLS, basic auth) in exporter-toolkit's format; re-read when it changes"),
        )
        .arg(
            Arg::new("web.external-url")
                .long("web.external-url")
                .value_name("URL")
                .help("The URL under which telltale is reached, for alerts' links"),
        )
        .arg(
            Arg::new("web.disable-exporter-metrics")
                .long("web.disable-exporter-metrics")
                .action(ArgAction::SetTrue)
                .help("Exclude telltale's own metrics (process_*, telltale_*)"),
        )
        .arg(
            Arg::new("path.procfs")
                .long("path.procfs")
                .default_value("/proc")
                .help("procfs mountpoint"),
        )
        .arg(
            Arg::new("path.sysfs")
                .long("path.sysfs")
                .default_value("/sys")
                .help("sysfs mountpoint"),
        )
        .arg(
            Arg::new("path.rootfs")
                .long("path.rootfs")
                .default_value("/")
                .help("rootfs mountpoint"),
        )
        .arg(
            Arg::new("path.udev.data")
                .long("path.udev.data")
                .default_value("/run/udev/data")
                .help("udev data path"),
        )
        .arg(
            Arg::new("collector.disable-defaults")
                .long("collector.disable-defaults")
                .action(ArgAction::SetTrue)
                .help("Disable all collectors not named on the command line"),
        )
        .arg(
            Arg::new("log.level")
                .long("log.level")
                .default_value("info")
                .value_parser(["debug", "info", "warn", "error"])
                .help("Only log messages at or above this level"),
        )
        .arg(
            Arg::new("log.format")
                .long("log.format")
                .default_value("logfmt")
                .value_parser(["logfmt", "json"])
                .help("Output format of log messages"),
        );
    for spec in collector::ALL {
        let state = if spec.default_enabled {
            "enabled"
        } else {
            "disabled"
        };
        cmd = cmd
            .arg(
                Arg::new(format!("collector.{}", spec.name))
                    .long(format!("collector.{}", spec.name))
                    .action(ArgAction::SetTrue)
                    .help(format!(
                        "Enable the {} collector (default: {state})",
                        spec.name
                    )),
            )
            .arg(
                Arg::new(format!("no-collector.{}", spec.name))
                    .long(format!("no-collector.{}", spec.name))
                    .action(ArgAction::SetTrue)
                    .hide(true),
            );
        for opt in spec.options {
            let id = format!("collector.{}.{}", spec.name, opt.key);
            // Boolean options are flags with a `--no-` form, as in node_exporter (kingpin).
            if is_bool(opt) {
                cmd = cmd
                    .arg(
                        Arg::new(id.clone())
                            .long(id.clone())
                            .action(ArgAction::SetTrue)
                            .help(format!("{} (default: {})", opt.help, opt.default)),
                    )
                    .arg(
                        Arg::new(format!("no-{id}"))
                            .long(format!("no-{id}"))
                            .action(ArgAction::SetTrue)
                            .hide(true),
                    );
                continue;
            }
            cmd = cmd.arg(
                Arg::new(id.clone())
                    .long(id)
                    .value_name("VALUE")
                    .help(format!("{} (default: {:?})", opt.help, opt.default)),
            );
        }
    }
    cmd
}

pub fn command() -> Command {
    let check = Command::new("check")
        .about("Validate files")
        .subcommand_required(true)
        .subcommand(
            Command::new("config")
                .about("Validate a configuration file; exit 0 if valid, 1 if not")
                .arg(Arg::new("file").required(true).value_name("FILE")),
        )
        .subcommand(
            Command::new("rules")
                .about("Validate Prometheus rule files; exit 0 if all are valid, 1 if not")
                .arg(files_arg()),
        );
    let test = Command::new("test")
        .about("Run unit tests")
        .subcommand_required(true)
        .subcommand(
            Command::new("rules")
                .about("Run `promtool test rules` files; exit 0 if all pass, 1 if not")
                .arg(files_arg()),
        );
    run_args(Command::new("telltale"))
        .version(env!("CARGO_PKG_VERSION"))
        .about("Prometheus exporter and alert-rules engine")
        .args_conflicts_with_subcommands(true)
        .subcommand(run_args(
            Command::new("run").about("Serve /metrics (the default command)"),
        ))
        .subcommand(check)
        .subcommand(test)
        .subcommand(score_command())
        .subcommand(
            Command::new("demo-app")
                .about(
                    "Serve a hyphenmon-style JSON app with switchable faults (for demos and tests)",
                )
                .arg(
                    Arg::new("listen")
                        .long("listen")
                        .value_name("ADDR")
                        .default_value(crate::tools::demo_app::DEFAULT_LISTEN)
                        .help("Address to listen on"),
                ),
        )
        .subcommand(
            Command::new("notify-driver")
                .hide(true)
                .about("Deliver alerts read as JSON lines from stdin (for tests)")
                .arg(Arg::new("config").long("config").required(true))
                .arg(Arg::new("state").long("state")),
        )
        .subcommand(
            Command::new("fuzz")
                .hide(true)
                .about("Fuzz one decoder for a while (see scripts/fuzz.sh)")
                .arg(Arg::new("target").long("target").required(true))
                .arg(Arg::new("seconds").long("seconds").default_value("10"))
                .arg(Arg::new("corpus").long("corpus"))
                .arg(
                    Arg::new("crashes")
                        .long("crashes")
                        .default_value("fuzz/crashes"),
                )
                .arg(Arg::new("seed").long("seed")),
        )
}

fn score_command() -> Command {
    Command::new("score")
        .about("Run an anomaly detector over a timestamp,value CSV; write timestamp,value,anomaly_score")
        .arg(
            Arg::new("detector")
                .long("detector")
                .value_name("NAME")
                .help("Detector (default: the ensemble; --list shows them all)"),
        )
        .arg(
            Arg::new("param")
                .long("param")
                .value_name("KEY=VALUE")
                .action(ArgAction::Append)
                .help("Detector parameter (repeatable)"),
        )
        .arg(
            Arg::new("input")
                .long("input")
                .value_name("IN.csv")
                .required_unless_present("list")
                .help("Input CSV (timestamp,value; - for stdin)"),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .value_name("OUT.csv")
                .required_unless_present("list")
                .help("Output CSV (- for stdout)"),
        )
        .arg(
            Arg::new("state")
                .long("state")
                .value_name("FILE")
                .help("Resume the detector from FILE if it exists, and save it there afterwards"),
        )
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("List the detectors and their parameters"),
        )
        .arg(
            Arg::new("strict-time")
                .long("strict-time")
                .action(ArgAction::SetTrue)
                .help("Refuse the file if a timestamp is earlier than the row before it"),
        )
}

fn score_from(m: &ArgMatches) -> ScoreArgs {
    ScoreArgs {
        detector: m.get_one::<String>("detector").cloned(),
        params: m
            .get_many::<String>("param")
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        input: m.get_one::<String>("input").map(PathBuf::from),
        output: m.get_one::<String>("output").map(PathBuf::from),
        state: m.get_one::<String>("state").map(PathBuf::from),
        list: m.get_flag("list"),
        strict_time: m.get_flag("strict-time"),
    }
}

fn files_arg() -> Arg {
    Arg::new("files")
        .required(true)
        .num_args(1..)
        .value_name("FILE")
}

fn files_of(m: &ArgMatches) -> Vec<PathBuf> {
    m.get_many::<String>("files")
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .collect()
}

/// Parses the process arguments.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Cmd, clap::Error> {
    let m = command().try_get_matches_from(args)?;
    Ok(match m.subcommand() {
        Some(("check", c)) => match c.subcommand() {
            Some(("config", cc)) => {
                Cmd::CheckConfig(PathBuf::from(cc.get_one::<String>("file").unwrap()))
            }
            Some(("rules", r)) => Cmd::CheckRules(files_of(r)),
            _ => unreachable!("clap requires a check subcommand"),
        },
        Some(("test", t)) => match t.subcommand() {
            Some(("rules", r)) => Cmd::TestRules(files_of(r)),
            _ => unreachable!("clap requires a test subcommand"),
        },
        Some(("run", r)) => Cmd::Run(Box::new(run_from(r))),
        Some(("notify-driver", n)) => Cmd::NotifyDriver(
            PathBuf::from(n.get_one::<String>("config").unwrap()),
            n.get_one::<String>("state").map(PathBuf::from),
        ),
        Some(("score", sc)) => Cmd::Score(score_from(sc)),
        Some(("fuzz", f)) => {
            let s = |id: &str| f.get_one::<String>(id).cloned();
            let num = |id: &str| -> Result<Option<u64>, clap::Error> {
                s(id).map(|v| v.parse::<u64>()).transpose().map_err(|e| {
                    clap::Error::raw(
                        clap::error::ErrorKind::InvalidValue,
                        format!("--{id}: {e}\n"),
                    )
                })
            };
            // Without --seed: from the clock, printed so that a run can be repeated.
            let seed = num("seed")?.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
            Cmd::Fuzz(crate::tools::fuzz::Options {
                target: s("target").unwrap_or_default(),
                seconds: num("seconds")?.unwrap_or(10),
                corpus: s("corpus").map(PathBuf::from),
                crashes: PathBuf::from(s("crashes").unwrap_or_default()),
                seed,
            })
        }
        Some(("demo-app", d)) => {
            Cmd::DemoApp(d.get_one::<String>("listen").cloned().unwrap_or_default())
        }
        _ => Cmd::Run(Box::new(run_from(&m))),
    })
}

fn run_from(m: &ArgMatches) -> RunArgs {
    let s = |id: &str| m.get_one::<String>(id).cloned().unwrap_or_default();
    let mut collector_flags = Vec::new();
    let mut collector_options = HashMap::new();
    for spec in collector::ALL {
        for (id, on) in [
            (format!("collector.{}", spec.name), true),
            (format!("no-collector.{}", spec.name), false),
        ] {
            if m.get_flag(&id) {
                let idx = m.index_of(&id).unwrap_or(0);
                collector_flags.push((idx, spec.name.to_string(), on));
            }
        }
        for opt in spec.options {
            let id = format!("collector.{}.{}", spec.name, opt.key);
            let key = format!("{}.{}", spec.name, opt.key);
            if is_bool(opt) {
                if m.get_flag(&id) {
                    collector_options.insert(key, "true".into());
                } else if m.get_flag(&format!("no-{id}")) {
                    collector_options.insert(key, "false".into());
                }
            } else if let Some(v) = m.get_one::<String>(&id) {
                collector_options.insert(key, v.clone());
            }
        }
    }
    collector_flags.sort();
    RunArgs {
        config: m.get_one::<String>("config").map(PathBuf::from),
        listen: s("web.listen-address"),
        telemetry_path: s("web.telemetry-path"),
        paths: Paths {
            procfs: s("path.procfs").into(),
            sysfs: s("path.sysfs").into(),
            rootfs: s("path.rootfs").into(),
            udev_data: s("path.udev.data").into(),
        },
        disable_defaults: m.get_flag("collector.disable-defaults"),
        collector_flags: collector_flags
            .into_iter()
            .map(|(_, n, on)| (n, on))
            .collect(),
        collector_options,
        disable_exporter_metrics: m.get_flag("web.disable-exporter-metrics"),
        log_level: s("log.level"),
        log_format: s("log.format"),
        rules: m
            .get_many::<String>("rules")
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        rules_state_file: m.get_one::<String>("rules.state-file").map(PathBuf::from),
        external_url: m.get_one::<String>("web.external-url").cloned(),
        web_config: m.get_one::<String>("web.config.file").map(PathBuf::from),
        alertmanager_urls: m
            .get_many::<String>("alertmanager.url")
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("telltale")
            .chain(a.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn check_rules_and_test_rules_take_several_files() {
        let Cmd::CheckRules(f) = parse(args(&["check", "rules", "a.yml", "b.yml"])).unwrap() else {
            panic!("expected check rules")
        };
        assert_eq!(f, [PathBuf::from("a.yml"), PathBuf::from("b.yml")]);
        let Cmd::TestRules(f) = parse(args(&["test", "rules", "t_test.yml"])).unwrap() else {
            panic!("expected test rules")
        };
        assert_eq!(f, [PathBuf::from("t_test.yml")]);
        assert!(parse(args(&["check", "rules"])).is_err());
        assert!(parse(args(&["test", "rules"])).is_err());
    }

    #[test]
    fn run_is_the_default_and_flags_parse() {
        let Cmd::Run(r) = parse(args(&[
            "--web.listen-address",
            "127.0.0.1:1",
            "--path.procfs=/x",
        ]))
        .unwrap() else {
            panic!("expected run")
        };
        assert_eq!(r.listen, "127.0.0.1:1");
        assert_eq!(r.paths.procfs, PathBuf::from("/x"));
        assert_eq!(r.telemetry_path, "/metrics");
        let Cmd::Run(r) = parse(args(&["run", "--log.format", "json"])).unwrap() else {
            panic!()
        };
        assert_eq!(r.log_format, "json");
    }

    #[test]
    fn check_config_takes_a_file() {
        assert!(
            matches!(parse(args(&["check", "config", "x.yml"])).unwrap(), Cmd::CheckConfig(p) if p.as_path() == std::path::Path::new("x.yml"))
        );
        assert!(parse(args(&["check", "config"])).is_err());
        assert!(parse(args(&["--log.level", "loud"])).is_err());
    }

    #[test]
    fn demo_app_has_a_default_listen_address() {
        assert!(
            matches!(parse(args(&["demo-app"])).unwrap(), Cmd::DemoApp(a) if a == "127.0.0.1:5001")
        );
        assert!(
            matches!(parse(args(&["demo-app", "--listen", "127.0.0.1:7"])).unwrap(), Cmd::DemoApp(a) if a == "127.0.0.1:7")
        );
    }

    #[test]
    fn collector_flags_and_options() {
        let Cmd::Run(r) = parse(args(&[
            "--collector.disable-defaults",
            "--collector.cpu",
            "--no-collector.cpu.guest",
            "--collector.loadavg",
            "--no-collector.loadavg",
            "--collector.netstat.fields=^Tcp_.*",
        ]))
        .unwrap() else {
            panic!("expected run")
        };
        assert!(r.disable_defaults);
        assert_eq!(
            r.collector_flags,
            vec![
                ("cpu".to_string(), true),
                ("loadavg".to_string(), true),
                ("loadavg".to_string(), false)
            ]
        );
        assert_eq!(
            r.collector_options.get("cpu.guest").map(String::as_str),
            Some("false")
        );
        assert_eq!(
            r.collector_options
                .get("netstat.fields")
                .map(String::as_str),
            Some("^Tcp_.*")
        );
        assert!(parse(args(&["--collector.nosuch"])).is_err());
    }

    #[test]
    fn score_takes_a_detector_params_and_files() {
        let Cmd::Score(a) = parse(args(&[
            "score",
            "--detector",
            "mad",
            "--param",
            "window=5",
            "--param",
            "scale=mad",
            "--input",
            "in.csv",
            "--output",
            "out.csv",
        ]))
        .unwrap() else {
            panic!("expected score")
        };
        assert_eq!(a.detector.as_deref(), Some("mad"));
        assert_eq!(a.params, ["window=5", "scale=mad"]);
        assert_eq!(a.input, Some(PathBuf::from("in.csv")));
        assert!(parse(args(&["score", "--input", "in.csv"])).is_err());
        let Cmd::Score(a) = parse(args(&["score", "--list"])).unwrap() else {
            panic!("expected score")
        };
        assert!(a.list && a.detector.is_none() && !a.strict_time);
        let Cmd::Score(a) = parse(args(&["score", "--list", "--strict-time"])).unwrap() else {
            panic!("expected score")
        };
        assert!(a.strict_time);
    }
}
