//! Detector parameters: a `k=v` map checked against the detector's documented keys, with typed
//! getters that fall back to the documented default and say which key is wrong and why.

use std::collections::BTreeMap;

/// One documented parameter: its key, default (as text, "" = unset) and a one-line help.
#[derive(Clone, Copy, Debug)]
pub struct ParamDoc {
    pub key: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

impl ParamDoc {
    /// The default as `score --list` and docs/anomaly.md show it (`unset` when there is none).
    pub fn shown_default(&self) -> &'static str {
        if self.default.is_empty() {
            "unset"
        } else {
            self.default
        }
    }
}

/// Parameters given for one detector, validated against its docs.
#[derive(Clone, Debug, Default)]
pub struct Params {
    detector: String,
    docs: Vec<&'static ParamDoc>,
    given: BTreeMap<String, String>,
}

impl Params {
    /// Checks every given key against `docs`; keys with a dot (`member.key`) are allowed when
    /// `nested` is true (the ensemble hands them to its members).
    pub fn new(
        detector: &str,
        docs: &[&'static [ParamDoc]],
        given: &BTreeMap<String, String>,
        nested: bool,
    ) -> Result<Params, String> {
        let docs: Vec<&'static ParamDoc> = docs.iter().flat_map(|d| d.iter()).collect();
        for k in given.keys() {
            if nested && k.contains('.') {
                continue;
            }
            if !docs.iter().any(|d| d.key == k) {
                let known: Vec<&str> = docs.iter().map(|d| d.key).collect();
                return Err(format!(
                    "detector {detector}: unknown parameter {k:?} (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        Ok(Params {
            detector: detector.to_string(),
            docs,
            given: given.clone(),
        })
    }

    /// The given value, else the documented default ("" when the parameter has none).
    pub fn raw(&self, key: &str) -> &str {
        if let Some(v) = self.given.get(key) {
            return v;
        }
        self.docs
            .iter()
            .find(|d| d.key == key)
            .map_or("", |d| d.default)
    }

    fn bad(&self, key: &str, why: &str) -> String {
        format!(
            "detector {}: parameter {key}={:?}: {why}",
            self.detector,
            self.raw(key)
        )
    }

    /// A finite number within `[lo, hi]`.
    pub fn f64_in(&self, key: &str, lo: f64, hi: f64) -> Result<f64, String> {
        let v: f64 = self
            .raw(key)
            .trim()
            .parse()
            .map_err(|_| self.bad(key, "not a number"))?;
        if !v.is_finite() || v < lo || v > hi {
            return Err(self.bad(key, &format!("must be between {lo} and {hi}")));
        }
        Ok(v)
    }

    /// An optional number (unset when the value is empty).
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, String> {
        if self.raw(key).trim().is_empty() {
            return Ok(None);
        }
        self.f64_in(key, f64::MIN, f64::MAX).map(Some)
    }

    /// A whole number within `[lo, hi]`.
    pub fn usize_in(&self, key: &str, lo: usize, hi: usize) -> Result<usize, String> {
        let v: usize = self
            .raw(key)
            .trim()
            .parse()
            .map_err(|_| self.bad(key, "not a whole number"))?;
        if v < lo || v > hi {
            return Err(self.bad(key, &format!("must be between {lo} and {hi}")));
        }
        Ok(v)
    }

    /// A duration in seconds: a number, or a number with one of the units s, m, h, d, w.
    pub fn seconds(&self, key: &str, lo: f64, hi: f64) -> Result<f64, String> {
        let text = self.raw(key).trim();
        let (num, mult) = match text.char_indices().last() {
            Some((i, 's')) => (&text[..i], 1.0),
            Some((i, 'm')) => (&text[..i], 60.0),
            Some((i, 'h')) => (&text[..i], 3600.0),
            Some((i, 'd')) => (&text[..i], 86_400.0),
            Some((i, 'w')) => (&text[..i], 604_800.0),
            _ => (text, 1.0),
        };
        let v: f64 = num
            .trim()
            .parse()
            .map_err(|_| self.bad(key, "not a duration (e.g. 3600, 90m, 4h, 1d)"))?;
        let v = v * mult;
        if !v.is_finite() || v < lo || v > hi {
            return Err(self.bad(key, &format!("must be between {lo} and {hi} seconds")));
        }
        Ok(v)
    }

    /// One of `choices`.
    pub fn choice(&self, key: &str, choices: &[&'static str]) -> Result<&'static str, String> {
        let v = self.raw(key).trim();
        choices
            .iter()
            .find(|c| **c == v)
            .copied()
            .ok_or_else(|| self.bad(key, &format!("must be one of {}", choices.join(", "))))
    }

    /// The `prefix.key=v` entries with the prefix removed (for an ensemble member).
    pub fn nested(&self, prefix: &str) -> BTreeMap<String, String> {
        self.given
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('.'))
                    .map(|r| (r.to_string(), v.clone()))
            })
            .collect()
    }

    /// Keys with a dot whose prefix is not in `members`.
    pub fn stray_nested(&self, members: &[&str]) -> Option<String> {
        self.given
            .keys()
            .filter_map(|k| k.split_once('.'))
            .find(|(p, _)| !members.contains(p))
            .map(|(p, r)| format!("{p}.{r}"))
    }
}

/// Parses `k=v` strings (as given on the command line) into a map; a later key wins.
pub fn parse_pairs<'a>(
    pairs: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("parameter {p:?}: expected KEY=VALUE"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("parameter {p:?}: empty key"));
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &[ParamDoc] = &[
        ParamDoc {
            key: "window",
            default: "100",
            help: "w",
        },
        ParamDoc {
            key: "alpha",
            default: "0.5",
            help: "a",
        },
        ParamDoc {
            key: "period",
            default: "1d",
            help: "p",
        },
        ParamDoc {
            key: "limit",
            default: "",
            help: "l",
        },
    ];

    fn params(pairs: &[&str]) -> Result<Params, String> {
        Params::new("t", &[DOCS], &parse_pairs(pairs.iter().copied())?, false)
    }

    #[test]
    fn defaults_and_given_values() {
        let p = params(&["window=20"]).unwrap();
        assert_eq!(p.usize_in("window", 2, 1000).unwrap(), 20);
        assert_eq!(p.f64_in("alpha", 0.0, 1.0).unwrap(), 0.5);
        assert_eq!(p.seconds("period", 1.0, 1e9).unwrap(), 86_400.0);
        assert_eq!(p.opt_f64("limit").unwrap(), None);
        let p = params(&["period=90m", "limit=-3.5"]).unwrap();
        assert_eq!(p.seconds("period", 1.0, 1e9).unwrap(), 5400.0);
        assert_eq!(p.opt_f64("limit").unwrap(), Some(-3.5));
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let e = params(&["windw=3"]).unwrap_err();
        assert!(
            e.contains("unknown parameter \"windw\"") && e.contains("window, alpha"),
            "{e}"
        );
        let e = params(&["window=x"])
            .unwrap()
            .usize_in("window", 2, 10)
            .unwrap_err();
        assert!(
            e.contains("window=\"x\"") && e.contains("whole number"),
            "{e}"
        );
        let e = params(&["window=1"])
            .unwrap()
            .usize_in("window", 2, 10)
            .unwrap_err();
        assert!(e.contains("between 2 and 10"), "{e}");
        let e = params(&["alpha=nan"])
            .unwrap()
            .f64_in("alpha", 0.0, 1.0)
            .unwrap_err();
        assert!(e.contains("between 0 and 1"), "{e}");
        assert!(parse_pairs(["novalue"]).unwrap_err().contains("KEY=VALUE"));
        assert!(params(&["period=3x"])
            .unwrap()
            .seconds("period", 1.0, 1e9)
            .is_err());
    }

    #[test]
    fn nested_keys_go_to_members() {
        let given = parse_pairs(["mad.window=5", "holdoff=3", "x.y=1"]).unwrap();
        assert!(Params::new("t", &[DOCS], &given, false).is_err());
        let p = Params::new("t", &[DOCS], &parse_pairs(["mad.window=5"]).unwrap(), true).unwrap();
        assert_eq!(p.nested("mad").get("window").map(String::as_str), Some("5"));
        assert!(p.nested("ma").is_empty());
        assert_eq!(p.stray_nested(&["mad"]), None);
        assert_eq!(p.stray_nested(&["ewma"]).as_deref(), Some("mad.window"));
    }
}
