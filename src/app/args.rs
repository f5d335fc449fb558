//! What `telltale run` was started with: the flags, parsed by `cli`, read by the wiring.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::collector::Paths;

/// What `run` was asked to do.
#[derive(Clone, Debug)]
pub struct RunArgs {
    pub config: Option<PathBuf>,
    pub listen: String,
    pub telemetry_path: String,
    pub paths: Paths,
    pub disable_defaults: bool,
    /// (collector, enabled) in command-line order.
    pub collector_flags: Vec<(String, bool)>,
    pub collector_options: HashMap<String, String>,
    pub disable_exporter_metrics: bool,
    pub log_level: String,
    pub log_format: String,
    /// `--rules GLOB`, repeatable: rule files on top of the config's `rule_files`.
    pub rules: Vec<String>,
    /// `--rules.state-file`: overrides the config's `rules.state_file`.
    pub rules_state_file: Option<PathBuf>,
    /// `--web.external-url`: where alerts link back to.
    pub external_url: Option<String>,
    /// `--web.config.file`: TLS and basic auth in exporter-toolkit's format.
    pub web_config: Option<PathBuf>,
    /// `--alertmanager.url`, repeatable: Alertmanagers besides the config's.
    pub alertmanager_urls: Vec<String>,
}
