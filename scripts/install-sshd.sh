#!/usr/bin/env bash
# Install Debian's sshd (openssh-server) when it is missing, for the
# multi-host tests (scripts/test-hosts.sh runs one in each test host's
# network namespace). Linux with apt-get only: elsewhere there are no test
# hosts, and those tests say they were skipped.
set -euo pipefail
if [ "$(uname -s)" != Linux ] || [ -x /usr/sbin/sshd ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
if command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing openssh-server with apt-get" >&2
  $SUDO apt-get update -qq
  # the package's own sshd service is not wanted (the tests start their
  # own): where no policy says otherwise, services are not started during
  # the install (a policy-rc.d made here, and removed again)
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssh-server >/dev/null || status=$?
  if [ -n "$made_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  exit "$status"
else
  echo "setup: please install an OpenSSH server (/usr/sbin/sshd) for the multi-host tests" >&2
fi
