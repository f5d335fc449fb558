#!/usr/bin/env bash
# Scores telltale's anomaly detectors on the Numenta Anomaly Benchmark (issue 6): builds the
# binary once, runs `telltale score` with one parameter set over every file in NAB's files.txt
# (results in NAB's layout, one directory per detector), runs NAB's scorer on each and prints a
# table of standard / reward_low_FP / reward_low_FN scores (threshold swept, as NAB does).
#
#   bench/nab.sh                               # every detector, defaults, all files
#   bench/nab.sh --detector mad --param scale=mad   # one detector with other parameters
#   bench/nab.sh --smoke                       # CI: the default detector on a few files, debug build,
#                                              # fails unless the scorer runs and beats the null detector
#   bench/nab.sh --cv [--grid FILE]            # cross-validated (leave one category out): each line of
#                                              # FILE (default bench/nab-grid.txt) is one candidate
#                                              # parameter set of the detector; the set and the
#                                              # thresholds are chosen on the other folds (bench/nab_cv.py;
#                                              # --select mean picks the set by the mean of the profiles;
#                                              # --one-threshold: the standard threshold for all three)
#
# Environment: NAB_DIR (default ../shared/nab from the repository root: data/, labels/, config/, files.txt, nabscore.py),
# RESULTS (default $CARGO_TARGET_DIR/nab-results), PROFILE (cargo profile, default release;
# bench-fast skips LTO), TELLTALE (a binary to use instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."
# The shared NAB split lives next to the repository (CI has it at ../shared/nab).
NAB_DIR=${NAB_DIR:-../shared/nab}
TARGET=${CARGO_TARGET_DIR:-target}
RESULTS=${RESULTS:-$TARGET/nab-results}
PROFILE=${PROFILE:-release}
SMOKE_FILES="artificialWithAnomaly/art_daily_jumpsup.csv realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv realKnownCause/ec2_request_latency_system_failure.csv realTraffic/speed_7578.csv"

smoke=0
cv=0
grid=bench/nab-grid.txt
select=standard
one_threshold=()
detectors=()
params=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --cv) cv=1 ;;
    --grid) grid=$2; shift ;;
    --select) select=$2; shift ;;
    --one-threshold) one_threshold=(--one-threshold) ;;
    --detector) detectors+=("$2"); shift ;;
    --detector=*) detectors+=("${1#*=}") ;;
    --param) params+=("$2"); shift ;;
    --param=*) params+=("${1#*=}") ;;
    --nab) NAB_DIR=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "nab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

for f in files.txt nabscore.py labels/combined_windows.json; do
  [ -e "$NAB_DIR/$f" ] || { echo "nab.sh: $NAB_DIR/$f missing (set NAB_DIR)" >&2; exit 1; }
done

if [ -z "${TELLTALE:-}" ]; then
  if [ "$smoke" = 1 ]; then
    cargo build --locked -q
    TELLTALE=$TARGET/debug/telltale
  else
    cargo build --locked -q --profile "$PROFILE"
    dir=$PROFILE; [ "$PROFILE" = dev ] && dir=debug
    TELLTALE=$TARGET/$dir/telltale
  fi
fi

files_list=$(mktemp)
trap 'rm -f "$files_list"' EXIT
if [ "$smoke" = 1 ]; then
  printf '%s\n' $SMOKE_FILES > "$files_list"
else
  grep -v '^[[:space:]]*\(#\|$\)' "$NAB_DIR/files.txt" > "$files_list"
fi
score_all() { # score_all OUT_DIR DETECTOR [--param K=V]...: every file of the list into OUT_DIR
  local out=$1 det=$2 rel
  shift 2
  rm -rf "$out"
  while read -r rel; do
    mkdir -p "$out/$(dirname "$rel")"
    "$TELLTALE" score --detector "$det" "$@" --input "$NAB_DIR/data/$rel" --output "$out/$rel" 2>/dev/null
  done < "$files_list"
}

if [ "$cv" = 1 ]; then
  det=${detectors[0]:-ensemble}
  configs=()
  i=0
  while read -r line; do
    line=${line%%#*}
    [ -n "${line// /}" ] || continue
    i=$((i + 1))
    args=()
    for p in $line; do [ "$p" = - ] || args+=(--param "$p"); done
    score_all "$RESULTS/cv/$i" "$det" "${args[@]+"${args[@]}"}"
    configs+=("--config=$(echo $line | tr ' ' ',')=$RESULTS/cv/$i")
  done < "$grid"
  echo "$det, $i candidate parameter sets from $grid"
  echo
  python3 bench/nab_cv.py --nab "$NAB_DIR" --files "$files_list" "${configs[@]}" \
    --select "$select" "${one_threshold[@]+"${one_threshold[@]}"}" --json "$RESULTS/cv/cv.json"
  exit 0
fi

if [ ${#detectors[@]} -eq 0 ]; then
  if [ "$smoke" = 1 ]; then
    detectors=(ensemble)
  else
    # Every registered detector: the unindented lines of `score --list`.
    mapfile -t detectors < <("$TELLTALE" score --list | sed -n 's/^\([a-z][a-z0-9_]*\)[ :(].*/\1/p')
  fi
fi

param_args=()
tag=""
for p in "${params[@]+"${params[@]}"}"; do
  param_args+=(--param "$p")
  tag="$tag,$p"
done

printf '| detector | standard | reward_low_FP | reward_low_FN |\n|---|---|---|---|\n'
status=0
for det in "${detectors[@]}"; do
  out="$RESULTS/$det${tag//[^A-Za-z0-9.=,_-]/_}"
  score_all "$out" "$det" "${param_args[@]+"${param_args[@]}"}"
  line=$(python3 "$NAB_DIR/nabscore.py" --data-root "$NAB_DIR" --results "$out" \
    --files "$files_list" --json "$out/scores.json" 2>/dev/null | grep '^NAB ')
  read -r std lfp lfn < <(echo "$line" | sed 's/.*standard=\([^ ]*\) low_fp=\([^ ]*\) low_fn=\([^ ]*\).*/\1 \2 \3/')
  printf '| %s%s | %s | %s | %s |\n' "$det" "${tag:+ (${tag#,})}" "$std" "$lfp" "$lfn"
  if [ "$smoke" = 1 ] && ! python3 -c "import sys; sys.exit(0 if float('$std') > 0 else 1)"; then
    echo "nab.sh: smoke: $det scored $std, not above the null detector (0)" >&2
    status=1
  fi
done
exit $status
