#!/usr/bin/env bash
# Install headless Chromium when it is missing (Debian/Ubuntu apt-get, or
# Homebrew), for the test that loads report.html in a real browser.
set -euo pipefail
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then exit 0; fi
done
if [ -x "/Applications/Chromium.app/Contents/MacOS/Chromium" ] ||
  [ -x "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
if command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing chromium with apt-get" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
elif command -v brew >/dev/null 2>&1; then
  brew install --cask chromium
else
  echo "setup: please install Chromium (the report.html test loads the page in it)" >&2
  exit 1
fi
