//! Inputs of datasource rules: each rule's expression (and `resolve_expr`) sent to the remote
//! query API, all of a group's queries at once (a remote rule cannot read the output of an
//! earlier rule of its group through the remote anyway). "No data" has the local meaning —
//! every selector of the expression matches nothing — checked, only for rules that set
//! `no_data` and got an empty answer, with one more query that holds exactly when every selector
//! is absent: `absent(a) and on() absent_over_time(b[5m]) ...`.

use std::sync::Arc;

use promql_parser::parser::{self, Expr as Ast};

use crate::rules::alert::EvalInput;
use crate::rules::datasource::Datasource;
use crate::rules::file::Rule;

/// The query that returns a sample exactly when every selector of `expr` is absent; `None`
/// when the expression has no selector (it can never lack data) or does not parse.
pub fn absence_query(expr: &str) -> Option<String> {
    let ast = parser::parse(expr).ok()?;
    let mut parts = Vec::new();
    walk(&ast, &mut parts);
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(" and on() "))
    }
}

fn walk(e: &Ast, out: &mut Vec<String>) {
    match e {
        Ast::VectorSelector(vs) => out.push(format!("absent({vs})")),
        Ast::MatrixSelector(ms) => out.push(format!("absent_over_time({ms})")),
        Ast::Aggregate(a) => {
            walk(&a.expr, out);
            if let Some(p) = &a.param {
                walk(p, out);
            }
        }
        Ast::Unary(u) => walk(&u.expr, out),
        Ast::Binary(b) => {
            walk(&b.lhs, out);
            walk(&b.rhs, out);
        }
        Ast::Paren(p) => walk(&p.expr, out),
        Ast::Subquery(s) => walk(&s.expr, out),
        Ast::Call(c) => c.args.args.iter().for_each(|a| walk(a, out)),
        Ast::NumberLiteral(_) | Ast::StringLiteral(_) | Ast::Extension(_) => {}
    }
}

async fn one(ds: &Datasource, expr: &str, t: i64, no_data: bool) -> EvalInput {
    match ds.query(expr, t).await {
        Ok(v) if v.is_empty() && no_data => match absence_query(expr) {
            Some(q) => match ds.query(&q, t).await {
                Ok(a) if !a.is_empty() => EvalInput::NoData,
                Ok(_) => EvalInput::Ok(v),
                Err(e) => EvalInput::Error(e),
            },
            None => EvalInput::Ok(v),
        },
        Ok(v) => EvalInput::Ok(v),
        Err(e) => EvalInput::Error(e),
    }
}

/// Every rule's input (and resolve input) at `t`, in rule order; the queries run concurrently.
pub async fn inputs(
    ds: &Arc<Datasource>,
    rules: &[Rule],
    t: i64,
) -> Vec<(EvalInput, Option<EvalInput>)> {
    let handles: Vec<_> = rules
        .iter()
        .map(|r| {
            let ds = Arc::clone(ds);
            let (expr, resolve) = (r.expr_text.clone(), r.resolve_expr_text.clone());
            let no_data = r.no_data.is_some();
            // A kind rule (possible with a config-wide datasource) evaluates locally; its slot
            // keeps the rule order and is ignored by the engine.
            let kind = r.expr.is_kind();
            tokio::spawn(async move {
                if kind {
                    return (EvalInput::Ok(Vec::new()), None);
                }
                let main = one(&ds, &expr, t, no_data).await;
                let resolve = match resolve {
                    Some(q) => Some(one(&ds, &q, t, false).await),
                    None => None,
                };
                (main, resolve)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap_or_else(|e| {
            (
                EvalInput::Error(format!("remote query task failed: {e}")),
                None,
            )
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absence_covers_every_selector() {
        assert_eq!(
            absence_query("rate(a[5m]) > on(x) b").as_deref(),
            Some("absent_over_time(a[5m]) and on() absent(b)")
        );
        assert_eq!(absence_query("vector(1) > 0"), None);
        assert_eq!(
            absence_query(r#"sum by (j) (up{job="x"} offset 1m)"#).as_deref(),
            Some(r#"absent(up{job="x"} offset 1m)"#)
        );
    }
}
