#!/usr/bin/env bash
# README command 2: the whole test suite. Installs nginx and builds the
# Python environment and tiny model where missing, then runs every test
# (unit tests, and integration tests against real mlx_lm.server, nginx and
# llama.cpp's llama-server, which it builds from source the first time;
# report.html in headless Chromium, or Google Chrome on macOS; other hosts
# as network namespaces running sshd, as root on Linux).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-nginx.sh
scripts/install-chromium.sh   # headless, for the report.html test
scripts/setup.sh
scripts/install-sshd.sh       # sshd in each test host (scripts/test-hosts.sh)
# llama.cpp's llama-server (built once from source, ~7 min on 2 cores; kept
# in .mlxrun/llama.cpp) and the tiny model as GGUF, for the llama_server test
scripts/build-llama-server.sh
.mlxrun/venv/bin/python scripts/make_tiny_gguf.py >&2
cargo build --locked --quiet
target/debug/mlxrun validate scenarios/*.toml
# test hosts left by a killed test run are removed before the tests, and
# after them however they end
scripts/test-hosts.sh sweep
trap 'scripts/test-hosts.sh sweep' EXIT
cargo test --locked --lib --tests -- --test-threads 2 "$@"
