#!/usr/bin/env bash
# Install nginx when it is missing (Debian/Ubuntu apt-get, or Homebrew).
set -euo pipefail
# macOS only: Homebrew's bin (/opt/homebrew/bin on Apple silicon,
# /usr/local/bin on Intel) is missing from PATH in a shell that never ran
# `brew shellenv`; mlxrun looks there for nginx all the same.
if [ "$(uname -s)" = Darwin ]; then PATH=$PATH:/opt/homebrew/bin:/usr/local/bin; fi
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
if command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing nginx with apt-get" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >/dev/null
elif command -v brew >/dev/null 2>&1; then
  # macOS (as the user, never sudo): $(brew --prefix)/bin/nginx
  echo "setup: installing nginx with Homebrew" >&2
  brew install nginx
else
  echo "setup: please install nginx (it is needed for multi-instance points)" >&2
  exit 1
fi
