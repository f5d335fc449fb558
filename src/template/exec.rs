//! Executes a parsed template against the alert data, with Go's scoping, truth and
//! `missingkey=zero` rules (a missing label reads as "").

use super::funcs::{self, truth};
use super::gofmt::{sprint, type_name};
use super::parse::{Arg, Node, Pipeline};
use super::{Data, Value};

pub struct Exec<'a> {
    data: &'a Data,
    vars: Vec<(String, Value)>,
    out: String,
}

pub fn run(nodes: &[Node], data: &Data) -> Result<String, String> {
    let mut ex = Exec {
        data,
        vars: vec![
            ("$".into(), Value::Root),
            ("$labels".into(), Value::Map(data.labels.clone())),
            (
                "$externalLabels".into(),
                Value::Map(data.external_labels.clone()),
            ),
            ("$externalURL".into(), Value::Str(data.external_url.clone())),
            ("$value".into(), Value::Float(data.value)),
            ("$inputs".into(), Value::Floats(data.inputs.clone())),
        ],
        out: String::new(),
    };
    ex.nodes(nodes, &Value::Root)?;
    Ok(ex.out)
}

impl Exec<'_> {
    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        match v {
                            Value::Nil => self.out.push_str("<no value>"),
                            v => self.out.push_str(&sprint(&v)),
                        }
                    }
                }
                Node::If(branches, else_body) => {
                    let scope = self.vars.len();
                    let mut done = false;
                    for (is_with, pipe, body) in branches {
                        let v = self.pipeline(pipe, dot)?;
                        if truth(&v) {
                            let d = if *is_with { v } else { dot.clone() };
                            self.nodes(body, &d)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.nodes(else_body, dot)?;
                    }
                    self.vars.truncate(scope);
                }
                Node::Range(pipe, body, else_body) => self.range(pipe, body, else_body, dot)?,
            }
        }
        Ok(())
    }

    fn range(
        &mut self,
        pipe: &Pipeline,
        body: &[Node],
        else_body: &[Node],
        dot: &Value,
    ) -> Result<(), String> {
        let scope = self.vars.len();
        let bare = Pipeline {
            decl: vec![],
            assign: false,
            cmds: pipe.cmds.clone(),
        };
        let entries: Vec<(String, Value)> = match self.pipeline(&bare, dot)? {
            Value::Map(m) => (m.iter())
                .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                .collect(),
            Value::Floats(m) => (m.iter())
                .map(|(k, v)| (k.clone(), Value::Float(*v)))
                .collect(),
            Value::Nil => vec![],
            v => return Err(format!("range can't iterate over {}", sprint(&v))),
        };
        if entries.is_empty() {
            self.nodes(else_body, dot)?;
        }
        for (k, v) in entries {
            self.vars.truncate(scope);
            match pipe.decl.as_slice() {
                [e] => self.vars.push((e.clone(), v.clone())),
                [kn, e] => {
                    self.vars.push((kn.clone(), Value::Str(k)));
                    self.vars.push((e.clone(), v.clone()));
                }
                _ => {}
            }
            self.nodes(body, &v)?;
        }
        self.vars.truncate(scope);
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, String> {
        let mut last: Option<Value> = None;
        for cmd in &p.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        let v = last.unwrap_or(Value::Nil);
        for name in &p.decl {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(&mut self, cmd: &[Arg], dot: &Value, piped: Option<Value>) -> Result<Value, String> {
        let Arg::Func(name) = &cmd[0] else {
            if piped.is_some() {
                return Err("can't give argument to non-function".into());
            }
            return self.arg(&cmd[0], dot);
        };
        let at = |e: String| {
            if e.starts_with("wrong") {
                format!("at <{name}>: {e}")
            } else {
                format!("at <{name}>: error calling {name}: {e}")
            }
        };
        if name == "and" || name == "or" {
            let n = cmd.len() - 1 + usize::from(piped.is_some());
            if n == 0 {
                return Err(at(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                )));
            }
            let mut v = Value::Nil;
            let mut piped = piped;
            for i in 0..n {
                v = match cmd.get(i + 1) {
                    Some(a) => self.arg(a, dot)?,
                    None => piped.take().unwrap_or(Value::Nil),
                };
                if truth(&v) == (name == "or") {
                    return Ok(v);
                }
            }
            return Ok(v);
        }
        let mut args = Vec::with_capacity(cmd.len());
        for a in &cmd[1..] {
            args.push(self.arg(a, dot)?);
        }
        args.extend(piped);
        funcs::call(name, &args, &self.data.external_url).map_err(at)
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, String> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Field(chain) => self.chain(dot.clone(), chain)?,
            Arg::Var(name, chain) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable: {name}"))?;
                self.chain(v, chain)?
            }
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
            Arg::Func(name) => self.command(&[Arg::Func(name.clone())], dot, None)?,
            Arg::Sub(p) => self.pipeline(p, dot)?,
        })
    }

    fn chain(&self, mut v: Value, chain: &[String]) -> Result<Value, String> {
        for name in chain {
            v = match v {
                Value::Root => match name.as_str() {
                    "Labels" => Value::Map(self.data.labels.clone()),
                    "ExternalLabels" => Value::Map(self.data.external_labels.clone()),
                    "ExternalURL" => Value::Str(self.data.external_url.clone()),
                    "Value" => Value::Float(self.data.value),
                    "Inputs" => Value::Floats(self.data.inputs.clone()),
                    _ => return Err(format!("can't evaluate field {name} in type struct")),
                },
                Value::Map(m) => Value::Str(m.get(name).cloned().unwrap_or_default()),
                Value::Floats(m) => Value::Float(m.get(name).copied().unwrap_or_default()),
                Value::Nil => return Err(format!("nil pointer evaluating interface {{}}.{name}")),
                other => {
                    return Err(format!(
                        "can't evaluate field {name} in type {}",
                        type_name(&other)
                    ))
                }
            };
        }
        Ok(v)
    }
}
