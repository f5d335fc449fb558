//! The JSONPath subset JSON targets use: `$.a.b`, `$.a[0]`, `$.items[*].field`, `$['key with
//! space']`, and `@...` paths relative to the element a `[*]` matched. Parsed once at config load
//! (errors carry the character position) so a poll only walks a few steps.

use std::fmt;

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Key(String),
    /// A negative index counts from the end (`[-1]` is the last element).
    Index(i64),
    /// Every element of an array; at most one per path, so labels have one element to come from.
    Wildcard,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    /// `@` (relative to the current element) instead of `$` (the document).
    pub relative: bool,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    /// 0-based character offset of the problem in the path text.
    pub offset: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at character {}", self.msg, self.offset + 1)
    }
}

fn plain_key_char(c: char) -> bool {
    !matches!(c, '.' | '[' | ']' | '\'' | '"' | '*') && !c.is_whitespace()
}

/// Parses a path; the error says what was expected and where.
pub fn parse(text: &str) -> Result<JsonPath, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let err = |offset: usize, msg: &str| ParseError {
        offset,
        msg: msg.to_string(),
    };
    let relative = match chars.first() {
        Some('$') => false,
        Some('@') => true,
        _ => {
            return Err(err(
                0,
                "a path starts with '$' (or '@' for a relative path)",
            ))
        }
    };
    let mut steps = Vec::new();
    let mut i = 1;
    while i < chars.len() {
        let start = i;
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'*') {
                    steps.push(Step::Wildcard);
                    i += 1;
                } else {
                    let n = chars[i..]
                        .iter()
                        .take_while(|c| plain_key_char(**c))
                        .count();
                    if n == 0 {
                        return Err(err(i, "expected a key name after '.'"));
                    }
                    steps.push(Step::Key(chars[i..i + n].iter().collect()));
                    i += n;
                }
            }
            '[' => {
                i += 1;
                match chars.get(i) {
                    Some('*') => {
                        steps.push(Step::Wildcard);
                        i += 1;
                    }
                    Some(q @ ('\'' | '"')) => {
                        let quote = *q;
                        let mut key = String::new();
                        i += 1;
                        loop {
                            match chars.get(i) {
                                None => return Err(err(start + 1, "unterminated quoted key")),
                                Some('\\') if i + 1 < chars.len() => {
                                    key.push(chars[i + 1]);
                                    i += 2;
                                }
                                Some(c) if *c == quote => {
                                    i += 1;
                                    break;
                                }
                                Some(c) => {
                                    key.push(*c);
                                    i += 1;
                                }
                            }
                        }
                        steps.push(Step::Key(key));
                    }
                    Some(c) if c.is_ascii_digit() || *c == '-' => {
                        let neg = *c == '-';
                        let digits_from = i + usize::from(neg);
                        let n = chars[digits_from..]
                            .iter()
                            .take_while(|c| c.is_ascii_digit())
                            .count();
                        let num: String = chars[digits_from..digits_from + n].iter().collect();
                        let v: i64 = num.parse().map_err(|_| err(i, "expected an array index"))?;
                        steps.push(Step::Index(if neg { -v } else { v }));
                        i = digits_from + n;
                    }
                    _ => return Err(err(i, "expected an index, '*' or a quoted key after '['")),
                }
                if chars.get(i) != Some(&']') {
                    return Err(err(i, "expected ']'"));
                }
                i += 1;
            }
            c => return Err(err(i, &format!("unexpected character {c:?}"))),
        }
        if steps.last() == Some(&Step::Wildcard)
            && steps.iter().filter(|s| **s == Step::Wildcard).count() > 1
        {
            return Err(err(start, "only one [*] per path is supported"));
        }
    }
    Ok(JsonPath { relative, steps })
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.relative { "@" } else { "$" })?;
        write_steps(f, &self.steps)
    }
}

fn write_steps(f: &mut impl fmt::Write, steps: &[Step]) -> fmt::Result {
    for s in steps {
        match s {
            Step::Key(k) if !k.is_empty() && k.chars().all(plain_key_char) => write!(f, ".{k}")?,
            Step::Key(k) => write!(f, "['{}']", k.replace('\\', "\\\\").replace('\'', "\\'"))?,
            Step::Index(n) => write!(f, "[{n}]")?,
            Step::Wildcard => f.write_str("[*]")?,
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One value a path matched, with the array element its `[*]` went through (if any).
#[derive(Debug, PartialEq)]
pub struct Match<'a> {
    pub element: Option<&'a Value>,
    pub value: &'a Value,
}

impl JsonPath {
    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::Wildcard)
    }

    /// Follows `steps` from `from`; the error names the first part of the path that is not there.
    fn walk<'a>(
        &self,
        from: &'a Value,
        done: &[Step],
        steps: &[Step],
    ) -> Result<&'a Value, String> {
        let mut cur = from;
        for (i, s) in steps.iter().enumerate() {
            let next = match (s, cur) {
                (Step::Key(k), Value::Object(m)) => m.get(k),
                (Step::Index(n), Value::Array(a)) => {
                    let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                    usize::try_from(idx).ok().and_then(|i| a.get(i))
                }
                _ => None,
            };
            cur = match next {
                Some(v) => v,
                None => {
                    let mut at = String::from(if self.relative { "@" } else { "$" });
                    let _ = write_steps(&mut at, done);
                    let _ = write_steps(&mut at, &steps[..i]);
                    let mut want = at.clone();
                    let _ = write_steps(&mut want, &steps[i..=i]);
                    return Err(match (s, cur) {
                        (Step::Key(_), Value::Object(_)) | (Step::Index(_), Value::Array(_)) => {
                            format!("{want} not found")
                        }
                        _ => format!("{want} not found: {at} is {}", kind(cur)),
                    });
                }
            };
        }
        Ok(cur)
    }

    /// The values the path selects in `root`: one without `[*]`, one per array element with it.
    pub fn select<'a>(&self, root: &'a Value) -> Result<Vec<Match<'a>>, String> {
        let Some(w) = self.steps.iter().position(|s| *s == Step::Wildcard) else {
            let value = self.walk(root, &[], &self.steps)?;
            return Ok(vec![Match {
                element: None,
                value,
            }]);
        };
        let (before, after) = (&self.steps[..w], &self.steps[w + 1..]);
        let arr = match self.walk(root, &[], before)? {
            Value::Array(a) => a,
            other => {
                let mut at = String::from(if self.relative { "@" } else { "$" });
                let _ = write_steps(&mut at, before);
                return Err(format!("{at}[*] not found: {at} is {}", kind(other)));
            }
        };
        let mut out = Vec::with_capacity(arr.len());
        for (i, el) in arr.iter().enumerate() {
            let mut done = before.to_vec();
            done.push(Step::Index(i as i64));
            let value = self.walk(el, &done, after)?;
            out.push(Match {
                element: Some(el),
                value,
            });
        }
        Ok(out)
    }

    /// The single value of a path without `[*]`, relative paths starting at `element` (or the
    /// document when there is none).
    pub fn get<'a>(
        &self,
        root: &'a Value,
        element: Option<&'a Value>,
    ) -> Result<&'a Value, String> {
        let from = if self.relative {
            element.unwrap_or(root)
        } else {
            root
        };
        self.walk(from, &[], &self.steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> JsonPath {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_the_subset() {
        assert_eq!(p("$").steps, vec![]);
        assert_eq!(
            p("$.a.b[0]").steps,
            vec![Step::Key("a".into()), Step::Key("b".into()), Step::Index(0)]
        );
        assert_eq!(
            p("$.items[*].field").steps,
            vec![
                Step::Key("items".into()),
                Step::Wildcard,
                Step::Key("field".into())
            ]
        );
        assert_eq!(
            p("$['key with space'][\"it's\"]['a\\'b']").steps,
            vec![
                Step::Key("key with space".into()),
                Step::Key("it's".into()),
                Step::Key("a'b".into())
            ]
        );
        let r = p("@.id");
        assert!(r.relative);
        assert_eq!(p("$.a[-1]").steps[1], Step::Index(-1));
        assert_eq!(p("$.a.*").steps[1], Step::Wildcard);
    }

    #[test]
    fn errors_carry_the_position() {
        let e = |s: &str| parse(s).unwrap_err().to_string();
        assert_eq!(
            e("a.b"),
            "a path starts with '$' (or '@' for a relative path) at character 1"
        );
        assert_eq!(e("$.a..b"), "expected a key name after '.' at character 5");
        assert_eq!(e("$.a[0"), "expected ']' at character 6");
        assert_eq!(
            e("$.a[x]"),
            "expected an index, '*' or a quoted key after '[' at character 5"
        );
        assert_eq!(e("$['abc"), "unterminated quoted key at character 3");
        assert_eq!(e("$.a b"), "unexpected character ' ' at character 4");
        assert_eq!(
            e("$.a[*].b[*]"),
            "only one [*] per path is supported at character 9"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["$.a.b[0]", "$.items[*].x", "$['a b'].c", "@.id", "$"] {
            assert_eq!(p(s).to_string(), s);
            assert_eq!(p(&p(s).to_string()), p(s));
        }
    }

    #[test]
    fn selects_values_and_elements() {
        let doc = json!({"a": {"b": [10, 20]}, "items": [{"id": "x", "v": 1}, {"id": "y", "v": 2}],
                         "key with space": 7});
        assert_eq!(p("$.a.b[1]").select(&doc).unwrap()[0].value, &json!(20));
        assert_eq!(p("$.a.b[-1]").select(&doc).unwrap()[0].value, &json!(20));
        assert_eq!(
            p("$['key with space']").select(&doc).unwrap()[0].value,
            &json!(7)
        );
        let m = p("$.items[*].v").select(&doc).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].value, &json!(2));
        assert_eq!(p("@.id").get(&doc, m[1].element).unwrap(), &json!("y"));
        assert_eq!(p("$.a.b[0]").get(&doc, m[1].element).unwrap(), &json!(10));
        assert!(p("$.a.b[*]")
            .select(&json!({"a": {"b": []}}))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn missing_parts_are_named() {
        let doc = json!({"a": {"b": [10]}, "items": [{"v": 1}, {"w": 2}], "n": 3});
        let e = |s: &str| p(s).select(&doc).unwrap_err();
        assert_eq!(e("$.a.c"), "$.a.c not found");
        assert_eq!(e("$.a.b[3]"), "$.a.b[3] not found");
        assert_eq!(e("$.n.x"), "$.n.x not found: $.n is a number");
        assert_eq!(e("$.items[*].v"), "$.items[1].v not found");
        assert_eq!(e("$.n[*]"), "$.n[*] not found: $.n is a number");
    }
}
