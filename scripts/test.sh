#!/usr/bin/env bash
# README command 2: the whole test suite. Installs nginx and builds the
# Python environment and tiny model where missing, then runs every test
# (unit tests, and integration tests against real mlx_lm.server and nginx).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-nginx.sh
scripts/setup.sh
cargo build --locked --quiet
target/debug/mlxrun validate scenarios/*.toml
cargo test --locked --lib --tests -- --test-threads 2 "$@"
