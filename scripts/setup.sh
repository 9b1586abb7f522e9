#!/usr/bin/env bash
# Build mlxrun's own Python environment (.mlxrun/venv: mlx-lm, plus mlx[cpu]
# on Linux) and the tiny random-weight test model (models/tiny-llama).
# Idempotent: what is already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_BIN=${PYTHON:-python3}
VENV=.mlxrun/venv
MLX_LM_SPEC=${MLX_LM_SPEC:-"mlx-lm>=0.30.6"}

if ! "$VENV/bin/python" -c "import mlx_lm, tokenizers" >/dev/null 2>&1; then
  echo "setup: creating $VENV with $MLX_LM_SPEC" >&2
  "$PYTHON_BIN" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  if [ "$(uname -s)" = "Linux" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mlx[cpu]" "$MLX_LM_SPEC" tokenizers
  else
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MLX_LM_SPEC" tokenizers
  fi
fi
"$VENV/bin/python" scripts/make_tiny_model.py models/tiny-llama >&2
