# Shared by the bench scripts (sourced): the binary under test, and a scratch directory whose
# background processes (appended to `pids`) are stopped on exit.

# TELLTALE, or a release build of this checkout.
bench_build() {
  if [ -z "${TELLTALE:-}" ]; then
    cargo build --release --locked -q
    TELLTALE=${CARGO_TARGET_DIR:-target}/release/telltale
  fi
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}

# Sets `tmp` and `pids`; everything is cleaned up on exit.
bench_scratch() {
  tmp=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
}
