//! Rule files in Prometheus' format, decoded strictly and validated with Prometheus' own rules
//! (and messages, so `check rules` output reads like promtool's), every problem at once.
//!
//! Every `expr` is parsed by the local PromQL evaluator at load time, so a rule that loads is a
//! rule we can evaluate: an unsupported construct is a load error, never a wrong answer. The
//! exception is datasource mode (a group's `datasource:`, or a config-wide one): those
//! expressions run on a remote query API with the full language, so they are only checked to be
//! valid PromQL. Extensions beyond Prometheus (`datasource`, `no_data`, `on_error`,
//! `resolve_expr`) are decoded in `file_ext`.

pub mod expr;
pub mod extension_keys;
pub mod globs;
pub mod settings;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

pub use self::expr::Expr;
use super::alert::Policy;
use super::datasource::DatasourceConfig;
use crate::config::yaml;
use crate::config::yaml::{Decoder, Diag, Fields, Node, Pos};
use crate::model::labels;
use crate::model::labels::is_metric_name;

/// One rule file: its groups in file order.
#[derive(Clone, Debug)]
pub struct RuleFile {
    #[allow(dead_code)] // for the rules API (issue 4, item 7)
    pub path: String,
    pub groups: Vec<Group>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    /// `None`: the global evaluation interval.
    pub interval: Option<Duration>,
    /// Max alerts per alerting rule / series per recording rule; 0 = no limit.
    pub limit: u64,
    /// `None`: the global rule query offset.
    pub query_offset: Option<Duration>,
    /// Group labels (Prometheus 3); rule labels win on conflict.
    pub labels: Vec<(String, String)>,
    /// `datasource:`: the group's rules are evaluated by this query API. `None` with remote
    /// expressions (loaded with `remote_default`) means the config-wide datasource.
    pub datasource: Option<DatasourceConfig>,
    pub rules: Vec<Rule>,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Alert,
    Record,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub kind: Kind,
    /// The alert name or the recorded metric name.
    pub name: String,
    #[allow(dead_code)] // for the rules API (issue 4, item 7)
    pub expr_text: String,
    pub expr: Expr,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    /// Rule labels, group labels merged in (rule labels win), in file order.
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    /// `no_data:` / `on_error:` (alerting rules only); `None` = Prometheus' behaviour.
    #[allow(dead_code)] // read by the engine (issue 4, item 5)
    pub no_data: Option<Policy>,
    #[allow(dead_code)]
    pub on_error: Option<Policy>,
    /// `resolve_expr:` (alerting rules only; hysteresis), with its text; evaluated where `expr`
    /// is. Both are set or neither.
    #[allow(dead_code)]
    pub resolve_expr_text: Option<String>,
    #[allow(dead_code)]
    pub resolve_expr: Option<Expr>,
    #[allow(dead_code)] // for run-time errors that point at the rule
    pub pos: Pos,
}

impl RuleFile {
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// Reads, decodes and validates one rule file; every expression is local unless its group
/// has a `datasource`.
pub fn load(path: &Path) -> Result<RuleFile, Vec<Diag>> {
    load_with(path, false)
}

/// `load`, where `remote_default` (a config-wide datasource exists) makes the expressions of
/// groups without their own `datasource` remote too.
pub fn load_with(path: &Path, remote_default: bool) -> Result<RuleFile, Vec<Diag>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diag {
            file: name.clone(),
            pos: Pos { line: 0, col: 0 },
            path: String::new(),
            msg: format!("cannot read rule file: {e}"),
        }]
    })?;
    parse_with(&name, &text, remote_default)
}

/// Decodes and validates rule-file text; `file` names it in messages.
#[cfg_attr(not(test), allow(dead_code))]
pub fn parse(file: &str, text: &str) -> Result<RuleFile, Vec<Diag>> {
    parse_with(file, text, false)
}

/// `parse` with `load_with`'s `remote_default`.
pub fn parse_with(file: &str, text: &str, remote_default: bool) -> Result<RuleFile, Vec<Diag>> {
    let root = yaml::parse(file, text).map_err(|d| vec![d])?;
    let mut d = Decoder::new(file);
    let groups = decode_file(&mut d, &root, remote_default);
    if d.ok() {
        Ok(RuleFile {
            path: file.to_string(),
            groups,
        })
    } else {
        Err(d.diags)
    }
}

fn decode_file(d: &mut Decoder, root: &Node, remote_default: bool) -> Vec<Group> {
    let Some(mut f) = d.map(root, "") else {
        return Vec::new();
    };
    let mut groups: Vec<Group> = Vec::new();
    if let Some(n) = f.get("groups") {
        for item in d.seq(n, "groups") {
            let first = d.diags.len();
            let Some(g) = decode_group(d, item, remote_default) else {
                continue;
            };
            // Group-level problems come before the problems of its rules, as in Prometheus.
            let msg = if g.name.is_empty() {
                Some("Groupname must not be empty".to_string())
            } else if groups.iter().any(|x| x.name == g.name) {
                Some(format!(
                    "groupname: {:?} is repeated in the same file",
                    g.name
                ))
            } else {
                None
            };
            if let Some(msg) = msg {
                d.error(g.pos, "", msg);
                let e = d.diags.pop().expect("just pushed");
                d.diags.insert(first, e);
            }
            groups.push(g);
        }
    }
    f.finish(d, "rule file");
    groups
}

/// An optional duration; messages name it as `<path>: <key>`.
fn opt_duration(d: &mut Decoder, f: &mut Fields, path: &str, key: &str) -> Option<(Duration, Pos)> {
    let n = f.get(key)?;
    d.duration(n, &format!("{path}: {key}")).map(|v| (v, n.pos))
}

/// Labels (or annotations) as a mapping; each invalid name reported at its key.
fn labels(
    d: &mut Decoder,
    n: &Node,
    path: &str,
    what: &str,
    forbid_name: bool,
) -> Vec<(String, String)> {
    let out = d.string_map(n, path);
    for (k, _) in &out {
        if !labels::is_label_name(k) || (forbid_name && k == labels::NAME) {
            d.error(n.key_pos(k), path, format!("invalid {what} name: {k}"));
        }
    }
    out
}

/// Alert labels and annotations are templates: one that does not parse is a load error (as
/// promtool reports it), at the value's position.
fn check_templates(
    d: &mut Decoder,
    n: &Node,
    path: &str,
    what: &str,
    rule: &str,
    kv: &[(String, String)],
) {
    for (k, text) in kv {
        if let Err(e) = crate::template::Template::parse(&format!("__alert_{rule}"), text) {
            let pos = match &n.value {
                yaml::Value::Map(entries) => entries
                    .iter()
                    .find(|(key, _)| key.scalar() == Some(k))
                    .map_or(n.pos, |(_, v)| v.pos),
                _ => n.pos,
            };
            d.error(pos, path, format!("{what} {k:?}: {e}"));
        }
    }
}

fn decode_group(d: &mut Decoder, n: &Node, remote_default: bool) -> Option<Group> {
    // The group's name is needed for the path of every message below, so read it first.
    let name = match &n.value {
        yaml::Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.scalar() == Some("name"))
            .and_then(|(_, v)| v.scalar())
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    };
    let path = format!("group {name:?}");
    let mut f = d.map(n, &path)?;
    // Messages inside the group name it the way Prometheus does, not as a YAML path.
    let at = |k: &str| format!("group {name:?}: {k}");
    if let Some(v) = f.get("name") {
        d.string(v, &at("name"));
    }
    let mut g = Group {
        name: name.clone(),
        interval: None,
        limit: 0,
        query_offset: None,
        labels: Vec::new(),
        datasource: None,
        rules: Vec::new(),
        pos: n.key_pos("name"),
    };
    if let Some((v, pos)) = opt_duration(d, &mut f, &path, "interval") {
        if v.is_zero() {
            d.error(pos, &at("interval"), "must be greater than 0");
        }
        g.interval = Some(v);
    }
    g.query_offset = opt_duration(d, &mut f, &path, "query_offset").map(|(v, _)| v);
    if let Some(v) = f.get("limit") {
        g.limit = d.u64(v, &at("limit")).unwrap_or(0);
    }
    if let Some(v) = f.get("labels") {
        g.labels = labels(d, v, &path, "label", true);
    }
    // Decoded before the rules, whose expressions it makes remote (even when it is bad, so
    // that one bad datasource does not add a load error for every remote-only construct).
    let own_datasource = f.get("datasource").is_some();
    let remote = match f.get("datasource") {
        Some(v) => {
            g.datasource = super::datasource::decode(d, v, &at("datasource"));
            true
        }
        None => remote_default,
    };
    if let Some(v) = f.get("rules") {
        for (i, item) in d.seq(v, &at("rules")).iter().enumerate() {
            let at = (remote, own_datasource);
            if let Some(r) = decode_rule(d, item, &name, i + 1, &g.labels, at) {
                g.rules.push(r);
            }
        }
    }
    f.finish(d, "rule group");
    Some(g)
}

fn decode_rule(
    d: &mut Decoder,
    n: &Node,
    group: &str,
    index: usize,
    group_labels: &[(String, String)],
    (remote, own_datasource): (bool, bool),
) -> Option<Rule> {
    let scalar_of = |key: &str| match &n.value {
        yaml::Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
            .and_then(|(_, v)| v.scalar().map(|s| (s.to_string(), v.pos))),
        _ => None,
    };
    let record = scalar_of("record");
    let alert = scalar_of("alert");
    let name = alert
        .as_ref()
        .or(record.as_ref())
        .map_or(String::new(), |(s, _)| s.clone());
    let path = format!("group {group:?}, rule {index}, {name:?}");
    let mut f = d.map(n, &path)?;
    let before = d.diags.len();
    let rec = f.get("record").and_then(|v| d.string(v, &path));
    let alt = f.get("alert").and_then(|v| d.string(v, &path));
    let name_pos = alert
        .as_ref()
        .or(record.as_ref())
        .map_or(n.pos, |(_, p)| *p);
    let (kind, rec_set, alt_set) = (
        if rec.is_some() {
            Kind::Record
        } else {
            Kind::Alert
        },
        rec.as_deref().is_some_and(|s| !s.is_empty()),
        alt.as_deref().is_some_and(|s| !s.is_empty()),
    );
    if rec_set && alt_set {
        d.error(
            name_pos,
            &path,
            "only one of 'record' and 'alert' must be set",
        );
    } else if !rec_set && !alt_set {
        d.error(n.pos, &path, "one of 'record' or 'alert' must be set");
    }
    let cx = extension_keys::InputCtx {
        recording: kind == Kind::Record && rec_set,
        remote,
        own_datasource,
    };
    let (expr_text, expr) = extension_keys::decode_input(d, &mut f, n, &path, cx);
    let for_ = opt_duration(d, &mut f, &path, "for");
    let keep = opt_duration(d, &mut f, &path, "keep_firing_for");
    let f_labels_node = f.get("labels");
    let rule_labels = f_labels_node.map(|v| labels(d, v, &path, "label", true));
    let ann_node = f.get("annotations");
    let annotations = ann_node.map(|v| labels(d, v, &path, "annotation", false));
    if kind == Kind::Alert {
        for (what, node, kv) in [
            ("label", f_labels_node, &rule_labels),
            ("annotation", ann_node, &annotations),
        ] {
            if let (Some(n), Some(kv)) = (node, kv) {
                check_templates(d, n, &path, what, &name, kv);
            }
        }
    }
    let recording = kind == Kind::Record && rec_set;
    let ext = extension_keys::decode_rule_ext(d, &mut f, &path, recording, remote);
    if kind == Kind::Record && rec_set {
        if annotations.as_ref().is_some_and(|a| !a.is_empty()) {
            let pos = ann_node.map_or(n.pos, |v| v.pos);
            d.error(pos, &path, "invalid field 'annotations' in recording rule");
        }
        for (key, v) in [("for", for_), ("keep_firing_for", keep)] {
            if let Some((dur, pos)) = v {
                if !dur.is_zero() {
                    d.error(
                        pos,
                        &path,
                        format!("invalid field '{key}' in recording rule"),
                    );
                }
            }
        }
        if !is_metric_name(&name) {
            d.error(
                name_pos,
                &path,
                format!("invalid recording rule name: {name}"),
            );
            if name.contains('{') || name.contains('}') {
                d.error(
                    name_pos,
                    &path,
                    format!(
                        "braces present in the recording rule name; should it be in expr?: {name}"
                    ),
                );
            }
        }
    }
    f.finish(d, "rule");
    if d.diags.len() > before {
        return None;
    }
    let mut merged: Vec<(String, String)> = group_labels
        .iter()
        .filter(|(k, _)| !rule_labels.iter().flatten().any(|(rk, _)| rk == k))
        .cloned()
        .collect();
    merged.extend(rule_labels.unwrap_or_default());
    Some(Rule {
        kind,
        name,
        expr_text,
        expr: expr?,
        for_: for_.map_or(Duration::ZERO, |(v, _)| v),
        keep_firing_for: keep.map_or(Duration::ZERO, |(v, _)| v),
        labels: merged,
        annotations: annotations.unwrap_or_default(),
        no_data: ext.no_data,
        on_error: ext.on_error,
        resolve_expr_text: ext.resolve_expr.as_ref().map(|(t, _)| t.clone()),
        resolve_expr: ext.resolve_expr.map(|(_, e)| e),
        pos: n.pos,
    })
}
