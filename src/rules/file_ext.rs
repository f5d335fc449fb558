//! Rule keys beyond Prometheus, for alerting rules: `no_data` and `on_error` (what absent input
//! or a failed query does to the alerts, see `alert`) and `resolve_expr` (hysteresis). The
//! group key `datasource` is decoded by `datasource::decode`; it makes expressions [`Expr::Remote`].

use super::alert::Policy;
use super::file::RuleFile;
use crate::promql::{self, Plan};
use crate::yaml::{Decoder, Diag, Fields};

/// How an expression is evaluated, decided at load time.
#[derive(Clone, Debug)]
pub enum Expr {
    /// Planned for the local evaluator.
    Local(Plan),
    /// Sent as text to the group's (or the config-wide) datasource; checked only to be valid
    /// PromQL, so constructs the local subset rejects are fine here.
    Remote,
}

impl Expr {
    /// The local plan; `None` for a remote expression.
    pub fn local(&self) -> Option<&Plan> {
        match self {
            Expr::Local(p) => Some(p),
            Expr::Remote => None,
        }
    }

    /// Parses `text` for local evaluation, or, when `remote`, only checks its syntax.
    pub fn parse(text: &str, remote: bool) -> Result<Expr, String> {
        if remote {
            promql::check_syntax(text).map(|()| Expr::Remote)
        } else {
            promql::parse(text).map(Expr::Local)
        }
    }
}

impl RuleFile {
    /// The file when no group is remote (`telltale test rules` evaluates locally, and testing
    /// a datasource group locally would test a different evaluator than the one it runs on).
    pub fn local_only(self) -> Result<RuleFile, Vec<Diag>> {
        let remote: Vec<Diag> = (self.groups.iter())
            .filter(|g| g.datasource.is_some() || g.rules.iter().any(|r| r.expr.local().is_none()))
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
