//! Translation of binary operators and aggregations (split from `plan` for size).

use promql_parser::parser::token::*;
use promql_parser::parser::{self as pp, Expr, LabelModifier, VectorMatchCardinality as PCard};

use super::plan::{AggOp, AggPlan, BinOp, BinaryPlan, Card, Grouping, Kind, Matching};
use super::Plan;

type Translate = fn(&Expr) -> Result<Plan, String>;

pub(super) fn binary(b: &pp::BinaryExpr, translate: Translate) -> Result<Plan, String> {
    let op =
        bin_op(b.op.id()).ok_or_else(|| format!("binary operator {} is not supported", b.op))?;
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
    if op.is_comparison()
        && !return_bool
        && lhs.kind() == Kind::Scalar
        && rhs.kind() == Kind::Scalar
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
        return Err(format!(
            "set operator {} not allowed in binary scalar expression",
            b.op
        ));
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

/// Token ids of binary operators and aggregations.
fn bin_op(id: u16) -> Option<BinOp> {
    Some(match id {
        T_ADD => BinOp::Add,
        T_SUB => BinOp::Sub,
        T_MUL => BinOp::Mul,
        T_DIV => BinOp::Div,
        T_MOD => BinOp::Mod,
        T_POW => BinOp::Pow,
        T_ATAN2 => BinOp::Atan2,
        T_EQLC => BinOp::Eq,
        T_NEQ => BinOp::Ne,
        T_GTR => BinOp::Gt,
        T_LSS => BinOp::Lt,
        T_GTE => BinOp::Ge,
        T_LTE => BinOp::Le,
        T_LAND => BinOp::And,
        T_LOR => BinOp::Or,
        T_LUNLESS => BinOp::Unless,
        _ => return None,
    })
}

fn agg_op(id: u16) -> Option<AggOp> {
    Some(match id {
        T_SUM => AggOp::Sum,
        T_AVG => AggOp::Avg,
        T_MIN => AggOp::Min,
        T_MAX => AggOp::Max,
        T_COUNT => AggOp::Count,
        T_STDDEV => AggOp::Stddev,
        T_STDVAR => AggOp::Stdvar,
        T_TOPK => AggOp::Topk,
        T_BOTTOMK => AggOp::Bottomk,
        T_QUANTILE => AggOp::Quantile,
        T_COUNT_VALUES => AggOp::CountValues,
        T_GROUP => AggOp::Group,
        _ => return None,
    })
}
