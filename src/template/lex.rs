//! The lexer: splits a template into text and action tokens, applying `{{- -}}` trimming and
//! dropping comments.

use super::parse::Arg;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
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
pub enum Item {
    Text(String),
    Action(Vec<Tok>, usize),
}

const SPACE: &[char] = &[' ', '\t', '\r', '\n'];

pub fn lex(src: &str) -> Result<Vec<Item>, String> {
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
        // The whole character: a byte taken as a char made 'â' of '€' "alphabetic", and the
        // empty word after it never advanced (found by fuzzing; the lexer looped forever).
        let c = src[i..].chars().next().unwrap_or(' ');
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
