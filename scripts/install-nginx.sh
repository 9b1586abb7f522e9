#!/usr/bin/env bash
# Install nginx when it is missing (Debian/Ubuntu apt-get, or Homebrew).
set -euo pipefail
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
  brew install nginx
else
  echo "setup: please install nginx (it is needed for multi-instance points)" >&2
  exit 1
fi
