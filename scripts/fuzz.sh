#!/usr/bin/env bash
# Fuzzes every decoder that reads input telltale does not control, SECONDS each (default 60):
#   scripts/fuzz.sh [SECONDS]
# Targets: config, rules, promql, json, textfile, zabbix (FUZZ_TARGETS="a b" picks some;
# FUZZ_SEED=N repeats a run). Inputs that show a new outcome class are kept in
# fuzz/corpus/<target>/ and seed the next run; a failing input (panic, abort, over 2 s) is saved
# in fuzz/crashes/ and the script exits 1. Uses the debug build, where integer overflow panics.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cargo build --quiet --locked
bin="$(cargo metadata --locked --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/telltale"
status=0
for t in ${FUZZ_TARGETS:-config rules promql json textfile zabbix}; do
  "$bin" fuzz --target "$t" --seconds "$secs" --corpus "fuzz/corpus/$t" --crashes fuzz/crashes \
    ${FUZZ_SEED:+--seed "$FUZZ_SEED"} || status=1
done
exit $status
