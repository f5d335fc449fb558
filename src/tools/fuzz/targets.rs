//! The fuzz targets: each takes raw bytes, runs one decoder the way telltale runs it on input
//! it does not control, and describes what happened as a set of features (outcome classes:
//! normalised error messages, kinds of results). An input showing a feature not seen before is
//! kept in the corpus; that is the coverage proxy.

use std::sync::OnceLock;

use crate::promql;
use crate::sources::json::{jsonpath, map as json_map};
use crate::sources::zabbix::config::ZabbixConfig;
use crate::sources::zabbix::{api as zabbix_api, items as zabbix_items};
use crate::store::memstore::MemStore;

pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]) -> Vec<String>,
    /// Where seeds come from (files or directories, relative to the repository).
    pub seeds: &'static [&'static str],
    /// Tokens spliced in by the mutator.
    pub dict: &'static [&'static str],
}

const YAML_DICT: &[&str] = &[
    ": ", "\n  ", "\n- ", "- ", "{", "}", "[", "]", "'", "\"", "&a ", "*a", "${HOME}", "$$", "#",
    "null", "true", "1e309", "-1", "0", "15s", "1h30m", "|\n  ", ">-\n  ", "!!str ", "---\n", "~",
];
const PROMQL_DICT: &[&str] = &[
    "(",
    ")",
    "[5m]",
    "[1m:10s]",
    "{",
    "}",
    "=~\".*\"",
    "!=\"\"",
    " by (job)",
    " without (a)",
    "rate(",
    "sum(",
    "topk(3, ",
    "histogram_quantile(0.9, ",
    "label_replace(",
    " offset 1m",
    " @ 100",
    "^",
    "==",
    " bool ",
    " or ",
    " and ",
    " unless ",
    " on(a) group_left(b) ",
    "1e308",
    "NaN",
    "Inf",
    "-",
    "/",
    "%",
    "atan2",
    "absent(",
    "count_values(\"v\", ",
    "quantile(2, ",
    "up",
    "x",
    "\"s\"",
    ",",
    "time()",
    "vector(1)",
    "scalar(",
    "sort_desc(",
    "predict_linear(",
];
const JSON_DICT: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "1e999",
    "-0",
    "1.5e-7",
    "\"\\u0000\"",
    "$.",
    "$..",
    "[*]",
    "[?(@.a)]",
    "['a']",
    "[0]",
    "[-1]",
    "\n",
];
const TEXT_DICT: &[&str] = &[
    "# TYPE ",
    "# HELP ",
    " counter\n",
    " histogram\n",
    " summary\n",
    " gauge\n",
    "{",
    "}",
    "=\"",
    "\",",
    "\n",
    " NaN",
    " +Inf",
    " -Inf",
    " 1e309",
    "_bucket{le=\"",
    "_sum",
    "_count",
    "\\\"",
    "\\n",
    " 1700000000000",
    "quantile=\"0.5\"",
];

pub const TARGETS: &[Target] = &[
    Target {
        name: "config",
        run: config,
        seeds: &[
            "tests/config/good",
            "tests/config/bad",
            "examples",
            "src/default.yml",
        ],
        dict: YAML_DICT,
    },
    Target {
        name: "rules",
        run: rules,
        seeds: &["tests/rules", "rules"],
        dict: YAML_DICT,
    },
    Target {
        name: "promql",
        run: promql_eval,
        seeds: &["fuzz/seeds/promql.lines"],
        dict: PROMQL_DICT,
    },
    Target {
        name: "json",
        run: json,
        seeds: &["tests/fixtures/json", "fuzz/seeds/json"],
        dict: JSON_DICT,
    },
    Target {
        name: "textfile",
        run: textfile,
        seeds: &["tests/fixtures/textfile"],
        dict: TEXT_DICT,
    },
    Target {
        name: "zabbix",
        run: zabbix,
        seeds: &["tests/fixtures/zabbix"],
        dict: JSON_DICT,
    },
];

pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// An error message as a class: quoted parts dropped, numbers folded to `0`, every other word
/// that is not plain lower-case English (names, paths, values from the input) replaced by `*`,
/// at most twelve words.
pub fn class(prefix: &str, msg: &str) -> String {
    let mut unquoted = String::with_capacity(msg.len());
    let mut quote: Option<char> = None;
    for c in msg.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => {
                quote = Some(c);
                unquoted.push_str("\"…\"");
            }
            None => unquoted.push(c),
        }
    }
    let mut out = format!("{prefix}:");
    for (n, word) in unquoted.split_whitespace().take(12).enumerate() {
        if n > 0 {
            out.push(' ');
        }
        let core = word.trim_end_matches([':', ',', ';', ')']);
        let tail = word[core.len()..]
            .chars()
            .next()
            .map(String::from)
            .unwrap_or_default();
        if core.chars().all(|c| c.is_ascii_lowercase()) || core == "\"…\"" {
            out.push_str(core);
        } else if core.chars().all(|c| c.is_ascii_digit() || c == '.') {
            out.push('0');
        } else {
            out.push('*');
        }
        out.push_str(&tail);
    }
    out
}

fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

fn diags(prefix: &str, ds: &[crate::config::yaml::Diag]) -> Vec<String> {
    ds.iter().map(|d| class(prefix, &d.msg)).collect()
}

fn config(input: &[u8]) -> Vec<String> {
    match crate::app::config::parse("fuzz.yml", &text(input)) {
        Ok(c) => vec![format!(
            "ok:{}{}{}{}",
            c.sources
                .of::<crate::sources::json::JsonTarget>()
                .len()
                .min(3),
            c.sources
                .of::<crate::sources::zabbix::ZabbixConfig>()
                .len()
                .min(3),
            c.sources
                .of::<crate::sources::probe::ProbeConfig>()
                .len()
                .min(3),
            c.rules.files.len().min(3)
        )],
        Err(ds) => diags("err", &ds),
    }
}

fn rules(input: &[u8]) -> Vec<String> {
    match crate::rules::file::parse("fuzz.rules.yml", &text(input)) {
        Ok(f) => vec![format!(
            "ok:{}:{}",
            f.groups.len().min(4),
            f.rule_count().min(8)
        )],
        Err(ds) => diags("err", &ds),
    }
}

/// A small store with counters, gauges, a histogram and stale markers.
fn store() -> &'static MemStore {
    static S: OnceLock<MemStore> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = MemStore::new();
        let ts: Vec<i64> = (0..20).map(|i| i * 15_000).collect();
        for (job, inst) in [("a", "1"), ("a", "2"), ("b", "1")] {
            let counter: Vec<(i64, f64)> = ts.iter().map(|&t| (t, (t / 1000) as f64)).collect();
            s.add(
                &[("__name__", "x"), ("job", job), ("instance", inst)],
                &counter,
            );
            let gauge: Vec<(i64, f64)> = ts
                .iter()
                .map(|&t| (t, ((t / 7000) % 5) as f64 - 2.0))
                .collect();
            s.add(
                &[("__name__", "up"), ("job", job), ("instance", inst)],
                &gauge,
            );
            for le in ["0.1", "1", "+Inf"] {
                let b: Vec<(i64, f64)> = ts.iter().map(|&t| (t, (t / 3000) as f64)).collect();
                s.add(&[("__name__", "h_bucket"), ("job", job), ("le", le)], &b);
            }
        }
        s.add(
            &[("__name__", "stale")],
            &[(0, 1.0), (15_000, f64::from_bits(0x7ff0000000000002))],
        );
        s
    })
}

fn promql_eval(input: &[u8]) -> Vec<String> {
    let q = text(input);
    let plan = match promql::parse(&q) {
        Ok(p) => p,
        Err(e) => return vec![class("parse", &e)],
    };
    match promql::eval_instant(&plan, 200_000, store()) {
        Ok(v) => vec![match v {
            promql::Value::Scalar(_) => "ok:scalar".into(),
            promql::Value::Vector(s) => format!("ok:vector:{}", s.len().min(4)),
            promql::Value::Matrix(s) => format!("ok:matrix:{}", s.len().min(4)),
            promql::Value::String(_) => "ok:string".into(),
        }],
        Err(e) => vec![class("eval", &e.0)],
    }
}

/// Mappings of every kind (plain path, wildcard with label paths, expression, scale, timestamp).
fn mappings() -> &'static crate::sources::json::JsonTarget {
    static T: OnceLock<crate::sources::json::JsonTarget> = OnceLock::new();
    T.get_or_init(|| {
        let cfg = "json_targets:\n  - name: f\n    url: http://127.0.0.1:1/\n    timestamp_path: $.timestamp\n    metrics:\n      - {name: a, path: $.response_time_ms, scale: 0.001}\n      - {name: b, path: '$.services[*].latency', labels: {kind: svc}, label_paths: {service: '@.name'}}\n      - {name: c, value: 'errors / (requests + 1)'}\n      - {name: d, path: '$.services[*].count', type: counter}\n";
        let c = crate::app::config::parse("fuzz", cfg).expect("the fuzz mappings are valid");
        c.sources.of::<crate::sources::json::JsonTarget>()[0].clone()
    })
}

/// Input: an optional first line starting with `$` (a JSONPath to compile and apply), then the
/// document, decoded and mapped as a JSON target's response is.
fn json(input: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let (path, body) = match input.first() {
        Some(b'$') => match input.iter().position(|&b| b == b'\n') {
            Some(i) => (Some(&input[..i]), &input[i + 1..]),
            None => (Some(input), &[][..]),
        },
        _ => (None, input),
    };
    let doc: serde_json::Value = match serde_json::from_slice(body) {
        Ok(d) => d,
        Err(e) => {
            out.push(format!("decode:{:?}", e.classify()));
            serde_json::Value::Null
        }
    };
    if let Some(p) = path {
        match jsonpath::parse(&text(p)) {
            Ok(jp) => match jp.select(&doc) {
                Ok(m) => out.push(format!("select:{}", m.len().min(4))),
                Err(e) => out.push(class("select", &e)),
            },
            Err(e) => out.push(class("path", &format!("{e:?}"))),
        }
    }
    let t = mappings();
    match json_map::map_all(
        &t.metrics,
        &t.name,
        t.timestamp_path.as_ref(),
        &doc,
        crate::model::time::now_ms(),
    ) {
        Ok(f) => out.push(format!(
            "map:{}",
            f.iter().map(|x| x.samples.len().min(3)).sum::<usize>()
        )),
        Err(e) => out.push(class(e.reason, &e.msg)),
    }
    out
}

fn textfile(input: &[u8]) -> Vec<String> {
    match crate::collector::textparse::parse(&text(input)) {
        Ok(fams) => fams
            .iter()
            .map(|f| format!("ok:{:?}:{}", f.kind, f.metrics.len().min(3)))
            .chain(std::iter::once("ok".to_string()))
            .collect(),
        Err(e) => vec![class("err", &e)],
    }
}

fn zabbix_cfg() -> &'static ZabbixConfig {
    static C: OnceLock<ZabbixConfig> = OnceLock::new();
    C.get_or_init(|| {
        let cfg = "zabbix:\n  - name: z\n    url: http://127.0.0.1:1/api_jsonrpc.php\n    api_token: t\n    text_items_as_info: true\n    key_patterns: ['system\\..*', 'vm\\.memory\\.size\\[.*\\]', 'agent\\.ping']\n    max_age: 2h\n";
        let c = crate::app::config::parse("fuzz", cfg).expect("the fuzz zabbix config is valid");
        c.sources.of::<ZabbixConfig>()[0].clone()
    })
}

/// A JSON-RPC answer decoded as each call's result type, items converted to families.
fn zabbix(input: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    match zabbix_api::decode_response_as::<Vec<zabbix_items::Item>>(input) {
        Ok(Ok(items)) => {
            let (fams, n) = zabbix_items::convert(zabbix_cfg(), &items, 1_700_000_000);
            out.push(format!("items:{}:{}", fams.len().min(5), n.min(5)));
        }
        // The message is the server's own text: only whether there was a code counts.
        Ok(Err(e)) => out.push(format!("api:{}", e.code.signum())),
        Err(f) => out.push(class(f.reason.as_str(), &f.msg)),
    }
    match zabbix_api::decode_response_as::<String>(input) {
        Ok(Ok(v)) => out.push(format!(
            "version:{}",
            zabbix_api::parse_version(&v).is_some()
        )),
        Ok(Err(_)) => {}
        Err(f) => out.push(class(f.reason.as_str(), &f.msg)),
    }
    let _ = zabbix_items::parse_field(&serde_json::from_slice(input).unwrap_or_default(), "itemid");
    out
}
