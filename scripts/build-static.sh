#!/usr/bin/env bash
# Build a statically linked release binary (glibc static-pie).
#
# Why: a one-shot `echo x | p1ge0n send` is dominated by process start-up,
# and much of that is the dynamic loader. The default build now starts
# under nc's time too (build.rs: -no-pie, static unwinder, no libm);
# linking statically removes the loader altogether (BENCHMARKS.md). Only
# the final binary gets the flag (`cargo rustc`), so proc-macro crates
# still build normally.
#
# Caveat: host names are still resolved by glibc's NSS, which a static
# binary loads at run time from the system's glibc; build on (or for) the
# machine that runs it. Addresses given as IP literals need no resolver.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}/static"
# P1GE0N_PIE=1: build.rs must not add -no-pie, which would turn the
# static-pie into a broken hybrid (build.rs cannot see a flag given to
# `cargo rustc` after `--`).
P1GE0N_PIE=1 CARGO_TARGET_DIR="$target_dir" cargo rustc --locked --release --bin p1ge0n -- -C target-feature=+crt-static
echo "$target_dir/release/p1ge0n"
