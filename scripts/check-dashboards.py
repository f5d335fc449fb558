#!/usr/bin/env python3
"""Check the shipped Grafana dashboards against the metric names telltale serves.

usage: scripts/check-dashboards.py [-v] NAMES_FILE [DASHBOARD.json | DIR ...]

NAMES_FILE lists the metric names that exist, one per line (blank lines and
lines starting with '#' are ignored; anything after the name on a line is
ignored too, so raw /metrics text also works). Make it from a running telltale:

    curl -s http://127.0.0.1:8465/metrics | grep -v '^#' | sed 's/[{ ].*//' | sort -u > names.txt

The series Prometheus makes up for every target (up, scrape_duration_seconds,
...) are always known, since /metrics cannot list them.

Without paths it checks every dashboards/*.json of the repository. For each
dashboard it checks the structure (importable: __inputs, __requires; unique
panel ids; a gridPos inside the 24-column grid, no overlapping panels; every
query target has an expr; every datasource is an __inputs variable such as
${DS_PROMETHEUS}), then pulls the metric names out of every PromQL expression
and template-variable query and looks them up in NAMES_FILE.

Exit status: 0 all good, 1 problems found (each printed), 2 bad usage or
unreadable input. Python 3 standard library only.
"""

import argparse
import json
import os
import re
import sys

GRID_COLUMNS = 24

# Series Prometheus adds to every scrape; they never appear in /metrics.
SYNTHETIC = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
}

AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}

FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh",
    "atan", "atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max",
    "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv",
    "double_exponential_smoothing", "exp", "first_over_time", "floor",
    "histogram_avg", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_stddev", "histogram_stdvar",
    "histogram_sum", "holt_winters", "hour", "idelta", "increase", "info",
    "irate", "label_join", "label_replace", "last_over_time", "ln", "log10",
    "log2", "mad_over_time", "max_over_time", "min_over_time", "minute",
    "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn",
    "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc",
    "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan",
    "tanh", "time", "timestamp", "ts_of_first_over_time",
    "ts_of_last_over_time", "ts_of_max_over_time", "ts_of_min_over_time",
    "vector", "year",
    # `@ start()` / `@ end()` modifiers
    "start", "end",
}

# Compared in lower case: PromQL keywords are case-insensitive.
KEYWORDS = {
    "and", "or", "unless", "atan2", "bool", "by", "without", "on", "ignoring",
    "group_left", "group_right", "offset", "inf", "nan",
}

GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)",
    re.IGNORECASE)
IDENT = re.compile(r"(?<![\w:.$])[A-Za-z_:][\w:]*")
CALL = re.compile(r"\s*\(")


def blank_strings_and_comments(expr):
    """Return expr with string literals emptied and # comments removed."""
    out = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            out.append(c + c)
            i = j + 1
        elif c == "#":
            while i < n and expr[i] != "\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def metric_names(expr):
    """Metric names used in a PromQL expression, and unknown function calls.

    Grafana variables, string literals, label matchers ({...}), ranges and
    subqueries ([...]) and grouping label lists (by (...), on (...), ...) are
    removed first; every identifier left that is not a call, a keyword or an
    aggregation is a metric name.
    """
    s = blank_strings_and_comments(expr)
    s = re.sub(r"\$\{[^}]*\}|\$\w+", " 0 ", s)
    s = re.sub(r"\[[^\[\]]*\]", "[]", s)
    s = re.sub(r"\{[^{}]*\}", "{}", s)
    s = GROUPING.sub(" ", s)
    names, unknown_calls = set(), set()
    for m in IDENT.finditer(s):
        word = m.group(0)
        if word.lower() in KEYWORDS:
            continue
        if CALL.match(s, m.end()):
            if word not in FUNCTIONS and word.lower() not in AGGREGATIONS:
                unknown_calls.add(word)
            continue
        if word.lower() in AGGREGATIONS:
            continue
        names.add(word)
    return names, unknown_calls


def split_top_level(args):
    """Split a function's argument text on commas outside brackets and strings."""
    parts, depth, cur, quote = [], 0, [], None
    for c in args:
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'`":
            quote = c
        elif c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(c)
    parts.append("".join(cur))
    return parts


def variable_query_exprs(query):
    """PromQL expressions inside a Grafana Prometheus variable query."""
    m = re.match(r"^\s*(\w+)\s*\((.*)\)\s*$", query, re.DOTALL)
    if not m:
        return [query]
    func, args = m.group(1), m.group(2)
    if func == "label_values":
        parts = split_top_level(args)
        return [parts[0]] if len(parts) == 2 else []
    if func == "query_result":
        return [args]
    if func in ("label_names", "metrics"):
        return []
    return [query]


class Checker:
    def __init__(self, known):
        self.known = known
        self.errors = []
        self.uses = {}  # metric name -> set of "file: where"
        self.files = self.panels = self.exprs = 0

    def error(self, where, message):
        self.errors.append(f"{where}: {message}")

    def check_expr(self, where, expr):
        self.exprs += 1
        names, calls = metric_names(expr)
        for call in sorted(calls):
            self.error(where, f"unknown PromQL function {call!r}")
        for name in names:
            self.uses.setdefault(name, set()).add(where)

    def check_datasource(self, where, ds, allowed):
        if isinstance(ds, dict):
            uid = ds.get("uid")
        else:
            uid = ds
        if uid not in allowed:
            want = " or ".join(sorted(allowed)) or "an __inputs datasource variable"
            self.error(where, f"datasource {json.dumps(ds)} must use {want}")

    def check_file(self, path):
        self.files += 1
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, ValueError) as e:
            self.error(path, f"cannot load: {e}")
            return None
        if not isinstance(dash, dict):
            self.error(path, "top level is not a JSON object")
            return None

        for key, kind in (("title", str), ("uid", str), ("schemaVersion", int),
                          ("panels", list)):
            if not isinstance(dash.get(key), kind):
                self.error(path, f"missing or mistyped {key!r}")
        if dash.get("id") is not None:
            self.error(path, "'id' must be null so that import creates a new dashboard")

        inputs = dash.get("__inputs")
        allowed = set()
        if not isinstance(inputs, list) or not inputs:
            self.error(path, "no '__inputs': Grafana's import UI cannot ask for a datasource")
        else:
            for inp in inputs:
                if isinstance(inp, dict) and inp.get("type") == "datasource" and inp.get("name"):
                    allowed.add("${%s}" % inp["name"])
            if not allowed:
                self.error(path, "'__inputs' declares no datasource")

        requires = dash.get("__requires")
        required_panels = None
        if not isinstance(requires, list) or not requires:
            self.error(path, "no '__requires' list")
        else:
            required_panels = {r.get("id") for r in requires
                               if isinstance(r, dict) and r.get("type") == "panel"}

        ids = {}
        self.check_panels(path, dash.get("panels") or [], allowed, ids, required_panels)

        templating = dash.get("templating", {})
        for var in (templating.get("list", []) if isinstance(templating, dict) else []):
            name = var.get("name", "?")
            where = f"{path}: variable ${name}"
            if var.get("type") != "query":
                continue
            self.check_datasource(where, var.get("datasource"), allowed)
            query = var.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            if not isinstance(query, str) or not query.strip():
                self.error(where, "query variable without a query")
                continue
            for expr in variable_query_exprs(query):
                self.check_expr(where, expr)

        annotations = dash.get("annotations", {})
        for ann in (annotations.get("list", []) if isinstance(annotations, dict) else []):
            if ann.get("builtIn") or "expr" not in ann:
                continue
            where = f"{path}: annotation {ann.get('name', '?')!r}"
            self.check_datasource(where, ann.get("datasource"), allowed)
            self.check_expr(where, ann["expr"])
        return dash

    def check_panels(self, path, panels, allowed, ids, required_panels):
        boxes = []
        for p in panels:
            if not isinstance(p, dict):
                self.error(path, "a panel is not a JSON object")
                continue
            self.panels += 1
            pid = p.get("id")
            where = f"{path}: panel {pid} {p.get('title', '')!r}"
            if not isinstance(pid, int) or isinstance(pid, bool):
                self.error(where, "panel id is not an integer")
            elif pid in ids:
                self.error(where, f"duplicate panel id (also {ids[pid]!r})")
            else:
                ids[pid] = p.get("title", "")
            ptype = p.get("type")
            if not isinstance(ptype, str):
                self.error(where, "no panel type")
            elif (ptype != "row" and required_panels is not None
                  and ptype not in required_panels):
                self.error(where, f"panel type {ptype!r} missing from __requires")

            g = p.get("gridPos")
            if not isinstance(g, dict) or not all(
                    isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
                self.error(where, "gridPos needs integer h, w, x and y")
            elif g["w"] < 1 or g["h"] < 1 or g["x"] < 0 or g["y"] < 0 \
                    or g["x"] + g["w"] > GRID_COLUMNS:
                self.error(where, f"gridPos {g} is outside the {GRID_COLUMNS}-column grid")
            else:
                for other, ob in boxes:
                    if (g["x"] < ob["x"] + ob["w"] and ob["x"] < g["x"] + g["w"]
                            and g["y"] < ob["y"] + ob["h"] and ob["y"] < g["y"] + g["h"]):
                        self.error(where, f"gridPos overlaps panel {other}")
                boxes.append((pid, g))

            targets = p.get("targets")
            if targets is not None:
                if not isinstance(targets, list):
                    self.error(where, "'targets' is not a list")
                    targets = []
                if targets:
                    self.check_datasource(where, p.get("datasource"), allowed)
                refs = set()
                for t in targets:
                    ref = t.get("refId") if isinstance(t, dict) else None
                    twhere = f"{where} target {ref}"
                    if not isinstance(t, dict):
                        self.error(where, "a target is not a JSON object")
                        continue
                    if ref in refs:
                        self.error(twhere, "duplicate refId")
                    refs.add(ref)
                    if "datasource" in t:
                        self.check_datasource(twhere, t["datasource"], allowed)
                    expr = t.get("expr")
                    if not isinstance(expr, str) or not expr.strip():
                        self.error(twhere, "target has no expr")
                        continue
                    self.check_expr(twhere, expr)
            elif ptype not in ("row", "text", "news", "dashlist", "welcome"):
                self.error(where, "panel has no targets")

            # Rows keep their panels inline when collapsed.
            if p.get("panels"):
                self.check_panels(path, p["panels"], allowed, ids, required_panels)


def load_names(path):
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def dashboard_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".json"))
        else:
            files.append(p)
    return files


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(
        description="Validate Grafana dashboards and check their metric names.")
    ap.add_argument("names", help="file with one known metric name per line")
    ap.add_argument("paths", nargs="*", help="dashboard files or directories "
                    "(default: the repository's dashboards/)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="also list every metric name used")
    args = ap.parse_args()

    try:
        known = load_names(args.names) | SYNTHETIC
    except OSError as e:
        print(f"check-dashboards: cannot read names file: {e}", file=sys.stderr)
        return 2
    files = dashboard_files(args.paths or [os.path.join(repo, "dashboards")])
    if not files:
        print("check-dashboards: no dashboards found", file=sys.stderr)
        return 2

    checker = Checker(known)
    uids = {}
    for path in files:
        dash = checker.check_file(path)
        if dash and isinstance(dash.get("uid"), str):
            if dash["uid"] in uids:
                checker.error(path, f"uid {dash['uid']!r} also used by {uids[dash['uid']]}")
            uids.setdefault(dash["uid"], path)

    unknown = sorted(n for n in checker.uses if n not in known)
    for name in unknown:
        for where in sorted(checker.uses[name]):
            checker.error(where, f"unknown metric {name!r}")

    if args.verbose:
        for name in sorted(checker.uses):
            print(f"uses {name} (in {len(checker.uses[name])} queries)")
    for e in checker.errors:
        print(e)
    summary = (f"{checker.files} dashboard(s), {checker.panels} panels, "
               f"{checker.exprs} queries, {len(checker.uses)} metric names")
    if checker.errors:
        if unknown:
            print(f"unknown metric names ({len(unknown)}): {', '.join(unknown)}")
        print(f"FAIL: {len(checker.errors)} problem(s) in {summary}")
        return 1
    print(f"OK: {summary}, all known")
    return 0


if __name__ == "__main__":
    sys.exit(main())
