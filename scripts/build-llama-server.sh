#!/usr/bin/env bash
# Build llama.cpp's `llama-server` (Release) into
# .mlxrun/llama.cpp/bin/llama-server: CPU only on Linux; on macOS with
# llama.cpp's default Metal backend (its shaders embedded in the binary).
#
# The llama.cpp source comes from the llama-cpp-python source distribution on
# PyPI (it vendors llama.cpp under vendor/llama.cpp), so no GitHub access is
# needed. Idempotent: exits at once when the binary is already there; a cached
# sdist / unpacked tree / build directory is reused.
#
# Environment knobs:
#   LLAMA_CPP_PYTHON_VERSION  sdist version to use (default pinned below)
#   JOBS                      parallel compile jobs (default 2)
#   PYTHON                    python with pip (default .mlxrun/venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
JOBS=${JOBS:-2}
ROOT=.mlxrun/llama.cpp
CACHE=$ROOT/cache
SRC_PARENT=$ROOT/src
SRC=$SRC_PARENT/llama_cpp_python-$VERSION
BUILD=$ROOT/build-$VERSION
BIN=$ROOT/bin/llama-server

if [ -x "$BIN" ]; then
  echo "build-llama-server: $BIN already present" >&2
  exit 0
fi

t0=$(date +%s)
step_start=$t0
step() { # step NAME: print the time the previous step took
  local now
  now=$(date +%s)
  echo "build-llama-server: [$((now - step_start))s] $1 done (total $((now - t0))s)" >&2
  step_start=$now
}

# 1. cmake (and a C/C++ toolchain): installed through apt only when missing;
# on macOS the compiler and make come with the Command Line Tools and cmake
# from Homebrew.
if [ "$(uname -s)" = Darwin ]; then
  # macOS only. /usr/bin/c++ and /usr/bin/make exist even without the
  # Command Line Tools (they only offer to install them): ask xcode-select.
  PATH=$PATH:/opt/homebrew/bin:/usr/local/bin # Homebrew's, when not on PATH
  if ! xcode-select -p >/dev/null 2>&1; then
    echo "build-llama-server: install the Command Line Tools first: xcode-select --install" >&2
    exit 1
  fi
  if ! command -v cmake >/dev/null 2>&1; then
    if ! command -v brew >/dev/null 2>&1; then
      echo "build-llama-server: please install cmake (brew install cmake)" >&2
      exit 1
    fi
    echo "build-llama-server: installing cmake with Homebrew" >&2
    brew install cmake
    step "brew install cmake"
  fi
elif ! command -v cmake >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  echo "build-llama-server: installing cmake/build-essential with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends cmake build-essential >/dev/null; then
    $SUDO apt-get update >/dev/null
    $SUDO apt-get install -y --no-install-recommends cmake build-essential >/dev/null
  fi
  step "apt-get install cmake"
fi

# 2. The sdist. `--no-binary llama-cpp-python` (not `:all:`): pip still
# prepares the sdist's metadata, and with `:all:` its build requirements
# (cmake, ninja from PyPI) would be compiled from source, which takes ages.
# With a system cmake present, that step only fetches small pure-Python wheels.
SDIST=$CACHE/llama_cpp_python-$VERSION.tar.gz
if [ ! -f "$SDIST" ]; then
  PY=${PYTHON:-}
  if [ -z "$PY" ]; then
    if [ -x .mlxrun/venv/bin/python ]; then PY=.mlxrun/venv/bin/python; else PY=python3; fi
  fi
  rm -rf "$CACHE/download"
  mkdir -p "$CACHE/download"
  echo "build-llama-server: downloading llama-cpp-python==$VERSION sdist from PyPI" >&2
  "$PY" -m pip download --quiet --disable-pip-version-check --no-cache-dir \
    --no-deps --no-binary llama-cpp-python -d "$CACHE/download" "llama-cpp-python==$VERSION"
  mv "$CACHE/download/$(basename "$SDIST")" "$SDIST" \
    || { echo "build-llama-server: $(basename "$SDIST") not found after download" >&2; exit 1; }
  rmdir "$CACHE/download" 2>/dev/null || true
  step "download sdist ($(du -h "$SDIST" | cut -f1))"
fi

# 3. Unpack (into a temporary directory, renamed when complete).
if [ ! -f "$SRC/vendor/llama.cpp/CMakeLists.txt" ]; then
  rm -rf "$SRC" "$SRC.partial"
  mkdir -p "$SRC.partial"
  tar -xzf "$SDIST" -C "$SRC.partial"
  mv "$SRC.partial/llama_cpp_python-$VERSION" "$SRC"
  rmdir "$SRC.partial"
  step "unpack"
fi

# 4. Configure and build only the llama-server target. Static libraries so the
# installed binary is self-contained; no web UI (the prebuilt one would be
# fetched from Hugging Face), no HTTPS, no tests/examples.
cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF \
  -DGGML_BACKEND_DL=OFF \
  -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_OPENSSL=OFF \
  -DLLAMA_CURL=OFF \
  -DGGML_CCACHE=OFF \
  >"$ROOT/cmake-configure.log" 2>&1 \
  || { tail -n 40 "$ROOT/cmake-configure.log" >&2; exit 1; }
step "cmake configure (log: $ROOT/cmake-configure.log)"

echo "build-llama-server: compiling llama-server with $JOBS jobs (log: $ROOT/cmake-build.log)" >&2
cmake --build "$BUILD" --config Release --target llama-server -j "$JOBS" \
  >"$ROOT/cmake-build.log" 2>&1 \
  || { tail -n 40 "$ROOT/cmake-build.log" >&2; exit 1; }
step "compile"

# 5. Install atomically.
mkdir -p "$ROOT/bin"
cp "$BUILD/bin/llama-server" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "build-llama-server: installed $BIN ($("$BIN" --version 2>&1 | grep -m1 -i version || true)) in $(($(date +%s) - t0))s" >&2
