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

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PYTHON_BIN" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
if ! "$VENV/bin/python" -c "import $modules" >/dev/null 2>&1; then
  echo "setup: installing ${specs[*]} into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${specs[@]}"
fi
"$VENV/bin/python" scripts/make_tiny_model.py models/tiny-llama >&2
if [ "$MM" != 0 ]; then
  "$VENV/bin/python" scripts/make_tiny_vlm.py models/tiny-vlm >&2
  "$VENV/bin/python" scripts/make_tiny_stt.py models/tiny-stt >&2
fi
