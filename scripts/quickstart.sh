#!/usr/bin/env bash
# README command 1: set up what is missing (Python env, tiny model) and run
# scenarios/quickstart.toml against a real mlx_lm.server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/install-nginx.sh   # returns at once when nginx is there
cargo build --release --locked --quiet
exec target/release/mlxrun scenarios/quickstart.toml "$@"
