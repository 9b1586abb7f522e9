#!/usr/bin/env bash
# Install headless Chromium when it is missing (Debian/Ubuntu apt-get), or
# Google Chrome with Homebrew on macOS, for the test that loads report.html
# in a real browser (tests/reports_html.rs looks for the same names and apps).
set -euo pipefail
# macOS only: Homebrew's bin may be missing from PATH (see install-nginx.sh).
if [ "$(uname -s)" = Darwin ]; then PATH=$PATH:/opt/homebrew/bin:/usr/local/bin; fi
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
  # macOS: Homebrew disabled its `chromium` cask on 2026-09-01 (the unsigned
  # snapshot fails the Gatekeeper check); signed Google Chrome runs headless
  # the same way, from /Applications/Google Chrome.app.
  echo "setup: installing Google Chrome with Homebrew" >&2
  brew install --cask google-chrome
else
  echo "setup: please install Chromium or Google Chrome (the report.html test loads the page in it)" >&2
  exit 1
fi
