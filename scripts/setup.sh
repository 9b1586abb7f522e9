#!/usr/bin/env bash
# Build mlxrun's own Python environment (.mlxrun/venv: mlx-lm, mlx-vlm and
# mlx-audio, plus mlx[cpu] on Linux) and the tiny random-weight test models:
# models/tiny-llama (text, mlx_lm.server), models/tiny-vlm (Qwen2-VL vision,
# mlx_vlm.server --model) and models/tiny-stt (Whisper speech-to-text,
# mlx_vlm.server --stt-model). Nothing is downloaded from a model hub.
# Idempotent: what is already there is kept.
#
# The versions are pinned together: mlx-audio 0.6.2 requires mlx==0.32.4
# exactly, and mlx-vlm 0.7.10 requires mlx-audio. Override a pin with the
# variables below; SETUP_VISION_AUDIO=0 skips mlx-vlm, mlx-audio and the vision
# and speech models (about 750 MB less in the venv).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_BIN=${PYTHON:-python3}
VENV=.mlxrun/venv
if [ "$(uname -s)" = "Linux" ]; then
  MLX_SPEC=${MLX_SPEC:-"mlx[cpu]==0.32.4"}
else
  # macOS: plain mlx (the Metal build; the [cpu] extra is Linux-only). Its
  # wheels are for Apple silicon (arm64) on macOS 14 or later only.
  MLX_SPEC=${MLX_SPEC:-"mlx==0.32.4"}
fi
MLX_LM_SPEC=${MLX_LM_SPEC:-"mlx-lm==0.32.2"}
MLX_VLM_SPEC=${MLX_VLM_SPEC:-"mlx-vlm==0.7.10"}
MLX_AUDIO_SPEC=${MLX_AUDIO_SPEC:-"mlx-audio==0.6.2"}
MM=${SETUP_VISION_AUDIO:-1}

specs=("$MLX_SPEC" "$MLX_LM_SPEC" tokenizers)
modules="mlx_lm, tokenizers"
if [ "$MM" != 0 ]; then
  specs+=("$MLX_VLM_SPEC" "$MLX_AUDIO_SPEC")
  modules="$modules, mlx_vlm, mlx_audio"
fi

# mlx-lm 0.32 needs Python 3.11+. A Mac's own python3 (/usr/bin/python3,
# from the Command Line Tools) is 3.9: without PYTHON set, the newest
# python3.1x on PATH is taken instead (Homebrew's python@3.12 or a
# python.org installer puts one there).
py_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
if [ ! -x "$VENV/bin/python" ]; then
  if [ -z "${PYTHON:-}" ] && ! py_ok "$PYTHON_BIN"; then
    for p in python3.14 python3.13 python3.12 python3.11; do
      if py_ok "$p"; then
        PYTHON_BIN=$p
        break
      fi
    done
  fi
  if ! py_ok "$PYTHON_BIN"; then
    echo "setup: mlx-lm needs Python 3.11 or later; $PYTHON_BIN is $("$PYTHON_BIN" -V 2>&1 || true)." \
      "Install one (macOS: brew install python@3.12) and run again, or set PYTHON=/path/to/python3.12" >&2
    exit 1
  fi
  echo "setup: creating $VENV with $PYTHON_BIN" >&2
  "$PYTHON_BIN" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
if ! "$VENV/bin/python" -c "import $modules" >/dev/null 2>&1; then
  if ! py_ok "$VENV/bin/python"; then
    echo "setup: $VENV is $("$VENV/bin/python" -V 2>&1) and mlx-lm needs 3.11 or later: remove $VENV and run again" >&2
    exit 1
  fi
  echo "setup: installing ${specs[*]} into $VENV" >&2
  if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${specs[@]}"; then
    if [ "$(uname -s)" = Darwin ]; then
      # macOS only: pip's "No matching distribution found for mlx" means no wheel fits.
      echo "setup: pip failed; on macOS, mlx has wheels only for Apple silicon (an arm64 Python, not one under Rosetta) on macOS 14 or later" >&2
    fi
    exit 1
  fi
fi
"$VENV/bin/python" scripts/make_tiny_model.py models/tiny-llama >&2
if [ "$MM" != 0 ]; then
  "$VENV/bin/python" scripts/make_tiny_vlm.py models/tiny-vlm >&2
  "$VENV/bin/python" scripts/make_tiny_stt.py models/tiny-stt >&2
fi
