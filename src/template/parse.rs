//! Lexer and parser for the Go `text/template` subset rule files use. Everything Go would reject
//! at parse time (unknown functions, undefined variables, unbalanced blocks) is rejected here, so
//! a bad template is a load-time error, as with Prometheus' rule validation.

use super::funcs;
use super::lex::{lex, Item, Tok};

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Dot,
    /// `.A.b`: a field chain on dot.
    Field(Vec<String>),
    /// `$x.a.b` (`$` alone is the root data).
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    Sub(Box<Pipeline>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`) by this pipeline.
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Vec<Arg>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipeline),
    /// `if`/`with`: branches tried in order (`else if`/`else with` chain), then `else`.
    If(Vec<(bool, Pipeline, Vec<Node>)>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

/// Where a node list stopped: at `{{end}}`/`{{else}}` (keyword, line) or at the end.
type Stop = Option<(String, usize)>;

struct Parser {
    items: Vec<Item>,
    pos: usize,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
}

/// Parses a template. Errors read like Go's: `LINE: message`.
pub fn parse(src: &str) -> Result<Vec<Node>, String> {
    let mut p = Parser {
        items: lex(src)?,
        pos: 0,
        vars: [
            "$",
            "$labels",
            "$externalLabels",
            "$externalURL",
            "$value",
            "$inputs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    };
    let (nodes, stop) = p.list()?;
    match stop {
        None => Ok(nodes),
        Some((kw, line)) => Err(format!("{line}: unexpected {{{{{kw}}}}}")),
    }
}

impl Parser {
    /// Parses nodes until `{{end}}`/`{{else ...}}` (returned, with the rest of that action's
    /// tokens left in `self.items[pos-1]`) or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), String> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            self.pos += 1;
            let (toks, line) = match &self.items[self.pos - 1] {
                Item::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Item::Action(t, l) => (t.clone(), *l),
            };
            let err = |e: String| format!("{line}: {e}");
            match toks.first() {
                Some(Tok::Ident(kw)) if kw == "end" || kw == "else" => {
                    if let Item::Action(t, _) = &mut self.items[self.pos - 1] {
                        t.remove(0);
                    }
                    return Ok((nodes, Some((kw.clone(), line))));
                }
                Some(Tok::Ident(kw)) if kw == "if" || kw == "with" || kw == "range" => {
                    let node = self.block(kw.clone(), &toks[1..], line)?;
                    nodes.push(node);
                }
                Some(Tok::Ident(kw))
                    if ["define", "template", "block", "break", "continue"].contains(&&**kw) =>
                {
                    return Err(err(format!("{{{{{kw}}}}} is not supported by telltale")));
                }
                None => return Err(err("missing value for command".into())),
                _ => {
                    let p = self.pipeline(&toks).map_err(err)?;
                    nodes.push(Node::Action(p));
                }
            }
        }
        Ok((nodes, None))
    }

    fn block(&mut self, kw: String, toks: &[Tok], line: usize) -> Result<Node, String> {
        let scope = self.vars.len();
        // Go names the block in this one message.
        let pipe = self.pipeline(toks).map_err(|e| match e.as_str() {
            "missing value for command" => format!("{line}: missing value for {kw}"),
            _ => format!("{line}: {e}"),
        })?;
        if pipe.assign {
            return Err(format!("{line}: unexpected assignment in {kw}"));
        }
        let (body, stop) = self.list()?;
        let mut else_body = Vec::new();
        let mut branches = vec![(kw == "with", pipe, body)];
        let mut stop = stop;
        loop {
            match stop {
                None => return Err(format!("{line}: unexpected EOF in {kw}")),
                Some((ref s, _)) if s == "end" => break,
                Some((_, eline)) => {
                    let rest = match &self.items[self.pos - 1] {
                        Item::Action(t, _) => t.clone(),
                        Item::Text(_) => Vec::new(),
                    };
                    match rest.first() {
                        Some(Tok::Ident(k)) if (k == "if" || k == "with") && kw != "range" => {
                            self.vars.truncate(scope);
                            let p = self
                                .pipeline(&rest[1..])
                                .map_err(|e| format!("{eline}: {e}"))?;
                            let (b, s) = self.list()?;
                            branches.push((k == "with", p, b));
                            stop = s;
                        }
                        Some(_) => return Err(format!("{eline}: unexpected tokens after else")),
                        None => {
                            let (b, s) = self.list()?;
                            else_body = b;
                            match s {
                                Some((ref e, _)) if e == "end" => break,
                                _ => return Err(format!("{eline}: expected end after else")),
                            }
                        }
                    }
                }
            }
        }
        self.vars.truncate(scope);
        Ok(if kw == "range" {
            let (_, p, b) = branches.pop().expect("one branch");
            Node::Range(p, b, else_body)
        } else {
            Node::If(branches, else_body)
        })
    }

    fn pipeline(&mut self, toks: &[Tok]) -> Result<Pipeline, String> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut i = 0;
        // `$a :=`, `$a, $b :=` or `$a =`.
        let mut j = 0;
        let mut names = Vec::new();
        while let Some(Tok::Arg(Arg::Var(n, chain))) = toks.get(j) {
            if !chain.is_empty() {
                break;
            }
            names.push(n.clone());
            j += 1;
            if toks.get(j) == Some(&Tok::Comma) {
                j += 1;
            } else {
                break;
            }
        }
        if !names.is_empty() && matches!(toks.get(j), Some(Tok::Declare) | Some(Tok::Assign)) {
            assign = toks[j] == Tok::Assign;
            if assign {
                for n in &names {
                    if !self.vars.contains(n) {
                        return Err(format!("undefined variable {n:?}"));
                    }
                }
            }
            decl = names;
            i = j + 1;
        }
        let (p, used) = self.commands(&toks[i..])?;
        if used != toks.len() - i {
            return Err("unexpected \")\" in command".into());
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipeline {
            decl,
            assign,
            cmds: p,
        })
    }

    /// Commands separated by `|`, stopping at an unmatched `)`. Returns tokens consumed.
    fn commands(&mut self, toks: &[Tok]) -> Result<(Vec<Vec<Arg>>, usize), String> {
        let mut cmds = Vec::new();
        let mut cur: Vec<Arg> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::RParen => break,
                Tok::Pipe => {
                    if cur.is_empty() {
                        return Err("missing command".into());
                    }
                    cmds.push(std::mem::take(&mut cur));
                    i += 1;
                    continue;
                }
                Tok::LParen => {
                    let (sub, n) = self.commands(&toks[i + 1..])?;
                    if toks.get(i + 1 + n) != Some(&Tok::RParen) {
                        return Err("unclosed left paren".into());
                    }
                    if sub.is_empty() {
                        return Err("missing command".into());
                    }
                    cur.push(Arg::Sub(Box::new(Pipeline {
                        decl: vec![],
                        assign: false,
                        cmds: sub,
                    })));
                    i += n + 2;
                    continue;
                }
                Tok::Ident(name) => {
                    if let Some(msg) = funcs::unsupported(name) {
                        return Err(msg);
                    }
                    if !funcs::known(name) {
                        return Err(format!("function {name:?} not defined"));
                    }
                    cur.push(Arg::Func(name.clone()));
                }
                Tok::Arg(Arg::Var(n, chain)) => {
                    if !self.vars.contains(n) {
                        return Err(format!("undefined variable {n:?}"));
                    }
                    cur.push(Arg::Var(n.clone(), chain.clone()));
                }
                Tok::Arg(a) => cur.push(a.clone()),
                Tok::Declare | Tok::Assign | Tok::Comma => {
                    return Err("unexpected declaration or comma in command".into())
                }
            }
            i += 1;
        }
        if !cur.is_empty() {
            cmds.push(cur);
        } else if !cmds.is_empty() {
            return Err("missing command".into());
        }
        for c in &cmds {
            if c.len() > 1 && !matches!(c[0], Arg::Func(_)) {
                return Err("can't give argument to non-function".into());
            }
        }
        if cmds.is_empty() && i == toks.len() {
            return Err("missing value for command".into());
        }
        Ok((cmds, i))
    }
}
