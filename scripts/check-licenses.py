#!/usr/bin/env python3
"""Fails when any dependency's licence is not permissive (reads `cargo metadata`).

An SPDX expression passes when, after choosing among OR alternatives, every licence it needs is in
ALLOWED. evalexpr 12+ is AGPL: it fails here by its licence, and is also named explicitly.
"""
import json
import re
import subprocess
import sys

ALLOWED = {
    "MIT", "MIT-0", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause",
    "ISC", "Zlib", "0BSD", "BSL-1.0", "CC0-1.0", "Unlicense", "Unicode-3.0", "Unicode-DFS-2016",
    "CDLA-Permissive-2.0",
}


def permissive(expr: str) -> bool:
    """Evaluates an SPDX expression: OR needs one permissive side, AND needs both."""
    tokens = re.findall(r"\(|\)|[^\s()]+(?:\s+WITH\s+[^\s()]+)?", expr.replace("/", " OR "))
    pos = 0

    def atom() -> bool:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            val = disjunction()
            pos += 1  # ")"
            return val
        return tok in ALLOWED

    def conjunction() -> bool:
        nonlocal pos
        val = atom()
        while pos < len(tokens) and tokens[pos] == "AND":
            pos += 1
            val = atom() and val
        return val

    def disjunction() -> bool:
        nonlocal pos
        val = conjunction()
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            val = conjunction() or val
        return val

    return bool(tokens) and disjunction()


def main() -> int:
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--locked"]))
    bad = []
    for pkg in meta["packages"]:
        lic = pkg.get("license") or ""
        if pkg["name"] == "evalexpr" and int(pkg["version"].split(".")[0]) >= 12:
            bad.append(f"{pkg['name']} {pkg['version']}: evalexpr 12+ is AGPL; pin 11.x")
        elif not lic or not permissive(lic):
            bad.append(f"{pkg['name']} {pkg['version']}: {lic or 'no licence field'}")
    root = next(p for p in meta["packages"] if p["name"] == "telltale")
    if root.get("license") != "Apache-2.0":
        bad.append(f"telltale itself must be Apache-2.0, is {root.get('license')}")
    for line in bad:
        print("licence check:", line, file=sys.stderr)
    print(f"licence check: {len(meta['packages'])} packages, {len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    assert permissive("MIT OR Apache-2.0")
    assert permissive("(MIT OR Apache-2.0) AND Unicode-3.0")
    assert not permissive("AGPL-3.0-only")
    assert not permissive("MIT AND GPL-2.0")
    assert permissive("Apache-2.0 WITH LLVM-exception OR MIT")
    assert permissive("MIT/Apache-2.0")
    sys.exit(main())
