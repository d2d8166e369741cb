#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, a release build of everything, then the whole test
# suite with cargo-nextest. One profile (release) for all of it, so RocksDB's C++ is compiled once.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/stratus-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

bash scripts/setup.sh
step() { echo "== $* ($(date +%T))"; }

step "cargo fmt --check"
cargo fmt --all --check
step "cargo build (release, all targets)"
cargo build --release --workspace --all-targets --locked
step "cargo clippy"
cargo clippy --release --workspace --all-targets --locked -- -D warnings
step "cargo nextest"
cargo nextest run --release --workspace --locked --no-fail-fast "$@"
step "done"
