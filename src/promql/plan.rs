//! Translation of `promql-parser`'s AST into our own plan. Everything not listed here is refused
//! with an error naming the construct, so an unsupported query never yields a wrong answer.

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self as pp, Expr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::labels::{is_label_name, NAME};
use crate::store::select::{MatchOp, Matcher};

#[derive(Clone, Debug)]
pub enum Plan {
    Number(f64),
    Str(String),
    Selector(Selector),
    /// A range (matrix) selector with its range in ms.
    Range(Selector, i64),
    Neg(Box<Plan>),
    Binary(Box<BinaryPlan>),
    Aggregate(Box<AggPlan>),
    Call(Func, Vec<Plan>),
    LabelReplace(Box<Plan>, LabelReplace),
    LabelJoin(Box<Plan>, LabelJoin),
}

#[derive(Clone, Debug)]
pub struct Selector {
    pub matchers: Vec<Matcher>,
    pub offset_ms: i64,
    pub at: Option<At>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum At {
    Ms(i64),
    /// `@ start()` / `@ end()`: both are the evaluation time in an instant query.
    EvalTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Vector,
    Matrix,
    String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::Eq | Self::Ne | Self::Gt | Self::Lt | Self::Ge | Self::Le
        )
    }
    pub fn is_set(self) -> bool {
        matches!(self, Self::And | Self::Or | Self::Unless)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

#[derive(Clone, Debug)]
pub struct Matching {
    pub card: Card,
    /// `on(...)` when true, `ignoring(...)` (or no modifier) when false.
    pub on: bool,
    pub labels: Vec<String>,
    /// Extra labels named in `group_left(...)` / `group_right(...)`.
    pub include: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct BinaryPlan {
    pub op: BinOp,
    pub lhs: Plan,
    pub rhs: Plan,
    pub return_bool: bool,
    pub matching: Matching,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
    Group,
}

#[derive(Clone, Debug)]
pub enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct AggPlan {
    pub op: AggOp,
    pub expr: Plan,
    pub param: Option<Plan>,
    pub grouping: Grouping,
}

#[derive(Clone, Debug)]
pub struct LabelReplace {
    pub dst: String,
    pub replacement: String,
    pub src: String,
    pub regex: regex::Regex,
}

#[derive(Clone, Debug)]
pub struct LabelJoin {
    pub dst: String,
    pub sep: String,
    pub srcs: Vec<String>,
}

/// Functions other than the label ones, which carry validated arguments of their own.
macro_rules! funcs {
    ($($v:ident = $n:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Func { $($v),* }
        impl Func {
            fn from_name(s: &str) -> Option<Func> {
                match s { $($n => Some(Func::$v),)* _ => None }
            }
        }
    };
}

funcs! {
    Rate = "rate", Irate = "irate", Increase = "increase", Delta = "delta", Idelta = "idelta",
    Deriv = "deriv", PredictLinear = "predict_linear", HoltWinters = "holt_winters",
    Resets = "resets", Changes = "changes", AvgOverTime = "avg_over_time",
    MinOverTime = "min_over_time", MaxOverTime = "max_over_time", SumOverTime = "sum_over_time",
    CountOverTime = "count_over_time", QuantileOverTime = "quantile_over_time",
    StddevOverTime = "stddev_over_time", StdvarOverTime = "stdvar_over_time",
    LastOverTime = "last_over_time", PresentOverTime = "present_over_time", Absent = "absent",
    AbsentOverTime = "absent_over_time", Abs = "abs", Ceil = "ceil", Floor = "floor",
    Round = "round", Clamp = "clamp", ClampMin = "clamp_min", ClampMax = "clamp_max",
    Sqrt = "sqrt", Ln = "ln", Exp = "exp", Time = "time", Timestamp = "timestamp",
    Vector = "vector", Scalar = "scalar", HistogramQuantile = "histogram_quantile",
    Sort = "sort", SortDesc = "sort_desc",
}

impl Plan {
    pub fn kind(&self) -> Kind {
        match self {
            Plan::Number(_) => Kind::Scalar,
            Plan::Str(_) => Kind::String,
            Plan::Range(..) => Kind::Matrix,
            Plan::Neg(e) => e.kind(),
            Plan::Binary(b) if b.lhs.kind() == Kind::Scalar && b.rhs.kind() == Kind::Scalar => {
                Kind::Scalar
            }
            Plan::Call(Func::Time | Func::Scalar, _) => Kind::Scalar,
            _ => Kind::Vector,
        }
    }
}

/// Parses and validates a query. Errors name the unsupported construct.
pub fn parse(query: &str) -> Result<Plan, String> {
    register_legacy_functions();
    let expr = parse_guarded(query)?;
    translate(&expr)
}

/// The parser panics on a float duration out of `Duration`'s range (`x[1e400]`, `x[-1]`,
/// found by fuzzing); that becomes a parse error instead of a crash of whoever loads the rule.
fn parse_guarded(query: &str) -> Result<pp::Expr, String> {
    std::panic::catch_unwind(|| pp::parse(query)).unwrap_or_else(|_| {
        Err("invalid duration: negative, too large or not a number".to_string())
    })
}

/// Checks only that `query` is valid PromQL (the full language, not our subset): for
/// expressions a remote query API evaluates.
pub fn check_syntax(query: &str) -> Result<(), String> {
    register_legacy_functions();
    parse_guarded(query).map(|_| ())
}

/// `holt_winters` (Prometheus 2.x, and what promtool 2.42 knows) is absent from the parser's
/// table, which only has its 3.x name `double_exponential_smoothing`.
fn register_legacy_functions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use pp::value::ValueType as T;
        let f = pp::Function::new(
            "holt_winters",
            vec![T::Matrix, T::Scalar, T::Scalar],
            0,
            T::Vector,
            false,
        );
        let _ = pp::register_extra_functions(vec![f]);
    });
}

fn translate(e: &Expr) -> Result<Plan, String> {
    Ok(match e {
        Expr::NumberLiteral(n) => Plan::Number(n.val),
        Expr::StringLiteral(s) => Plan::Str(s.val.clone()),
        Expr::Paren(p) => translate(&p.expr)?,
        Expr::Unary(u) => Plan::Neg(Box::new(translate(&u.expr)?)),
        Expr::VectorSelector(vs) => Plan::Selector(selector(vs)?),
        Expr::MatrixSelector(ms) => Plan::Range(selector(&ms.vs)?, dur_ms(&ms.range)),
        Expr::Subquery(_) => return Err("subqueries are not supported".into()),
        Expr::Extension(_) => return Err("extension expressions are not supported".into()),
        Expr::Binary(b) => super::plan_binary::binary(b, translate)?,
        Expr::Aggregate(a) => super::plan_binary::aggregate(a, translate)?,
        Expr::Call(c) => call(c)?,
    })
}

fn dur_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn selector(vs: &pp::VectorSelector) -> Result<Selector, String> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err("`or` between label matchers is not supported".into());
    }
    let mut matchers = Vec::new();
    if let Some(name) = &vs.name {
        matchers.push(Matcher {
            name: NAME.into(),
            op: MatchOp::Eq(name.clone()),
        });
    }
    for m in &vs.matchers.matchers {
        let op = match &m.op {
            PMatchOp::Equal => MatchOp::Eq(m.value.clone()),
            PMatchOp::NotEqual => MatchOp::Ne(m.value.clone()),
            PMatchOp::Re(r) => MatchOp::Re(r.clone()),
            PMatchOp::NotRe(r) => MatchOp::NotRe(r.clone()),
        };
        matchers.push(Matcher {
            name: m.name.clone(),
            op,
        });
    }
    let offset_ms = match &vs.offset {
        None => 0,
        Some(pp::Offset::Pos(d)) => dur_ms(d),
        Some(pp::Offset::Neg(d)) => -dur_ms(d),
    };
    let at = match &vs.at {
        None => None,
        Some(pp::AtModifier::Start | pp::AtModifier::End) => Some(At::EvalTime),
        Some(pp::AtModifier::At(t)) => Some(At::Ms(system_time_ms(t))),
    };
    Ok(Selector {
        matchers,
        offset_ms,
        at,
    })
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

fn string_arg(e: &Expr, what: &str) -> Result<String, String> {
    match e {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        Expr::Paren(p) => string_arg(&p.expr, what),
        _ => Err(format!("{what} must be a string literal")),
    }
}

fn call(c: &pp::Call) -> Result<Plan, String> {
    let name = c.func.name;
    let args = &c.args.args;
    match name {
        "label_replace" => {
            let dst = string_arg(&args[1], "label_replace destination")?;
            let replacement = string_arg(&args[2], "label_replace replacement")?;
            let src = string_arg(&args[3], "label_replace source")?;
            let re = string_arg(&args[4], "label_replace regex")?;
            let regex = regex::Regex::new(&format!("^(?:{re})$"))
                .map_err(|e| format!("invalid regular expression in label_replace(): {re}: {e}"))?;
            if !is_label_name(&dst) {
                return Err(format!(
                    "invalid destination label name in label_replace(): {dst}"
                ));
            }
            let lr = LabelReplace {
                dst,
                replacement,
                src,
                regex,
            };
            Ok(Plan::LabelReplace(Box::new(translate(&args[0])?), lr))
        }
        "label_join" => {
            let dst = string_arg(&args[1], "label_join destination")?;
            let sep = string_arg(&args[2], "label_join separator")?;
            let mut srcs = Vec::new();
            for a in &args[3..] {
                let s = string_arg(a, "label_join source")?;
                if !is_label_name(&s) {
                    return Err(format!("invalid source label name in label_join(): {s}"));
                }
                srcs.push(s);
            }
            if !is_label_name(&dst) {
                return Err(format!(
                    "invalid destination label name in label_join(): {dst}"
                ));
            }
            let lj = LabelJoin { dst, sep, srcs };
            Ok(Plan::LabelJoin(Box::new(translate(&args[0])?), lj))
        }
        "double_exponential_smoothing" => plain_call(Func::HoltWinters, args),
        _ => match Func::from_name(name) {
            Some(f) => plain_call(f, args),
            None => Err(format!("function {name}() is not supported")),
        },
    }
}

fn plain_call(f: Func, args: &[Box<Expr>]) -> Result<Plan, String> {
    let args = args
        .iter()
        .map(|a| translate(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan::Call(f, args))
}
