//! The one YAML module: a position-carrying node tree and a strict decoder that collects every
//! problem (with `file:line:col: path: message`) instead of stopping at the first, which serde's
//! derive cannot do. Config, rule files and rule-test files all decode through it.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// 1-based line and column of a node in its source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// A scalar's text and whether it was quoted (a quoted `"1"` is a string, never a number).
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

impl Node {
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }
    /// Where `key` is written in this mapping (the mapping's own position when absent).
    pub fn key_pos(&self, key: &str) -> Pos {
        self.entry(key).map_or(self.pos, |(k, _)| k.pos)
    }

    /// Where `key`'s value is written in this mapping (the mapping's position when absent).
    pub fn value_pos(&self, key: &str) -> Pos {
        self.entry(key).map_or(self.pos, |(_, v)| v.pos)
    }

    fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.scalar() == Some(key)),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Scalar(..) => "a scalar",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }
}

/// One problem found in a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    pub file: String,
    pub pos: Pos,
    pub path: String,
    pub msg: String,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.pos.line, self.pos.col)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        // One problem per line: multi-line messages (a regex error's caret diagram) are folded.
        let mut first = true;
        for line in self.msg.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(line)?;
            first = false;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, Option<usize>)>,
    keys: Vec<Option<Node>>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    docs: usize,
    alias_error: Option<Pos>,
    /// Nodes copied by aliases so far: nested aliases grow exponentially ("billion laughs"), so
    /// past `MAX_ALIAS_NODES` the document is refused.
    alias_nodes: usize,
    alias_bomb: Option<Pos>,
}

const MAX_ALIAS_NODES: usize = 100_000;

fn node_count(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(items) => items.iter().map(node_count).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| node_count(k) + node_count(v))
            .sum(),
        _ => 0,
    }
}

fn pos_of(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some((parent, _)) => match &mut parent.value {
                Value::Seq(items) => items.push(node),
                Value::Map(entries) => {
                    let slot = self.keys.last_mut().expect("map has key slot");
                    match slot.take() {
                        None => *slot = Some(node),
                        Some(key) => entries.push((key, node)),
                    }
                }
                _ => unreachable!("only collections are pushed on the stack"),
            },
        }
    }
    fn close(&mut self) {
        if let Some((node, anchor)) = self.stack.pop() {
            if matches!(node.value, Value::Map(_)) {
                self.keys.pop();
            }
            if let Some(id) = anchor {
                self.anchors.insert(id, node.clone());
            }
            self.push_value(node);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = pos_of(&mark);
        match ev {
            Event::DocumentStart => self.docs += 1,
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                let value =
                    if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                        Value::Null
                    } else {
                        Value::Scalar(text, quoted)
                    };
                let node = Node { value, pos };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) => {
                let node = Node {
                    value: Value::Seq(Vec::new()),
                    pos,
                };
                self.stack.push((node, (anchor > 0).then_some(anchor)));
            }
            Event::MappingStart(anchor, _) => {
                let node = Node {
                    value: Value::Map(Vec::new()),
                    pos,
                };
                self.stack.push((node, (anchor > 0).then_some(anchor)));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(_) if self.alias_bomb.is_some() => {}
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) if self.alias_nodes + node_count(n) > MAX_ALIAS_NODES => {
                    self.alias_bomb = Some(pos);
                }
                Some(n) => {
                    self.alias_nodes += node_count(n);
                    let mut n = n.clone();
                    n.pos = pos;
                    self.push_value(n);
                }
                None => self.alias_error = Some(pos),
            },
            _ => {}
        }
    }
}

/// Parses one YAML document into a node tree. An empty document is `Null`.
pub fn parse(file: &str, text: &str) -> Result<Node, Diag> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        return Err(Diag {
            file: file.to_string(),
            pos: pos_of(e.marker()),
            path: String::new(),
            msg: format!("invalid YAML: {}", e.info()),
        });
    }
    let diag = |pos, msg: &str| Diag {
        file: file.to_string(),
        pos,
        path: String::new(),
        msg: msg.to_string(),
    };
    if let Some(pos) = b.alias_error {
        return Err(diag(pos, "alias to an unknown anchor"));
    }
    if let Some(pos) = b.alias_bomb {
        return Err(diag(
            pos,
            &format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
        ));
    }
    if b.docs > 1 {
        return Err(diag(
            Pos { line: 1, col: 1 },
            "expected one YAML document, found several",
        ));
    }
    Ok(b.root.unwrap_or(Node {
        value: Value::Null,
        pos: Pos { line: 1, col: 1 },
    }))
}

/// Collects decoding problems for one file.
pub struct Decoder {
    pub file: String,
    pub diags: Vec<Diag>,
    /// Expand `${NAME}` in string scalars (config files do; rule files do not).
    pub expand_env: bool,
}

impl Decoder {
    pub fn new(file: &str) -> Self {
        Decoder {
            file: file.to_string(),
            diags: Vec::new(),
            expand_env: false,
        }
    }

    pub fn error(&mut self, pos: Pos, path: &str, msg: impl Into<String>) {
        self.diags.push(Diag {
            file: self.file.clone(),
            pos,
            path: path.to_string(),
            msg: msg.into(),
        });
    }

    pub fn ok(&self) -> bool {
        self.diags.is_empty()
    }

    /// Opens a mapping; `None` (with an error) when the node is something else.
    pub fn map<'n>(&mut self, n: &'n Node, path: &str) -> Option<Fields<'n>> {
        match &n.value {
            Value::Map(entries) => {
                let mut seen: HashMap<&str, Pos> = HashMap::new();
                for (k, _) in entries {
                    match k.scalar() {
                        Some(key) => {
                            if seen.insert(key, k.pos).is_some() {
                                self.error(k.pos, path, format!("duplicate key {key:?}"));
                            }
                        }
                        None => self.error(k.pos, path, "mapping keys must be strings"),
                    }
                }
                Some(Fields {
                    entries,
                    used: vec![false; entries.len()],
                    path: path.to_string(),
                    pos: n.pos,
                })
            }
            Value::Null => Some(Fields {
                entries: &[],
                used: Vec::new(),
                path: path.to_string(),
                pos: n.pos,
            }),
            _ => {
                self.error(
                    n.pos,
                    path,
                    format!("expected a mapping, found {}", n.kind()),
                );
                None
            }
        }
    }

    pub fn seq<'n>(&mut self, n: &'n Node, path: &str) -> &'n [Node] {
        match &n.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.error(
                    n.pos,
                    path,
                    format!("expected a sequence, found {}", n.kind()),
                );
                &[]
            }
        }
    }

    pub fn string(&mut self, n: &Node, path: &str) -> Option<String> {
        match &n.value {
            Value::Scalar(s, _) => {
                if self.expand_env && s.contains("${") {
                    match expand_env(s) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            self.error(n.pos, path, e);
                            None
                        }
                    }
                } else {
                    Some(s.clone())
                }
            }
            _ => {
                self.error(
                    n.pos,
                    path,
                    format!("expected a string, found {}", n.kind()),
                );
                None
            }
        }
    }

    pub fn bool(&mut self, n: &Node, path: &str) -> Option<bool> {
        match n.scalar() {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.error(n.pos, path, "expected true or false");
                None
            }
        }
    }

    pub fn f64(&mut self, n: &Node, path: &str) -> Option<f64> {
        match n.scalar().and_then(parse_float) {
            Some(v) => Some(v),
            None => {
                self.error(n.pos, path, "expected a number");
                None
            }
        }
    }

    pub fn u64(&mut self, n: &Node, path: &str) -> Option<u64> {
        match n.scalar().and_then(|s| s.parse::<u64>().ok()) {
            Some(v) => Some(v),
            None => {
                self.error(n.pos, path, "expected a non-negative integer");
                None
            }
        }
    }

    pub fn duration(&mut self, n: &Node, path: &str) -> Option<Duration> {
        let s = self.string(n, path)?;
        match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(n.pos, path, e);
                None
            }
        }
    }

    pub fn string_list(&mut self, n: &Node, path: &str) -> Vec<String> {
        let items = self.seq(n, path);
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
            .collect()
    }

    /// A mapping of strings to strings, kept in file order.
    pub fn string_map(&mut self, n: &Node, path: &str) -> Vec<(String, String)> {
        let Some(f) = self.map(n, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in f.entries {
            let Some(key) = k.scalar() else { continue };
            let p = format!("{path}.{key}");
            if let Some(val) = self.string(v, &p) {
                out.push((key.to_string(), val));
            }
        }
        out
    }
}

/// The fields of one mapping; `finish` reports every key nobody asked for.
pub struct Fields<'n> {
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    pub path: String,
    pub pos: Pos,
}

impl<'n> Fields<'n> {
    /// The value of `key`, or `None` when absent or null.
    pub fn get(&mut self, key: &str) -> Option<&'n Node> {
        let i = self
            .entries
            .iter()
            .position(|(k, _)| k.scalar() == Some(key))?;
        self.used[i] = true;
        let v = &self.entries[i].1;
        (!v.is_null()).then_some(v)
    }

    /// The path of a child key, for messages.
    pub fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn finish(self, d: &mut Decoder, what: &str) {
        let used_keys: Vec<Option<&str>> = (self.entries.iter().zip(&self.used))
            .filter(|(_, u)| **u)
            .map(|((k, _), _)| k.scalar())
            .collect();
        for ((k, _), used) in self.entries.iter().zip(&self.used) {
            if !used && !used_keys.contains(&k.scalar()) {
                if let Some(key) = k.scalar() {
                    d.error(
                        k.pos,
                        &self.path,
                        format!("unknown field {key:?} in {what}"),
                    );
                }
            }
        }
    }
}

/// Expands `${NAME}`; `$$` is a literal `$`; any other `$` is kept as is (JSONPath uses it).
pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "unterminated ${ in string".to_string())?;
            let name = &body[..end];
            let val = std::env::var(name)
                .map_err(|_| format!("environment variable {name:?} is not set"))?;
            out.push_str(&val);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a float as Prometheus does, including `+Inf`, `-Inf` and `NaN`.
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

/// Parses a Prometheus duration (`1h30m`, `15s`, `500ms`, `2d`, `1w`, `1y`; units in descending order).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 8] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
        ("", 0),
    ];
    let bad = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (rank, (unit, ms)) = UNITS[..7]
            .iter()
            .enumerate()
            .find(|(_, (u, _))| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")))
            .ok_or_else(bad)?;
        // "ms" sorts before "m" in the table but is the smaller unit.
        let order = [0, 1, 2, 3, 6, 4, 5][rank];
        if last_rank != usize::MAX && order <= last_rank {
            return Err(bad());
        }
        last_rank = order;
        rest = &rest[unit.len()..];
        total = n
            .checked_mul(*ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration as Prometheus does (`1h30m`, `15s`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("y", 365 * 86_400_000u64),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("f", "a: 1\nb:\n  c: x\n").unwrap();
        let Value::Map(e) = &n.value else { panic!() };
        assert_eq!(e[0].0.pos, Pos { line: 1, col: 1 });
        let Value::Map(inner) = &e[1].1.value else {
            panic!()
        };
        assert_eq!(inner[0].0.pos, Pos { line: 3, col: 3 });
        assert_eq!(inner[0].1.scalar(), Some("x"));
    }

    #[test]
    fn unknown_and_duplicate_keys_are_all_reported() {
        let n = parse("f.yml", "a: 1\nzz: 2\na: 3\nyy: 4\n").unwrap();
        let mut d = Decoder::new("f.yml");
        let mut f = d.map(&n, "").unwrap();
        f.get("a");
        f.finish(&mut d, "test");
        let msgs: Vec<String> = d.diags.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "f.yml:3:1: duplicate key \"a\"",
                "f.yml:2:1: unknown field \"zz\" in test",
                "f.yml:4:1: unknown field \"yy\" in test",
            ]
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("f", "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.pos.line >= 1 && e.msg.starts_with("invalid YAML"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("1m500ms").unwrap(),
            Duration::from_millis(60_500)
        );
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "15", "1.5s", "s", "30s1m", "1x", "5m5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
    }

    #[test]
    fn env_expansion() {
        std::env::set_var("TELLTALE_TEST_SECRET", "s3cr3t");
        assert_eq!(expand_env("a${TELLTALE_TEST_SECRET}b").unwrap(), "as3cr3tb");
        assert_eq!(expand_env("$.a.b").unwrap(), "$.a.b");
        assert_eq!(expand_env("$${X}").unwrap(), "${X}");
        assert!(expand_env("${TELLTALE_SURELY_UNSET_VAR}").is_err());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse("f", &text).unwrap_err();
        assert!(e.msg.contains("aliases expand to more than"), "{e}");
        assert!(e.pos.line > 1);
    }

    #[test]
    fn anchors_and_aliases_resolve() {
        let n = parse("f", "a: &x {k: v}\nb: *x\n").unwrap();
        let Value::Map(e) = &n.value else { panic!() };
        assert_eq!(e[0].1.value, e[1].1.value);
    }
}
