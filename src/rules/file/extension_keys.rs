//! Rule keys beyond Prometheus, for alerting rules: `no_data` and `on_error` (what absent input
//! or a failed query does to the alerts, see `alert`), `resolve_expr` (hysteresis), and the
//! rule-kind keys (`correlate`, ... see `kinds`) that replace `expr`. The group key
//! `datasource` is decoded by `datasource::decode`; it makes expressions [`Expr::Remote`].

use super::expr::Expr;
use super::RuleFile;
use crate::config::yaml::{Decoder, Diag, Fields, Node};
use crate::rules::alert::Policy;
use crate::rules::kinds;

impl RuleFile {
    /// The file when no group is remote (`telltale test rules` evaluates locally, and testing
    /// a datasource group locally would test a different evaluator than the one it runs on).
    pub fn local_only(self) -> Result<RuleFile, Vec<Diag>> {
        let remote: Vec<Diag> = (self.groups.iter())
            .filter(|g| g.datasource.is_some() || g.rules.iter().any(|r| r.expr.is_remote()))
            .map(|g| Diag {
                file: self.path.clone(),
                pos: g.pos,
                path: format!("group {:?}", g.name),
                msg: "datasource groups cannot be unit-tested (their rules run on the remote \
                      query API)"
                    .into(),
            })
            .collect();
        if remote.is_empty() {
            Ok(self)
        } else {
            Err(remote)
        }
    }
}

/// Where a rule's input may come from.
pub(super) struct InputCtx {
    /// A recording rule: only `expr`.
    pub recording: bool,
    /// Expressions go to a datasource.
    pub remote: bool,
    /// The group has its own `datasource:` (rule kinds, which evaluate locally, would
    /// silently read other data than the group's other rules there).
    pub own_datasource: bool,
}

/// A rule's input: `expr`, or exactly one rule-kind key (alerting rules only). Returns the
/// text (the expression, or the kind's key and summary) and the input, `None` after a problem.
pub(super) fn decode_input(
    d: &mut Decoder,
    f: &mut Fields,
    rule: &Node,
    path: &str,
    cx: InputCtx,
) -> (String, Option<Expr>) {
    let expr_node = f.get("expr");
    let set: Vec<(&kinds::Def, &Node)> = (kinds::ALL.iter())
        .filter_map(|k| f.get(k.key).map(|v| (k, v)))
        .collect();
    if let Some((k, _)) = set.first() {
        let pos = rule.key_pos(k.key);
        let other = match (expr_node, set.get(1)) {
            (Some(_), _) => Some("expr"),
            (None, Some((k2, _))) => Some(k2.key),
            _ => None,
        };
        let problem = if let Some(other) = other {
            Some(format!("only one of '{other}' and '{}' must be set", k.key))
        } else if cx.recording {
            Some(format!("invalid field '{}' in recording rule", k.key))
        } else if cx.own_datasource {
            Some(format!(
                "{} rules evaluate locally, over telltale's samples; they cannot be in a group with a datasource",
                k.key
            ))
        } else {
            None
        };
        if let Some(msg) = problem {
            d.error(pos, path, msg);
            return (String::new(), None);
        }
        let (k, v) = set[0];
        let spec = (k.decode)(d, v, &format!("{path}: {}", k.key));
        return match spec {
            Some(s) => (format!("{}: {}", k.key, s.text()), Some(Expr::Kind(s))),
            None => (String::new(), None),
        };
    }
    let text = expr_node
        .and_then(|v| d.string(v, path))
        .unwrap_or_default();
    match expr_node {
        Some(v) if !text.is_empty() => match Expr::parse(&text, cx.remote) {
            Ok(e) => return (text, Some(e)),
            Err(e) => d.error(v.pos, path, format!("could not parse expression: {e}")),
        },
        _ => d.error(rule.pos, path, "field 'expr' must be set in rule"),
    }
    (text, None)
}

#[derive(Default)]
pub(super) struct RuleExt {
    pub no_data: Option<Policy>,
    pub on_error: Option<Policy>,
    /// The text and its expression.
    pub resolve_expr: Option<(String, Expr)>,
}

/// Decodes the extension keys of one rule; `path` names the rule as in Prometheus' messages,
/// `remote` says whether expressions go to a datasource.
pub(super) fn decode_rule_ext(
    d: &mut Decoder,
    f: &mut Fields,
    path: &str,
    recording: bool,
    remote: bool,
) -> RuleExt {
    let mut ext = RuleExt::default();
    for key in ["no_data", "on_error", "resolve_expr"] {
        let Some(v) = f.get(key) else { continue };
        if recording {
            // Same wording as Prometheus' `invalid field 'for' in recording rule`.
            d.error(
                v.pos,
                path,
                format!("invalid field '{key}' in recording rule"),
            );
            continue;
        }
        let at = format!("{path}: {key}");
        let Some(text) = d.string(v, &at) else {
            continue;
        };
        match key {
            "resolve_expr" if text.trim().is_empty() => d.error(v.pos, &at, "must not be empty"),
            "resolve_expr" => match Expr::parse(&text, remote) {
                Ok(e) => ext.resolve_expr = Some((text, e)),
                Err(e) => d.error(v.pos, &at, format!("could not parse expression: {e}")),
            },
            _ => match Policy::parse(&text) {
                Ok(p) if key == "no_data" => ext.no_data = Some(p),
                Ok(p) => ext.on_error = Some(p),
                Err(e) => d.error(v.pos, &at, e),
            },
        }
    }
    ext
}
