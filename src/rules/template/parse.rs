//! Lexer and parser for the Go `text/template` subset rule files use. Everything Go would reject
//! at parse time (unknown functions, undefined variables, unbalanced blocks) is rejected here, so
//! a bad template is a load-time error, as with Prometheus' rule validation.

use super::funcs;

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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Arg(Arg),
    Ident(String),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// One lexed item: text, or an action's tokens with its line number.
enum Item {
    Text(String),
    Action(Vec<Tok>, usize),
}

const SPACE: &[char] = &[' ', '\t', '\r', '\n'];

fn lex(src: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos <= src.len() {
        let rest = &src[pos..];
        let open = rest.find("{{").unwrap_or(rest.len());
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start_matches(SPACE);
        }
        let after = &rest[open..];
        let trim_left = after.starts_with("{{-") && after[3..].starts_with(SPACE);
        if trim_left {
            text = text.trim_end_matches(SPACE);
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        if open == rest.len() {
            break;
        }
        let line = 1 + src[..pos + open].matches('\n').count();
        let start = pos + open + if trim_left { 3 } else { 2 };
        let (toks, end, trim_right) = lex_action(src, start).map_err(|e| format!("{line}: {e}"))?;
        if let Some(t) = toks {
            items.push(Item::Action(t, line));
        }
        trim_next = trim_right;
        pos = end;
    }
    Ok(items)
}

/// Lexes one action from `start` (just past `{{` / `{{-`). Returns its tokens (None for a
/// comment), the offset after `}}` and whether the action ends with a trim marker.
fn lex_action(src: &str, start: usize) -> Result<(Option<Vec<Tok>>, usize, bool), String> {
    let b = src.as_bytes();
    let mut i = start;
    let close = |i: usize| -> Option<(usize, bool)> {
        let r = &src[i..];
        if r.starts_with("}}") {
            Some((i + 2, false))
        } else if r.starts_with("-}}") && i > start && SPACE.contains(&(b[i - 1] as char)) {
            Some((i + 3, true))
        } else {
            None
        }
    };
    let body = src[i..].trim_start_matches(SPACE);
    if body.starts_with("/*") {
        let c = src[i..].find("*/").ok_or("unclosed comment")? + i + 2;
        let r = src[c..].trim_start_matches(SPACE);
        let j = src.len() - r.len();
        return match close(j) {
            Some((end, tr)) => Ok((None, end, tr)),
            None => Err("comment ends before closing delimiter".into()),
        };
    }
    let mut toks = Vec::new();
    loop {
        while i < b.len() && SPACE.contains(&(b[i] as char)) {
            i += 1;
        }
        if i >= b.len() {
            return Err("unclosed action".into());
        }
        if let Some((end, tr)) = close(i) {
            return Ok((Some(toks), end, tr));
        }
        let c = b[i] as char;
        let word_end = |from: usize| {
            from + src[from..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(src.len() - from)
        };
        match c {
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            ':' if src[i..].starts_with(":=") => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '"' => {
                let (s, n) = lex_string(&src[i..])?;
                toks.push(Tok::Arg(Arg::Str(s)));
                i += n;
            }
            '`' => {
                let n = src[i + 1..]
                    .find('`')
                    .ok_or("unterminated raw quoted string")?;
                toks.push(Tok::Arg(Arg::Str(src[i + 1..i + 1 + n].to_string())));
                i += n + 2;
            }
            '$' => {
                let e = word_end(i + 1);
                let name = src[i..e].to_string();
                let (chain, e2) = lex_chain(src, e);
                toks.push(Tok::Arg(Arg::Var(name, chain)));
                i = e2;
            }
            '.' => {
                let (chain, e) = lex_chain(src, i);
                if chain.is_empty() {
                    toks.push(Tok::Arg(Arg::Dot));
                    i += 1;
                } else {
                    toks.push(Tok::Arg(Arg::Field(chain)));
                    i = e;
                }
            }
            '0'..='9' | '-' | '+' => {
                let mut e = i + 1;
                while e < b.len() {
                    let d = b[e] as char;
                    let exp_sign = (d == '-' || d == '+') && matches!(b[e - 1], b'e' | b'E');
                    if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exp_sign {
                        e += 1;
                    } else {
                        break;
                    }
                }
                toks.push(Tok::Arg(number(&src[i..e])?));
                i = e;
            }
            c if c.is_alphabetic() || c == '_' => {
                let e = word_end(i);
                let w = &src[i..e];
                toks.push(match w {
                    "true" => Tok::Arg(Arg::Bool(true)),
                    "false" => Tok::Arg(Arg::Bool(false)),
                    "nil" => Tok::Arg(Arg::Nil),
                    _ => Tok::Ident(w.to_string()),
                });
                i = e;
            }
            c => return Err(format!("unexpected {c:?} in command")),
        }
    }
}

/// Reads `.a.b.c` starting at `i`; returns the names and the end offset.
fn lex_chain(src: &str, mut i: usize) -> (Vec<String>, usize) {
    let mut chain = Vec::new();
    while src[i..].starts_with('.') {
        let r = &src[i + 1..];
        let n = r
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(r.len());
        if n == 0 {
            break;
        }
        chain.push(r[..n].to_string());
        i += 1 + n;
    }
    (chain, i)
}

fn lex_string(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => break,
            '\\' => match it.next().map(|x| x.1) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('\'') => out.push('\''),
                Some(o) => return Err(format!("invalid syntax: unknown escape \\{o}")),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

/// Go constants: text with `.`/`e` is a float, otherwise an integer (also hex/octal/binary).
fn number(t: &str) -> Result<Arg, String> {
    let clean = t.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find(|(p, _)| lower.starts_with(p));
    let int = match radix {
        Some((p, r)) => i64::from_str_radix(&lower[p.len()..], *r).ok(),
        None if !lower.contains(['.', 'e']) => lower.parse::<i64>().ok(),
        None => None,
    };
    if let Some(v) = int {
        return Ok(Arg::Int(if neg { -v } else { v }));
    }
    match lower.parse::<f64>() {
        Ok(v) if radix.is_none() => Ok(Arg::Float(if neg { -v } else { v })),
        _ => Err(format!("bad number syntax: {t:?}")),
    }
}

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
        vars: ["$", "$labels", "$externalLabels", "$externalURL", "$value"]
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
    fn list(&mut self) -> Result<(Vec<Node>, Option<(String, usize)>), String> {
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
        let pipe = self.pipeline(toks).map_err(|e| format!("{line}: {e}"))?;
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
