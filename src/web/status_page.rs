//! The status page at `/`: what telltale watches and what is firing, at a glance. Plain
//! server-rendered HTML without script, refreshed by the browser every 10 s; charts are inline
//! SVG of the samples behind each rule (its first selector, last 15 minutes).

use std::fmt::Write;

use crate::app::Running;
use crate::model::labels;
use crate::model::time::format_millis;
use crate::promql;
use crate::rules::alert::AlertState;
use crate::rules::engine::{Engine, Group};
use crate::rules::eval::{selectors, RuleState};
use crate::sources::Source;
use crate::store::select::Queryable;
use crate::store::Store;

const CHART_WINDOW_MS: i64 = 15 * 60 * 1000;
const CHART_SERIES: usize = 4;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.25em .5em;\
text-align:left;vertical-align:top;font-size:90%}th{background:#f3f3f3}\
.firing{background:#fdd}.pending{background:#ffe9b3}.ok,.up{color:#070}.err,.down{color:#b00}\
code{font-size:90%}svg{background:#fafafa}";

/// The whole page for the running state at `now_ms`.
pub fn page(running: &Running, store: &Store, telemetry_path: &str, now_ms: i64) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
<title>telltale</title><style>{STYLE}</style></head>\n<body>\n<h1>telltale</h1>\n\
<p>Prometheus exporter and alert-rules engine, version {}. \
<a href=\"{}\">Metrics</a> · <a href=\"/api/v1/rules\">Rules API</a> · <a href=\"/api/v1/alerts\">Alerts API</a> · \
<a href=\"/api/v1/targets\">Targets API</a> · <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a></p>\n",
        env!("CARGO_PKG_VERSION"),
        esc(telemetry_path)
    );
    let collectors = running
        .system
        .as_ref()
        .map(|s| s.names().join(", "))
        .unwrap_or_else(|| "none".into());
    let _ = writeln!(
        h,
        "<p>Host collectors: {}; scrape interval {}.</p>",
        esc(&collectors),
        crate::config::yaml::format_duration(running.config.global.scrape_interval)
    );
    match &running.alerting.engine {
        Some(e) => {
            alerts(&mut h, e);
            rules(&mut h, e, store, now_ms);
        }
        None => h.push_str("<h2>Alerts</h2>\n<p>No rule files are loaded.</p>\n"),
    }
    targets(&mut h, &running.sources);
    h.push_str("</body></html>\n");
    h
}

fn labels_html(l: &[(String, String)]) -> String {
    l.iter()
        .map(|(k, v)| format!("{}=&quot;{}&quot;", esc(k), esc(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn alerts(h: &mut String, e: &Engine) {
    let mut rows = String::new();
    let mut n = 0;
    for g in &e.groups {
        for rs in &g.state().rules {
            for a in rs.alert.iter().flat_map(|r| r.active_alerts()) {
                n += 1;
                let st = a.state.as_str();
                let ann = a
                    .annotations
                    .iter()
                    .map(|(k, v)| format!("<b>{}</b>: {}", esc(k), esc(v)))
                    .collect::<Vec<_>>()
                    .join("<br>");
                let _ = writeln!(
                    rows,
                    "<tr class=\"{st}\"><td>{st}</td><td>{}</td><td>{}</td><td>{ann}</td><td>{}</td><td>{}</td></tr>",
                    esc(labels::get(&a.labels, "alertname").unwrap_or("")),
                    labels_html(&a.labels),
                    format_millis(a.active_at_ms),
                    a.value,
                );
            }
        }
    }
    let _ = writeln!(h, "<h2>Alerts ({n} active)</h2>");
    if n == 0 {
        h.push_str("<p>Nothing is pending or firing.</p>\n");
    } else {
        h.push_str("<table><tr><th>state</th><th>alert</th><th>labels</th><th>annotations</th><th>active since</th><th>value</th></tr>\n");
        h.push_str(&rows);
        h.push_str("</table>\n");
    }
}

fn rules(h: &mut String, e: &Engine, store: &Store, now_ms: i64) {
    let _ = writeln!(h, "<h2>Rules ({} groups)</h2>", e.groups.len());
    for g in &e.groups {
        let st = g.state();
        let last = st
            .stats
            .last_eval_ms
            .map_or_else(|| "never".into(), format_millis);
        let _ = writeln!(
            h,
            "<h3>{} <small>({}, every {}, last {last}, took {:.3} ms)</small></h3>",
            esc(&g.spec.name),
            esc(&g.file),
            crate::config::yaml::format_duration(g.interval),
            st.stats.last_duration.as_secs_f64() * 1000.0
        );
        h.push_str("<table><tr><th>rule</th><th>state</th><th>health</th><th>query</th><th>last evaluation</th><th>recent input</th></tr>\n");
        for (i, rs) in st.rules.iter().enumerate() {
            rule_row(h, g, i, rs, store, now_ms);
        }
        h.push_str("</table>\n");
    }
}

fn rule_row(h: &mut String, g: &Group, i: usize, rs: &RuleState, store: &Store, now_ms: i64) {
    let rule = &g.spec.rules[i];
    let (kind, state) = match &rs.alert {
        Some(a) => ("alert", a.state().unwrap_or(AlertState::Inactive).as_str()),
        None => ("record", ""),
    };
    let health = rs.health.as_str();
    let err = rs
        .last_error
        .as_deref()
        .map(|e| format!("<br><small>{}</small>", esc(e)))
        .unwrap_or_default();
    let chart = match rule.expr.plans().first() {
        Some(plan) => chart(plan, store, now_ms),
        None => "<small>on the datasource</small>".into(),
    };
    let _ = writeln!(
        h,
        "<tr class=\"{state}\"><td>{kind} <b>{}</b></td><td>{state}</td><td class=\"{health}\">{health}{err}</td>\
<td><code>{}</code></td><td>{}</td><td>{chart}</td></tr>",
        esc(&rule.name),
        esc(&rule.expr_text),
        rs.last_eval_ms.map_or_else(|| "never".into(), format_millis),
    );
}

/// An inline SVG of up to four series of the plan's first selector over the chart window.
fn chart(plan: &promql::Plan, store: &Store, now_ms: i64) -> String {
    let mut sels = Vec::new();
    selectors(plan, &mut sels);
    let Some((sel, _)) = sels.first() else {
        return String::new();
    };
    let series: Vec<Vec<(i64, f64)>> = store
        .select(&sel.matchers, now_ms - CHART_WINDOW_MS, now_ms)
        .into_iter()
        .take(CHART_SERIES)
        .map(|s| {
            (s.samples.into_iter())
                .filter(|(_, v)| v.is_finite())
                .collect()
        })
        .collect();
    let (lo, hi) = series
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    if !lo.is_finite() {
        return "<small>no samples</small>".into();
    }
    let (w, ht) = (160.0, 40.0);
    // The x axis spans what there is (up to the window), so a short history fills the chart.
    let from = series
        .iter()
        .flatten()
        .map(|(t, _)| *t)
        .min()
        .unwrap_or(now_ms);
    let width_ms = (now_ms - from).max(1) as f64;
    let label = format!("recent samples, {lo} to {hi}");
    let (lo, span) = if hi > lo {
        (lo, hi - lo)
    } else {
        (lo - 1.0, 2.0)
    };
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    let mut svg =
        format!("<svg width=\"{w}\" height=\"{ht}\" role=\"img\" aria-label=\"{label}\">");
    for (s, colour) in series.iter().zip(colours) {
        let pts: Vec<String> = s
            .iter()
            .map(|(t, v)| {
                let x = (t - from) as f64 / width_ms * w;
                let y = ht - 2.0 - (v - lo) / span * (ht - 4.0);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            pts.join(" ")
        );
    }
    svg.push_str("</svg>");
    svg
}

pub(super) fn targets(h: &mut String, sources: &[std::sync::Arc<dyn Source>]) {
    let _ = writeln!(h, "<h2>Targets ({})</h2>", sources.len());
    if sources.is_empty() {
        h.push_str("<p>No JSON targets, probes or Zabbix servers are configured.</p>\n");
        return;
    }
    h.push_str("<table><tr><th>target</th><th>kind</th><th>health</th><th>last poll</th><th>url</th><th>last error</th></tr>\n");
    for s in sources {
        let hl = s.health();
        let health = match hl.up {
            None => "unknown",
            Some(true) => "up",
            Some(false) => "down",
        };
        let last = if hl.last_poll_ms > 0 {
            format_millis(hl.last_poll_ms)
        } else {
            "never".into()
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{health}\">{health}</td><td>{last}</td><td>{}</td><td>{}</td></tr>",
            esc(s.name()),
            esc(s.kind()),
            esc(s.url()),
            esc(&hl.last_error)
        );
    }
    h.push_str("</table>\n");
}
