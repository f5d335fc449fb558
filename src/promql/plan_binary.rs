//! Translation of binary operators and aggregations (split from `plan` for size).

use promql_parser::parser::{self as pp, Expr, LabelModifier, VectorMatchCardinality as PCard};

use super::plan::{agg_op, bin_op, AggOp, AggPlan, BinaryPlan, Card, Grouping, Kind, Matching};
use super::Plan;

type Translate = fn(&Expr) -> Result<Plan, String>;

pub(super) fn binary(b: &pp::BinaryExpr, translate: Translate) -> Result<Plan, String> {
    let op = bin_op(b.op.id()).ok_or_else(|| format!("binary operator {} is not supported", b.op))?;
    let lhs = translate(&b.lhs)?;
    let rhs = translate(&b.rhs)?;
    let mut matching = Matching {
        card: if op.is_set() {
            Card::ManyToMany
        } else {
            Card::OneToOne
        },
        on: false,
        labels: vec![],
        include: vec![],
    };
    let mut return_bool = false;
    if let Some(m) = &b.modifier {
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return Err("fill modifiers (fill, fill_left, fill_right) are not supported".into());
        }
        return_bool = m.return_bool;
        match &m.matching {
            Some(LabelModifier::Include(l)) => {
                matching.on = true;
                matching.labels = l.labels.clone();
            }
            Some(LabelModifier::Exclude(l)) => matching.labels = l.labels.clone(),
            None => {}
        }
        match &m.card {
            PCard::OneToOne => {}
            PCard::ManyToMany => matching.card = Card::ManyToMany,
            PCard::ManyToOne(l) => {
                matching.card = Card::ManyToOne;
                matching.include = l.labels.clone();
            }
            PCard::OneToMany(l) => {
                matching.card = Card::OneToMany;
                matching.include = l.labels.clone();
            }
        }
    }
    if op.is_comparison() && !return_bool && lhs.kind() == Kind::Scalar && rhs.kind() == Kind::Scalar
    {
        return Err("comparisons between scalars must use BOOL modifier".into());
    }
    if return_bool && !op.is_comparison() {
        return Err("bool modifier can only be used on comparison operators".into());
    }
    for side in [&lhs, &rhs] {
        if !matches!(side.kind(), Kind::Scalar | Kind::Vector) {
            return Err(
                "binary expression must contain only scalar and instant vector types".into(),
            );
        }
    }
    if op.is_set() && (lhs.kind() != Kind::Vector || rhs.kind() != Kind::Vector) {
        return Err(format!("set operator {} not allowed in binary scalar expression", b.op));
    }
    Ok(Plan::Binary(Box::new(BinaryPlan {
        op,
        lhs,
        rhs,
        return_bool,
        matching,
    })))
}

pub(super) fn aggregate(a: &pp::AggregateExpr, translate: Translate) -> Result<Plan, String> {
    let op = agg_op(a.op.id()).ok_or_else(|| format!("aggregation {}() is not supported", a.op))?;
    let expr = translate(&a.expr)?;
    if expr.kind() != Kind::Vector {
        return Err(format!("expected instant vector in aggregation {}()", a.op));
    }
    let param = match &a.param {
        Some(p) => Some(translate(p)?),
        None => None,
    };
    let want = match op {
        AggOp::Topk | AggOp::Bottomk | AggOp::Quantile => Some(Kind::Scalar),
        AggOp::CountValues => Some(Kind::String),
        _ => None,
    };
    if want != param.as_ref().map(Plan::kind) {
        return Err(format!("wrong parameter for aggregation {}()", a.op));
    }
    let grouping = match &a.modifier {
        Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
        None => Grouping::By(vec![]),
    };
    Ok(Plan::Aggregate(Box::new(AggPlan {
        op,
        expr,
        param,
        grouping,
    })))
}
