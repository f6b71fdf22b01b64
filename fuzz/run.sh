#!/usr/bin/env bash
# Fuzz p1ge0n's parsers with cargo-fuzz (libFuzzer). See fuzz/README.md.
#
#   fuzz/run.sh TARGET [SECONDS] [-- LIBFUZZER_ARGS...]   one target (default 600 s)
#   fuzz/run.sh --all [SECONDS]                            every target in turn
#   fuzz/run.sh --ci                                       every target ~5 s over its seeds
#   fuzz/run.sh --list                                     the target names
#
# Environment:
#   FUZZ_KEEP_GOING=1   libFuzzer fork mode: record every crash in
#                       fuzz/artifacts/TARGET/ and keep fuzzing (default: stop
#                       at the first crash)
#   FUZZ_CI_SECONDS=N   seconds per target for --ci (default 5)
#
# Runs on a stable toolchain: cargo-fuzz needs nightly-only flags
# (-Zsanitizer=address), which RUSTC_BOOTSTRAP=1 unlocks. Installs cargo-fuzz
# (`cargo install cargo-fuzz --locked`) when it is missing.
#
# New inputs the fuzzer finds go to fuzz/corpus-work/TARGET/ (ignored by git);
# the committed seeds in fuzz/corpus/TARGET/ are only read. Crashes land in
# fuzz/artifacts/TARGET/ (ignored); minimise one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz tmin TARGET fuzz/artifacts/TARGET/crash-...
# (from the repository root) and commit it to fuzz/artifacts-found/TARGET/ and
# fuzz/corpus/TARGET/regression-NAME.
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$FUZZ_DIR")"
cd "$ROOT"

TARGETS=(payload frame_decoder frame_spec capture pcap cli_values rules decode rtu request fault)
export RUSTC_BOOTSTRAP=1

usage() {
  sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ensure_cargo_fuzz() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
  fi
}

is_target() {
  local t
  for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done
  return 1
}

# libFuzzer flags shared by every run: the target's dictionary, a per-input
# time limit (a hang is a bug too), and libFuzzer's default 2 GB memory cap.
common_flags() {
  local t="$1"
  FLAGS=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  if [ -f "$FUZZ_DIR/dict/$t.dict" ]; then
    FLAGS+=("-dict=$FUZZ_DIR/dict/$t.dict")
  fi
  if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    FLAGS+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
}

# run TARGET SECONDS WORK_CORPUS [LIBFUZZER_ARGS...]
run() {
  local t="$1" secs="$2" work="$3"
  shift 3
  mkdir -p "$work" "$FUZZ_DIR/artifacts/$t"
  common_flags "$t"
  # The first corpus directory is the one libFuzzer writes to.
  cargo fuzz run "$t" "$work" "$FUZZ_DIR/corpus/$t" -- \
    "${FLAGS[@]}" -max_total_time="$secs" "$@"
}

case "${1:-}" in
  "" | -h | --help) usage ;;
  --list) printf '%s\n' "${TARGETS[@]}" ;;
  --ci)
    # Short regression run: every committed seed (regression-* included) is
    # executed first, then a few seconds of fuzzing each. Nothing is written
    # to the repository; the grown corpus goes to a temporary directory.
    start=$SECONDS
    ensure_cargo_fuzz
    echo "run.sh: cargo-fuzz ready after $((SECONDS - start)) s" >&2
    cargo fuzz build
    echo "run.sh: targets built after $((SECONDS - start)) s" >&2
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    failed=()
    for t in "${TARGETS[@]}"; do
      echo "=== fuzz $t" >&2
      if ! run "$t" "${FUZZ_CI_SECONDS:-5}" "$scratch/$t" 2>"$scratch/$t.log"; then
        grep -E -A1 'panicked' "$scratch/$t.log" >&2 || tail -40 "$scratch/$t.log" >&2
        grep -E 'Test unit written' "$scratch/$t.log" >&2 || true
        failed+=("$t")
      else
        grep -E '^stat::number_of_executed_units|DONE' "$scratch/$t.log" >&2 || true
      fi
    done
    echo "run.sh: done after $((SECONDS - start)) s" >&2
    if [ "${#failed[@]}" -gt 0 ]; then
      echo "run.sh: FAILED: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
      exit 1
    fi
    ;;
  --all)
    ensure_cargo_fuzz
    for t in "${TARGETS[@]}"; do
      run "$t" "${2:-600}" "$FUZZ_DIR/corpus-work/$t"
    done
    ;;
  -*) usage ;;
  *)
    t="$1"
    is_target "$t" || { echo "run.sh: unknown target '$t' (try --list)" >&2; exit 2; }
    secs=600
    if [ $# -ge 2 ] && [ "$2" != "--" ]; then secs="$2"; shift; fi
    shift
    [ "${1:-}" = "--" ] && shift
    ensure_cargo_fuzz
    run "$t" "$secs" "$FUZZ_DIR/corpus-work/$t" "$@"
    ;;
esac
