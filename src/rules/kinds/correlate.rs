//! `correlate:` — named PromQL inputs joined on labels and aligned in time, and an `evalexpr`
//! condition over the input names: one alert per joined label set where the condition holds.
//!
//! ```yaml
//! correlate:
//!   inputs: {err: 'job:errors:ratio', cpu: 'zabbix_cpu_load'}
//!   on: [instance]          # default: the labels all inputs share
//!   window: 10s             # default 1m
//!   condition: err > 0.5 && cpu > 4
//! ```
//!
//! Each input is evaluated at the rule's time with a lookback of `window`: its newest sample
//! within the window, so inputs sampled up to `window` apart align. The alert's labels are the
//! join labels, `$value` is the first input's value and `$inputs.<name>` every input's value.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use evalexpr::{ContextWithMutableVariables, EvalexprError, HashMapContext, Value as EValue};

use super::common::{self, by_key, decode_on, decode_positive, decode_query, Query};
use super::{Def, Input, Output, Spec};
use crate::config::yaml;
use crate::config::yaml::{Decoder, Node};
use crate::promql::{Plan, Sample};
use crate::rules::alert::EvalInput;
use crate::store::select::Queryable;

pub const KIND: Def = Def {
    key: "correlate",
    metrics: &[],
    decode,
};

const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Correlate {
    /// In file order; the first one's value is `$value`.
    inputs: Vec<(String, Query)>,
    on: Option<Vec<String>>,
    window_ms: i64,
    condition_text: String,
    condition: evalexpr::Node,
}

fn decode(d: &mut Decoder, n: &Node, path: &str) -> Option<Arc<dyn Spec>> {
    let before = d.diags.len();
    let mut f = d.map(n, path)?;
    let mut inputs = Vec::new();
    match f.get("inputs") {
        None => d.error(n.pos, path, "field 'inputs' must be set"),
        Some(v) => {
            let at = format!("{path}: inputs");
            if let (Some(_), yaml::Value::Map(entries)) = (d.map(v, &at), &v.value) {
                if entries.is_empty() {
                    d.error(v.pos, &at, "at least one input is needed");
                }
                for (k, val) in entries {
                    let Some(name) = k.scalar() else { continue };
                    if !common::valid_input_name(name) {
                        let msg =
                            format!("invalid input name {name:?} (want [a-zA-Z_][a-zA-Z0-9_]*)");
                        d.error(k.pos, &at, msg);
                    } else if let Some(q) = decode_query(d, val, &format!("{at}: {name}")) {
                        inputs.push((name.to_string(), q));
                    }
                }
            }
        }
    }
    // Names in the condition are checked only against inputs that all decoded.
    let inputs_ok = !inputs.is_empty() && d.diags.len() == before;
    let on = decode_on(d, &mut f, path);
    let window = decode_positive(d, &mut f, path, "window", DEFAULT_WINDOW);
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    let condition = match f.get("condition") {
        None => {
            d.error(n.pos, path, "field 'condition' must be set");
            None
        }
        Some(v) => {
            let at = format!("{path}: condition");
            let known = inputs_ok.then_some(names.as_slice());
            d.string(v, &at)
                .and_then(|text| match compile(&text, known) {
                    Ok(node) => Some((text, node)),
                    Err(e) => {
                        d.error(v.pos, &at, e);
                        None
                    }
                })
        }
    };
    f.finish(d, "correlate");
    let (condition_text, condition) = condition?;
    if d.diags.len() > before {
        return None;
    }
    Some(Arc::new(Correlate {
        inputs,
        on,
        window_ms: window.as_millis() as i64,
        condition_text,
        condition,
    }))
}

/// Compiles a condition: it must parse, read only input names, call only `evalexpr`'s
/// built-in functions, assign nothing, and give a boolean (tried with every input at 1).
/// Without `inputs` (they had problems of their own) only the syntax is checked.
fn compile(text: &str, inputs: Option<&[&str]>) -> Result<evalexpr::Node, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let node = evalexpr::build_operator_tree(text).map_err(|e| format!("could not parse: {e}"))?;
    if let Some(w) = node.iter_write_variable_identifiers().next() {
        return Err(format!("must not assign (to {w:?})"));
    }
    let Some(inputs) = inputs else {
        return Ok(node);
    };
    let known: BTreeSet<&str> = inputs.iter().copied().collect();
    for v in node.iter_read_variable_identifiers() {
        if !known.contains(v) {
            let list = inputs.join(", ");
            return Err(format!("unknown input {v:?} (inputs: {list})"));
        }
    }
    for f in node.iter_function_identifiers() {
        let probe = evalexpr::build_operator_tree(&format!("{f}()"))
            .map_err(|e| format!("could not parse: {e}"))?;
        if let Err(EvalexprError::FunctionIdentifierNotFound(_)) = probe.eval() {
            return Err(format!("unknown function {f:?}"));
        }
    }
    let ones: Vec<f64> = vec![1.0; inputs.len()];
    match holds(&node, inputs, &ones) {
        Err(EvalexprError::ExpectedBoolean { actual }) => Err(format!(
            "must give true or false (with every input at 1 it gives {actual})"
        )),
        Err(e) => Err(format!("with every input at 1: {e}")),
        Ok(_) => Ok(node),
    }
}

/// The condition with each input name bound to its value.
fn holds(node: &evalexpr::Node, names: &[&str], values: &[f64]) -> Result<bool, EvalexprError> {
    let mut ctx = HashMapContext::new();
    for (n, v) in names.iter().zip(values) {
        ctx.set_value((*n).to_string(), EValue::Float(*v))?;
    }
    node.eval_boolean_with_context(&ctx)
}

impl Spec for Correlate {
    fn build(self: Arc<Self>, _rule: &str) -> Box<dyn Input> {
        Box::new(State { spec: self })
    }

    fn plans(&self) -> Vec<&Plan> {
        self.inputs.iter().map(|(_, q)| &q.plan).collect()
    }

    fn text(&self) -> String {
        let inputs: Vec<String> = (self.inputs.iter())
            .map(|(n, q)| format!("{n}: {}", q.text))
            .collect();
        let on = match &self.on {
            Some(on) => format!(" on ({})", on.join(", ")),
            None => String::new(),
        };
        format!(
            "{{{}}}{on} within {} if {}",
            inputs.join(", "),
            yaml::format_duration(Duration::from_millis(self.window_ms as u64)),
            self.condition_text
        )
    }
}

/// Correlate rules learn nothing: the state is the spec.
#[derive(Debug)]
struct State {
    spec: Arc<Correlate>,
}

impl Input for State {
    fn eval(&mut self, t: i64, q: &dyn Queryable) -> Output {
        let c = &self.spec;
        let mut results = Vec::with_capacity(c.inputs.len());
        let mut absent = false;
        for (name, input) in &c.inputs {
            match common::instant(&input.plan, t, q, c.window_ms) {
                Ok(Some(v)) => results.push(v),
                Ok(None) => absent = true,
                Err(e) => return Output::new(EvalInput::Error(format!("input {name}: {e}"))),
            }
        }
        if absent {
            return Output::new(EvalInput::NoData);
        }
        match join(c, results) {
            Ok(out) => out,
            Err(e) => Output::new(EvalInput::Error(e)),
        }
    }
}

/// Joins the inputs' results and keeps the label sets where the condition holds.
fn join(c: &Correlate, results: Vec<Vec<Sample>>) -> Result<Output, String> {
    let on = match &c.on {
        Some(on) => on.clone(),
        None => common::shared_names(
            (results.iter()).map(|r| r.iter().map(|s| &s.labels).collect::<Vec<_>>()),
        ),
    };
    let mut maps = Vec::with_capacity(results.len());
    for ((name, _), r) in c.inputs.iter().zip(results) {
        maps.push(by_key(
            name,
            r.into_iter().map(|s| (s.labels, s.value)),
            &on,
        )?);
    }
    let names: Vec<&str> = c.inputs.iter().map(|(n, _)| n.as_str()).collect();
    let mut out = Output::new(EvalInput::Ok(Vec::new()));
    let mut samples = Vec::new();
    'keys: for (key, first) in &maps[0] {
        let mut values = vec![*first];
        for m in &maps[1..] {
            match m.get(key) {
                Some(v) => values.push(*v),
                None => continue 'keys,
            }
        }
        if !holds(&c.condition, &names, &values).map_err(|e| format!("condition: {e}"))? {
            continue;
        }
        samples.push(Sample {
            labels: key.clone(),
            value: values[0],
        });
        let named = names.iter().map(|n| n.to_string()).zip(values).collect();
        out.inputs.insert(key.clone(), Arc::new(named));
    }
    out.result = EvalInput::Ok(samples);
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! `correlate` evaluated over a `MemStore`: joining, the time window, the condition, `$value`
    //! and `$inputs` in templates, absent inputs and ambiguous joins.

    use crate::model::labels::sorted as l;
    use crate::model::Labels;
    use crate::rules::alert::{AlertState, EvalInput};
    use crate::rules::eval::{eval_group_mem, Env, Health, RuleState};
    use crate::rules::file::{parse, Group};
    use crate::store::memstore::MemStore;

    fn group(correlate: &str, extra: &str) -> Group {
        let text = format!(
        "groups:\n  - name: g\n    rules:\n      - alert: Both\n        correlate: {correlate}\n{extra}        annotations: {{summary: 'err={{{{ $inputs.err }}}} cpu={{{{ .Inputs.cpu }}}} v={{{{ $value }}}}'}}\n"
    );
        parse("r.yml", &text).unwrap().groups.remove(0)
    }

    fn state(g: &Group) -> Vec<RuleState> {
        vec![RuleState::new(&g.rules[0], 0, &Env::default()).unwrap()]
    }

    /// (labels, state, summary) of every alert.
    fn alerts(st: &[RuleState]) -> Vec<(Labels, AlertState, String)> {
        let a = st[0].alert.as_ref().unwrap();
        a.alerts()
            .map(|a| {
                let summary = crate::model::labels::get(&a.annotations, "summary").unwrap_or("");
                (a.labels.clone(), a.state, summary.to_string())
            })
            .collect()
    }


    const TWO: &str =
        "{inputs: {err: err_ratio, cpu: cpu_load}, window: 10s, condition: err > 0.5 && cpu > 4}";

    #[test]
    fn fires_per_joined_label_set_where_the_condition_holds() {
        let g = group(TWO, "");
        let mut s = MemStore::new();
        // Host a: both high, sampled 8 s apart. Host b: only err high. Host c: cpu only.
        s.add(
            &[("__name__", "err_ratio"), ("instance", "a"), ("job", "app")],
            &[(0, 0.7)],
        );
        s.add(
            &[("__name__", "cpu_load"), ("instance", "a"), ("cpu", "all")],
            &[(8_000, 6.0)],
        );
        s.add(
            &[("__name__", "err_ratio"), ("instance", "b"), ("job", "app")],
            &[(0, 0.9)],
        );
        s.add(
            &[("__name__", "cpu_load"), ("instance", "b"), ("cpu", "all")],
            &[(8_000, 1.0)],
        );
        s.add(
            &[("__name__", "cpu_load"), ("instance", "c"), ("cpu", "all")],
            &[(8_000, 9.0)],
        );
        let mut st = state(&g);
        assert!(eval_group_mem(&g, &mut st, 9_000, &mut s).is_empty());
        // The default `on` is what both inputs share: instance (not job, not cpu).
        assert_eq!(
            alerts(&st),
            [(
                l(&[("alertname", "Both"), ("instance", "a")]),
                AlertState::Firing,
                "err=0.7 cpu=6 v=0.7".to_string()
            )]
        );
        // 11 s: err's sample (t=0) left the 10 s window, so err is absent: no data, which
        // (without `no_data`) resolves like an empty result.
        assert!(eval_group_mem(&g, &mut st, 11_000, &mut s).is_empty());
        let a = alerts(&st);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].1, AlertState::Inactive);
    }

    #[test]
    fn explicit_on_ambiguity_and_no_data() {
        let on_job =
            "{inputs: {err: err_ratio, cpu: cpu_load}, on: [job], condition: err > 0.5 && cpu > 4}";
        let g = group(on_job, "        no_data: alerting\n");
        let mut s = MemStore::new();
        s.add(
            &[("__name__", "err_ratio"), ("job", "app"), ("i", "1")],
            &[(0, 0.7)],
        );
        s.add(&[("__name__", "cpu_load"), ("job", "app")], &[(0, 5.0)]);
        let mut st = state(&g);
        eval_group_mem(&g, &mut st, 0, &mut s);
        assert_eq!(
            alerts(&st)[0].0,
            l(&[("alertname", "Both"), ("job", "app")])
        );
        // A second err series for job="app": which one pairs with cpu? An error, not a guess.
        s.add(
            &[("__name__", "err_ratio"), ("job", "app"), ("i", "2")],
            &[(1_000, 0.1)],
        );
        let errs = eval_group_mem(&g, &mut st, 1_000, &mut s);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .1
                .starts_with(r#"input err: several series match {job="app"} on (job)"#),
            "{errs:?}"
        );
        assert_eq!(st[0].health, Health::Err);
        // Both inputs gone past the window: `no_data: alerting` raises the reason alert.
        eval_group_mem(&g, &mut st, 200_000, &mut s);
        let a = alerts(&st);
        assert!(
        a.iter()
            .any(|(l, _, _)| crate::model::labels::get(l, "telltale_reason") == Some("no_data")),
        "{a:?}"
    );
    }

    #[test]
    fn the_kind_output_feeds_the_lifecycle() {
        use crate::store::select::Queryable;
        let g = group(TWO, "        for: 2m\n");
        let mut st = state(&g);
        let mut s = MemStore::new();
        for t in (0..=180_000).step_by(10_000) {
            s.add(&[("__name__", "err_ratio")], &[(t, 0.8)]);
            s.add(&[("__name__", "cpu_load")], &[(t + 5_000, 5.0)]);
        }
        let q: &dyn Queryable = &s;
        let k = st[0].kind.as_mut().unwrap();
        let out = k.eval(60_000, q);
        assert_eq!(
            out.result,
            EvalInput::Ok(vec![crate::promql::Sample {
                labels: vec![],
                value: 0.8
            }])
        );
        assert_eq!(out.inputs[&Vec::new()].get("cpu"), Some(&5.0));
        assert!(out.series.is_empty() && k.save().is_none());
        // `for: 2m`: pending until two minutes of the condition holding.
        for (t, want) in [
            (60_000, AlertState::Pending),
            (150_000, AlertState::Pending),
            (180_000, AlertState::Firing),
        ] {
            eval_group_mem(&g, &mut st, t, &mut s);
            assert_eq!(alerts(&st)[0].1, want, "at {t}");
        }
    }
}
