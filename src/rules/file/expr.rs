//! How a rule's expression is evaluated, decided when the file loads: planned for the local
//! evaluator, sent to a datasource, or handed to a rule kind.

use std::sync::Arc;

use crate::promql::{self, Plan};
use crate::rules::kinds::Spec;

/// How an expression is evaluated, decided at load time.
#[derive(Clone, Debug)]
pub enum Expr {
    /// Planned for the local evaluator.
    Local(Plan),
    /// Sent as text to the group's (or the config-wide) datasource; checked only to be valid
    /// PromQL, so constructs the local subset rejects are fine here.
    Remote,
    /// A rule kind's input (`correlate:`, ...): evaluated locally by the kind, see `kinds`.
    Kind(Arc<dyn Spec>),
}

impl Expr {
    /// The local plan; `None` for a remote expression.
    pub fn local(&self) -> Option<&Plan> {
        match self {
            Expr::Local(p) => Some(p),
            Expr::Remote | Expr::Kind(_) => None,
        }
    }

    /// Sent to a datasource.
    pub fn is_remote(&self) -> bool {
        matches!(self, Expr::Remote)
    }

    /// Evaluated by a rule kind.
    pub fn is_kind(&self) -> bool {
        matches!(self, Expr::Kind(_))
    }

    /// The local PromQL plans the input is made of (none for a remote expression).
    pub fn plans(&self) -> Vec<&Plan> {
        match self {
            Expr::Local(p) => vec![p],
            Expr::Remote => Vec::new(),
            Expr::Kind(k) => k.plans(),
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
