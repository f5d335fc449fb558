//! The configuration file: decoded strictly (unknown key = error), validated before use, every
//! problem reported at once as `file:line:col: path: message`.

use std::path::Path;
use std::time::Duration;

use crate::collector;
use crate::config::common::Global;
use crate::config::yaml;
use crate::config::yaml::{Decoder, Diag, Fields, Node};
use crate::model::labels::is_label_name;

/// Used when `run` is given no `--config`: system metrics on, default collectors.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.yml");
pub const EMBEDDED_NAME: &str = "<embedded default>";

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub global: Global,
    pub system: SystemConfig,
    pub storage: Storage,
    /// `probes`, `zabbix`, `json_targets`: every registered kind of polled source.
    pub sources: crate::sources::Sections,
    /// `rule_files` and the `rules:` section.
    pub rules: crate::rules::file::settings::RulesConfig,
    pub alerting: crate::notify::config::AlertingConfig,
    /// The file as `/api/v1/status/config` shows it: re-emitted with secrets as `<secret>`.
    pub shown: String,
    /// Push ingest; off without a `push:` section.
    pub push: Option<crate::sources::push::PushConfig>,
    pub remote_write: Vec<crate::remote_write::RemoteWriteConfig>,
}

/// Bounds of the in-memory sample store.
#[derive(Clone, Debug, PartialEq)]
pub struct Storage {
    pub retention: Duration,
    pub max_series: usize,
    /// The sample budget (`store::Limits::max_samples`).
    pub max_samples: usize,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            retention: Duration::from_secs(3600),
            max_series: 200_000,
            max_samples: crate::store::DEFAULT_MAX_SAMPLES,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SystemConfig {
    pub enabled: bool,
    /// Exactly these collectors, when given; otherwise every default-enabled one.
    pub collectors: Option<Vec<String>>,
    /// Collector options as `NAME.KEY: value`, the same keys as the `--collector.NAME.KEY` flags.
    pub options: Vec<(String, String)>,
}

/// Reads and validates a config file (or the embedded default when `path` is `None`).
pub fn load(path: Option<&Path>) -> Result<Config, Vec<Diag>> {
    load_as(path, false)
}

/// `load` for a reload: an empty or whitespace-only file is refused, since a truncated write
/// looks exactly like that and would drop every rule and alert state (at start-up an empty
/// file is a valid config with every default).
pub fn load_for_reload(path: Option<&Path>) -> Result<Config, Vec<Diag>> {
    load_as(path, true)
}

fn load_as(path: Option<&Path>, refuse_empty: bool) -> Result<Config, Vec<Diag>> {
    match path {
        None => parse(EMBEDDED_NAME, EMBEDDED_DEFAULT),
        Some(p) => {
            let name = p.display().to_string();
            let whole_file = |msg: String| Diag {
                file: name.clone(),
                pos: yaml::Pos { line: 0, col: 0 },
                path: String::new(),
                msg,
            };
            let text = std::fs::read_to_string(p)
                .map_err(|e| vec![whole_file(format!("cannot read config: {e}"))])?;
            if refuse_empty && text.trim().is_empty() {
                return Err(vec![whole_file(format!(
                    "the file is {} on reload (a truncated write?); keeping the running \
                     configuration",
                    if text.is_empty() {
                        "empty"
                    } else {
                        "only whitespace"
                    }
                ))]);
            }
            parse(&name, &text)
        }
    }
}

/// Decodes and validates config text; `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<Config, Vec<Diag>> {
    let root = yaml::parse(file, text).map_err(|d| vec![d])?;
    let mut d = Decoder::new(file);
    d.expand_env = true;
    let mut cfg = decode(&mut d, &root);
    cfg.shown = crate::config::redact::redacted_yaml(&root);
    if d.ok() {
        Ok(cfg)
    } else {
        // In file order, whatever order the checks ran in.
        d.diags.sort_by_key(|x| (x.pos.line, x.pos.col));
        Err(d.diags)
    }
}

fn decode(d: &mut Decoder, root: &Node) -> Config {
    let mut cfg = Config {
        global: Global::default(),
        system: SystemConfig {
            enabled: true,
            collectors: None,
            options: Vec::new(),
        },
        storage: Storage::default(),
        sources: Default::default(),
        rules: Default::default(),
        alerting: Default::default(),
        shown: String::new(),
        push: None,
        remote_write: Vec::new(),
    };
    let Some(mut f) = d.map(root, "") else {
        return cfg;
    };
    if let Some(n) = f.get("global") {
        cfg.global = decode_global(d, n);
    }
    // Before the sections: names made from URLs while decoding (remote_write's) are redacted.
    crate::config::redact::set_secret_params(&cfg.global.secret_query_params);
    if let Some(n) = f.get("system") {
        cfg.system = decode_system(d, n);
    }
    if let Some(n) = f.get("storage") {
        cfg.storage = decode_storage(d, n);
    }
    cfg.sources = crate::sources::Sections::decode(d, &mut f, &cfg.global);
    if let Some(n) = f.get("rule_files") {
        cfg.rules.files = d.string_list(n, "rule_files");
    }
    if let Some(n) = f.get("rules") {
        crate::rules::file::settings::decode(d, n, &mut cfg.rules);
    }
    if let Some(n) = f.get("alerting") {
        cfg.alerting = crate::notify::config::decode(d, n, "alerting");
    }
    if let Some(n) = f.get("push") {
        cfg.push = Some(crate::sources::push::config::decode(d, n, "push"));
    }
    if let Some(n) = f.get("remote_write") {
        cfg.remote_write = crate::remote_write::config::decode(d, n, "remote_write");
    }
    f.finish(d, "config");
    cfg
}

fn opt_duration(d: &mut Decoder, f: &mut Fields, key: &str, into: &mut Duration) -> Option<Node> {
    let n = f.get(key)?;
    if let Some(v) = d.duration(n, &f.at(key)) {
        *into = v;
    }
    Some(n.clone())
}

fn decode_global(d: &mut Decoder, n: &Node) -> Global {
    let mut g = Global::default();
    let Some(mut f) = d.map(n, "global") else {
        return g;
    };
    let interval = opt_duration(d, &mut f, "scrape_interval", &mut g.scrape_interval);
    let timeout = opt_duration(d, &mut f, "scrape_timeout", &mut g.scrape_timeout);
    opt_duration(d, &mut f, "evaluation_interval", &mut g.evaluation_interval);
    if timeout.is_none() {
        g.scrape_timeout = g.scrape_timeout.min(g.scrape_interval);
    }
    for (key, dur, node) in [
        ("scrape_interval", g.scrape_interval, &interval),
        ("evaluation_interval", g.evaluation_interval, &None),
    ] {
        if dur.is_zero() {
            let pos = node.as_ref().map_or(f.pos, |n| n.pos);
            d.error(pos, &f.at(key), "must be greater than 0");
        }
    }
    if g.scrape_timeout > g.scrape_interval {
        let pos = timeout.as_ref().map_or(f.pos, |n| n.pos);
        d.error(
            pos,
            &f.at("scrape_timeout"),
            format!(
                "scrape_timeout ({}) greater than scrape_interval ({})",
                yaml::format_duration(g.scrape_timeout),
                yaml::format_duration(g.scrape_interval)
            ),
        );
    }
    if let Some(n) = f.get("external_labels") {
        let path = f.at("external_labels");
        g.external_labels = d.string_map(n, &path);
        for (k, _) in &g.external_labels {
            if !is_label_name(k) {
                d.error(n.key_pos(k), &path, format!("invalid label name {k:?}"));
            }
        }
    }
    if let Some(n) = f.get("secret_query_params") {
        g.secret_query_params = d.string_list(n, &f.at("secret_query_params"));
    }
    f.finish(d, "global");
    g
}

fn decode_storage(d: &mut Decoder, n: &Node) -> Storage {
    let mut s = Storage::default();
    let Some(mut f) = d.map(n, "storage") else {
        return s;
    };
    if let Some(r) = opt_duration(d, &mut f, "retention", &mut s.retention) {
        if s.retention < Duration::from_secs(60) {
            d.error(r.pos, &f.at("retention"), "must be at least 1m");
        }
    }
    for (key, into) in [
        ("max_series", &mut s.max_series),
        ("max_samples", &mut s.max_samples),
    ] {
        if let Some(n) = f.get(key) {
            match d.u64(n, &f.at(key)) {
                Some(0) => d.error(n.pos, &f.at(key), "must be greater than 0"),
                Some(v) => *into = v as usize,
                None => {}
            }
        }
    }
    f.finish(d, "storage");
    s
}

fn decode_system(d: &mut Decoder, n: &Node) -> SystemConfig {
    let mut s = SystemConfig {
        enabled: true,
        collectors: None,
        options: Vec::new(),
    };
    let Some(mut f) = d.map(n, "system") else {
        return s;
    };
    if let Some(n) = f.get("enabled") {
        s.enabled = d.bool(n, &f.at("enabled")).unwrap_or(true);
    }
    if let Some(n) = f.get("collectors") {
        let path = f.at("collectors");
        let names = d.string_list(n, &path);
        let items = d.seq(n, &path);
        for (i, name) in names.iter().enumerate() {
            if collector::spec(name).is_none() {
                let pos = items.get(i).map_or(n.pos, |x| x.pos);
                d.error(
                    pos,
                    &format!("{path}[{i}]"),
                    format!("unknown collector {name:?}"),
                );
            }
        }
        s.collectors = Some(names);
    }
    if let Some(n) = f.get("options") {
        let path = f.at("options");
        s.options = d.string_map(n, &path);
        for (key, value) in &s.options {
            if let Err(e) = check_option(key, value) {
                let pos = n.value_pos(key);
                d.error(pos, &format!("{path}.{key}"), e);
            }
        }
    }
    f.finish(d, "system");
    s
}

/// Checks that `NAME.KEY` names a collector option and that the collector accepts the value.
pub fn check_option(key: &str, value: &str) -> Result<(), String> {
    let (name, opt) = key
        .split_once('.')
        .ok_or_else(|| format!("option {key:?} must be COLLECTOR.OPTION"))?;
    let spec = collector::spec(name).ok_or_else(|| format!("unknown collector {name:?}"))?;
    if !spec.options.iter().any(|o| o.key == opt) {
        let known: Vec<&str> = spec.options.iter().map(|o| o.key).collect();
        return Err(format!(
            "collector {name} has no option {opt:?} (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    let mut ctx = collector::Ctx::default();
    ctx.options.insert(key.to_string(), value.to_string());
    (spec.build)(&ctx).map(|_| ())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every problem `parse` finds in `text` (as file `c.yml`), as printed.
    pub(crate) fn errors(text: &str) -> Vec<String> {
        match parse("c.yml", text) {
            Ok(_) => Vec::new(),
            Err(ds) => ds.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn embedded_default_is_valid() {
        let c = load(None).expect("embedded default parses");
        assert!(c.system.enabled);
        assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let got = errors(
            "global:\n  scrape_interval: 10x\n  bogus: 1\nsystem:\n  enabled: maybe\nextra: {}\n",
        );
        assert_eq!(
            got,
            vec![
                "c.yml:2:20: global.scrape_interval: not a valid duration string: \"10x\"",
                "c.yml:3:3: global: unknown field \"bogus\" in global",
                "c.yml:5:12: system.enabled: expected true or false",
                "c.yml:6:1: unknown field \"extra\" in config",
            ]
        );
    }

    #[test]
    fn timeout_longer_than_interval_is_rejected() {
        let got = errors("global: {scrape_interval: 5s, scrape_timeout: 10s}\n");
        assert_eq!(got.len(), 1);
        assert!(
            got[0].contains("scrape_timeout (10s) greater than scrape_interval (5s)"),
            "{got:?}"
        );
    }

    #[test]
    fn default_timeout_follows_a_short_interval() {
        let c = parse("c", "global: {scrape_interval: 5s}\n").unwrap();
        assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
    }

    #[test]
    fn env_is_expanded_and_missing_env_is_an_error() {
        std::env::set_var("TELLTALE_CFG_TEST_SITE", "lab");
        let c = parse(
            "c",
            "global: {external_labels: {site: '${TELLTALE_CFG_TEST_SITE}'}}\n",
        )
        .unwrap();
        assert_eq!(
            c.global.external_labels,
            vec![("site".into(), "lab".into())]
        );
        let got = errors("global: {external_labels: {site: '${TELLTALE_NOT_SET_ANYWHERE}'}}\n");
        assert!(got[0].contains("environment variable"), "{got:?}");
    }

    #[test]
    fn rules_datasource_is_decoded_with_env_and_checked() {
        std::env::set_var("TELLTALE_CFG_TEST_TOKEN", "tok");
        let c = parse(
            "c",
            "rules:\n  datasource: {url: 'http://127.0.0.1:9090/', bearer_token: '${TELLTALE_CFG_TEST_TOKEN}'}\n",
        )
        .unwrap();
        let ds = c.rules.datasource.unwrap();
        assert_eq!(ds.url, "http://127.0.0.1:9090");
        assert_eq!(ds.http.bearer_token.as_deref(), Some("tok"));
        assert_eq!(
            errors("rules:\n  datasource: {url: 'h:1'}\n  bogus: 1\n"),
            [
                "c.yml:2:21: rules.datasource.url: URL scheme must be http or https, not \"h\" (want http://host:port[/prefix] or https://…)",
                "c.yml:3:3: rules: unknown field \"bogus\" in rules",
            ]
        );
    }

    #[test]
    fn secret_query_params_are_decoded() {
        let c = parse("c", "global: {secret_query_params: [sessionid, X-Sig]}\n").unwrap();
        assert_eq!(c.global.secret_query_params, ["sessionid", "X-Sig"]);
        assert!(parse("c", "global: {secret_query_params: nope}\n").is_err());
    }
}
