#!/usr/bin/env python3
"""Cross-validated NAB scores (issue 15), with NAB's own scoring rules from nabscore.py.

    nab_cv.py --nab NAB_DIR --files LIST --config NAME=RESULTS_DIR [--config ...]

Each --config is one candidate parameter set, already scored over every file of LIST into
RESULTS_DIR (NAB's layout). The files are split into folds by category (the directory: one
source each, so files from one source always share a fold). For each fold held out, every tuned
value is chosen on the other folds only: the parameter set (by default the one with the best
standard score there, NAB's headline; --select mean: the best mean of the three profiles) and, for
each profile, the alarm threshold (NAB's sweep); the held-out fold is then scored with those,
unchanged. The cross-validated score pools the held-out raw scores of every fold and normalises
them as NAB does (null = 0, perfect = 100). The in-sample score chooses the same values on all
the files and scores them. Prints both, then a per-category table.
"""
import argparse
import functools
import importlib.util
import json
import os
import sys
from collections import OrderedDict

PROFILES = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]


def load_scorer(nab):
    spec = importlib.util.spec_from_file_location("nabscore", os.path.join(nab, "nabscore.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # Every candidate reads the same data files: parse each (and each timestamp) once.
    read, data = mod.read_csv_rows, os.path.join(nab, "data") + os.sep
    cache = {}

    def read_once(path):
        if not path.startswith(data):
            return read(path)
        if path not in cache:
            cache[path] = read(path)
        return cache[path]

    mod.read_csv_rows = read_once
    mod.parse_ts = functools.lru_cache(maxsize=None)(mod.parse_ts)
    return mod


def prepare(ns, nab, results, rels, windows):
    files, wid = [], 0
    for rel in rels:
        f = ns.prepare_file(nab, results, rel, windows[rel], wid)
        wid += len(f.windows)
        files.append(f)
    return files


def norm(ns, files, raw, cm):
    null = -cm["fnWeight"] * sum(len(f.scorable_windows) for f in files)
    perfect = cm["tpWeight"] * sum(len(f.windows) for f in files)
    return 100.0 * (raw - null) / (perfect - null) if perfect > null else float("nan")


def choose(ns, by_config, idx, cms, select, one_threshold=False):
    """The parameter set and per-profile thresholds chosen on files[idx] of every config: the
    set with the best normalised score there (`select`: one profile's, or the mean of the three),
    each profile's threshold swept on it (`one_threshold`: the standard profile's, for all)."""
    best = None
    for name, files in by_config.items():
        train = [files[i] for i in idx]
        sw = ns.Sweep(train)
        picks, scores = {}, {}
        k_std, _ = sw.best(cms["standard"])
        for p in PROFILES:
            k, raw = sw.best(cms[p])
            picks[p] = sw.threshold_of(k_std if one_threshold else k)
            scores[p] = norm(ns, train, raw, cms[p])
        key = sum(scores.values()) / len(scores) if select == "mean" else scores[select]
        if best is None or key > best[0]:
            best = (key, name, picks)
    return best[1], best[2]


def raw_at(ns, files, t, cm):
    return {r["file"]: r["raw"] for r in ns.per_file_at(files, t, cm)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nab", required=True)
    ap.add_argument("--files", required=True)
    ap.add_argument("--config", action="append", required=True, help="NAME=RESULTS_DIR")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--select", default="standard", choices=["mean"] + PROFILES,
                    help="what picks the parameter set on the training folds (default: the "
                         "standard score; mean: the mean of the three profiles')")
    ap.add_argument("--one-threshold", action="store_true",
                    help="every profile uses the threshold swept for the standard one")
    a = ap.parse_args()
    ns = load_scorer(a.nab)
    with open(os.path.join(a.nab, "labels", "combined_windows.json")) as fh:
        windows = json.load(fh)
    with open(os.path.join(a.nab, "config", "profiles.json")) as fh:
        cms = {p: v["CostMatrix"] for p, v in json.load(fh).items()}
    rels = ns.load_file_list(a.files)
    by_config = OrderedDict()
    for c in a.config:
        name, _, d = c.rpartition("=")
        by_config[name] = prepare(ns, a.nab, d, rels, windows)
    cats = OrderedDict()
    for i, rel in enumerate(rels):
        cats.setdefault(rel.split("/")[0], []).append(i)
    everything = list(range(len(rels)))

    cv_raw = {p: {} for p in PROFILES}
    chosen = OrderedDict()
    for cat, held in cats.items():
        train = [i for i in everything if i not in held]
        name, thr = choose(ns, by_config, train, cms, a.select, a.one_threshold)
        chosen[cat] = (name, thr)
        files = [by_config[name][i] for i in held]
        for p in PROFILES:
            cv_raw[p].update(raw_at(ns, files, thr[p], cms[p]))
    name_in, thr_in = choose(ns, by_config, everything, cms, a.select, a.one_threshold)
    in_raw = {p: raw_at(ns, by_config[name_in], thr_in[p], cms[p]) for p in PROFILES}

    ref = next(iter(by_config.values()))  # windows are the same in every config

    def table_score(raws, idx):
        fs = [ref[i] for i in idx]
        return [norm(ns, fs, sum(raws[p][rels[i]] for i in idx), cms[p]) for p in PROFILES]

    cv = table_score(cv_raw, everything)
    ins = table_score(in_raw, everything)
    fmt = lambda xs: " | ".join("n/a" if x != x else "%.2f" % x for x in xs)
    print("| protocol | standard | reward_low_FP | reward_low_FN |")
    print("|---|---|---|---|")
    print("| **cross-validated** (leave one category out) | %s |" % fmt(cv))
    print("| in-sample (tuned on all %d files) | %s |" % (len(rels), fmt(ins)))
    print()
    print("In-sample choice: %s, thresholds %s" % (
        name_in, " / ".join("never" if thr_in[p] is None else "%.4f" % thr_in[p] for p in PROFILES)))
    print()
    print("| held-out category | files | windows | chosen on the other folds | "
          "CV standard | CV low_FP | CV low_FN | false-alarm rows (standard) |")
    print("|---|---|---|---|---|---|---|---|")
    per_cat = OrderedDict()
    for cat, held in cats.items():
        name, thr = chosen[cat]
        files = [by_config[name][i] for i in held]
        fp_rows = sum(r["fp_rows"] for r in ns.per_file_at(files, thr["standard"], cms["standard"]))
        s = table_score(cv_raw, held)
        per_cat[cat] = {"config": name, "thresholds": thr, "scores": s, "fp_rows": fp_rows}
        print("| %s | %d | %d | %s @ %s | %s | %d |" % (
            cat, len(held), sum(len(f.windows) for f in files), name,
            "never" if thr["standard"] is None else "%.4f" % thr["standard"], fmt(s), fp_rows))
    print()
    print("CV standard=%.2f low_fp=%.2f low_fn=%.2f; in-sample standard=%.2f low_fp=%.2f "
          "low_fn=%.2f" % tuple(cv + ins))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"cv": cv, "in_sample": ins, "in_sample_choice": [name_in, thr_in],
                       "per_category": per_cat}, fh, indent=1)


if __name__ == "__main__":
    sys.exit(main())
