//! Go `fmt`-compatible formatting of template values. Alert text must match what Prometheus
//! (Go's `text/template` + `fmt`) produces byte for byte, so `%g`, `%v` and friends follow
//! Go's strconv rules, not Rust's.

use super::Value;

/// Significant decimal digits of |v| (trailing zeros removed) and the decimal exponent of the
/// first digit. `prec` None = shortest round-trip digits, Some(n) = n digits correctly rounded.
fn digits(v: f64, prec: Option<usize>) -> (Vec<u8>, i32) {
    let s = match prec {
        None => return crate::promql::shortest_digits(v),
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
    };
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let mut d: Vec<u8> = m.bytes().filter(|c| c.is_ascii_digit()).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    (d, e.parse().unwrap_or(0))
}

/// Go spells the non-finite values `NaN`, `+Inf`, `-Inf` in every float verb.
fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn sign(v: f64) -> &'static str {
    if v.is_sign_negative() {
        "-"
    } else {
        ""
    }
}

/// Exponent suffix as Go writes it: sign and at least two digits (`e+06`).
fn exp_str(e: i32, upper: bool) -> String {
    let c = if upper { 'E' } else { 'e' };
    let s = if e < 0 { '-' } else { '+' };
    format!("{c}{s}{:02}", e.abs())
}

/// `%g` / `%v` (prec None) and `%.Ng`.
pub fn fmt_g(v: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    if v == 0.0 {
        return format!("{}0", sign(v));
    }
    let prec = prec.map(|p| p.max(1));
    let (d, exp) = digits(v, prec);
    let nd = d.len() as i32;
    let dp = exp + 1;
    let mut eprec = prec.map(|p| p as i32).unwrap_or(nd);
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let mut out = sign(v).to_string();
    if exp < -4 || exp >= eprec {
        out.push(d[0] as char);
        if d.len() > 1 {
            out.push('.');
            out.extend(d[1..].iter().map(|&b| b as char));
        }
        out.push_str(&exp_str(exp, upper));
        return out;
    }
    out.push_str(&fixed_from_digits(&d, dp, (nd - dp).max(0) as usize));
    out
}

/// Lays out digits `d` (first digit at 10^(dp-1)) with `decimals` fractional digits.
fn fixed_from_digits(d: &[u8], dp: i32, decimals: usize) -> String {
    let at = |i: i32| -> char {
        if i >= 0 && (i as usize) < d.len() {
            d[i as usize] as char
        } else {
            '0'
        }
    };
    let mut s = String::new();
    if dp <= 0 {
        s.push('0');
    } else {
        for i in 0..dp {
            s.push(at(i));
        }
    }
    if decimals > 0 {
        s.push('.');
        for i in 0..decimals as i32 {
            s.push(at(dp + i));
        }
    }
    s
}

/// `%.Ne` (Go default precision 6).
pub fn fmt_e(v: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let s = format!("{:.*e}", prec, v.abs());
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    format!("{}{m}{}", sign(v), exp_str(e.parse().unwrap_or(0), upper))
}

/// `%.Nf` (Go default precision 6).
pub fn fmt_f(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    format!("{}{:.*}", sign(v), prec, v.abs())
}

/// Go's name for a value's dynamic type, used in `%!verb(type=value)` diagnostics.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Map(_) => "map[string]string",
        Value::Floats(_) => "map[string]float64",
        Value::Root => "struct",
    }
}

/// `fmt.Sprint` of one value (also what `{{ }}` prints).
pub fn sprint(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => fmt_g(*f, None, false),
        Value::Str(s) => s.clone(),
        Value::Map(m) => {
            let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Floats(m) => {
            let items: Vec<String> = (m.iter())
                .map(|(k, v)| format!("{k}:{}", fmt_g(*v, None, false)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Root => "{...}".into(),
    }
}

/// Go's `%q` for strings: double-quoted with Go escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, sp: &Spec, numeric: bool) -> String {
    let w = match sp.width {
        Some(w) if w > s.chars().count() => w,
        _ => return s,
    };
    let fill = w - s.chars().count();
    if sp.minus {
        return format!("{s}{}", " ".repeat(fill));
    }
    if sp.zero && numeric {
        let (sgn, rest) = match s.strip_prefix(['-', '+', ' ']) {
            Some(r) => (&s[..1], r),
            None => ("", s.as_str()),
        };
        return format!("{sgn}{}{rest}", "0".repeat(fill));
    }
    format!("{}{s}", " ".repeat(fill))
}

/// Go's `fmtFloat` sign and padding: a number always has a sign internally, shown for `-`,
/// with `+`, or as a space with ` `; Inf keeps its sign and NaN shows one only with `+`/` `;
/// neither is ever zero-padded (`%08.3f` of +Inf is `    +Inf`).
fn float_out(s: String, sp: &Spec) -> String {
    let (mut sign, body) = match s.as_bytes().first() {
        Some(b'-') => ('-', &s[1..]),
        Some(b'+') => ('+', &s[1..]),
        _ => ('+', s.as_str()),
    };
    if sp.space && sign == '+' && !sp.plus {
        sign = ' ';
    }
    if body == "Inf" || body == "NaN" {
        let text = if body == "NaN" && !sp.space && !sp.plus {
            body.to_string()
        } else {
            format!("{sign}{body}")
        };
        return pad(text, sp, false);
    }
    if sp.plus || sign != '+' {
        return pad(format!("{sign}{body}"), sp, true);
    }
    pad(body.to_string(), sp, true)
}

fn bad(verb: char, v: &Value) -> String {
    format!("%!{verb}({}={})", type_name(v), sprint(v))
}

fn one(verb: char, sp: &Spec, v: &Value) -> String {
    let num = |s: String, neg: bool| -> String {
        if !neg && sp.plus {
            format!("+{s}")
        } else if !neg && sp.space {
            format!(" {s}")
        } else {
            s
        }
    };
    let (s, numeric) = match (verb, v) {
        ('v' | 'g', Value::Float(f)) => return float_out(fmt_g(*f, sp.prec, false), sp),
        ('G', Value::Float(f)) => return float_out(fmt_g(*f, sp.prec, true), sp),
        ('f' | 'F', Value::Float(f)) => return float_out(fmt_f(*f, sp.prec.unwrap_or(6)), sp),
        ('e' | 'E', Value::Float(f)) => {
            return float_out(fmt_e(*f, sp.prec.unwrap_or(6), verb == 'E'), sp)
        }
        ('d' | 'v', Value::Int(i)) => (num(i.to_string(), *i < 0), true),
        ('x', Value::Int(i)) => (num(format!("{i:x}"), *i < 0), true),
        ('X', Value::Int(i)) => (num(format!("{i:X}"), *i < 0), true),
        ('s' | 'v', Value::Str(s)) => match sp.prec {
            Some(p) => (s.chars().take(p).collect(), false),
            None => (s.clone(), false),
        },
        ('q', Value::Str(s)) => (quote(s), false),
        ('x', Value::Str(s)) => (s.bytes().map(|b| format!("{b:02x}")).collect(), false),
        ('t' | 'v', Value::Bool(b)) => (b.to_string(), false),
        ('v' | 's', Value::Map(_)) | ('v', Value::Floats(_) | Value::Root) => (sprint(v), false),
        ('v', Value::Nil) => ("<nil>".into(), false),
        _ => return bad(verb, v),
    };
    pad(s, sp, numeric)
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %x %X %f %F %e %E %g %G %t %%`,
/// flags `-+0 `, width and precision (also `*`). Mismatches print Go's `%!verb(type=value)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut next_arg = 0usize;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec {
            minus: false,
            plus: false,
            zero: false,
            space: false,
            width: None,
            prec: None,
        };
        while let Some(&f) = it.peek() {
            match f {
                '-' => sp.minus = true,
                '+' => sp.plus = true,
                '0' => sp.zero = true,
                ' ' => sp.space = true,
                '#' => {}
                _ => break,
            }
            it.next();
        }
        let mut number = |it: &mut std::iter::Peekable<std::str::Chars>| -> Option<usize> {
            if it.peek() == Some(&'*') {
                it.next();
                let v = args.get(next_arg).cloned();
                next_arg += 1;
                return match v {
                    Some(Value::Int(i)) if i >= 0 => Some(i as usize),
                    _ => None,
                };
            }
            let mut n: Option<usize> = None;
            while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                it.next();
            }
            n
        };
        sp.width = number(&mut it);
        if it.peek() == Some(&'.') {
            it.next();
            sp.prec = Some(number(&mut it).unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next_arg) {
            Some(v) => out.push_str(&one(verb, &sp, v)),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
        next_arg += 1;
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|v| format!("{}={}", type_name(v), sprint(v)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}
