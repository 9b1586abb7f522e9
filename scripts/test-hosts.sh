#!/usr/bin/env bash
# Other "hosts" on this machine for the multi-host tests: network
# namespaces on a private bridge, each running Debian's sshd with a key made
# for the test. Linux, as root.
#
#   scripts/test-hosts.sh up DIR N   N hosts; prints `NAME ADDRESS NAMESPACE`
#                                    per host (also in DIR/hosts.txt)
#   scripts/test-hosts.sh down DIR   stop and remove what `up DIR` made
#   scripts/test-hosts.sh sweep      remove leftovers of fixtures whose DIR
#                                    is gone or whose owner process has ended
#   scripts/test-hosts.sh pids NS    the processes in namespace NS
#
# `up DIR N` makes, with ID = the first 6 hex digits of sha1(DIR):
#   - namespaces mlxhID-0 .. mlxhID-(N-1), each with `lo` up and `eth0` at
#     10.X.Y.(k+2)/24, one end of a veth pair whose other end (mlxhIDvK) is
#     on the bridge mlxhID (10.X.Y.1/24, in this namespace). X.Y comes from
#     ID (10.200.0.0 to 10.249.255.0), moved on while it overlaps an address
#     or route of this machine. The namespaces have no default route, and
#     nothing forwards their traffic: it stays between them and this machine.
#   - DIR/id_ed25519 (the client key), DIR/ssh_host_ed25519_key,
#     DIR/authorized_keys, DIR/sshd_config, and sshd in each namespace
#     (listening on its address, port 22; PidFile DIR/sshd-K.pid, log
#     DIR/sshd-K.log, startup errors DIR/sshd-K.err).
#   - DIR/ssh_config (the key, no host key checks, BatchMode, one `Host hostK`
#     per host) and DIR/bin/ssh, which runs /usr/bin/ssh with that config:
#     put DIR/bin first in PATH so programs that call plain `ssh` (such as
#     mlx.launch) reach the hosts by name or address.
# It returns once every sshd answers `ssh hostK true`. Where this cannot work
# (not root, no `ip netns`, no sshd) it exits 77 with one line saying why.
#
# Every fixture is registered under /run/mlxrun-test-hosts/ID with its DIR
# and its owner: the process that ran `up` (TEST_HOSTS_OWNER_PID overrides),
# so `sweep` can tell which ones were left behind by a killed test. `down`
# and `sweep` end every process still in the namespaces (listed by PID,
# never found by name) and succeed when everything is already gone.
set -euo pipefail

REGISTRY=/run/mlxrun-test-hosts
SSHD=/usr/sbin/sshd
SSH=/usr/bin/ssh

say() { echo "test-hosts: $*" >&2; }
die() {
  say "$*"
  exit 1
}
unavailable() {
  echo "test-hosts: unavailable: $*" >&2
  exit 77
}
usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The 6-hex-digit id of a fixture folder (an absolute path).
fixture_id() { printf '%s' "$1" | sha1sum | cut -c1-6; }

# The start time of process $1 (clock ticks since boot), empty when gone.
start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  # fields after the command name: state is field 3, starttime field 22
  awk '{print $20}' <<<"${stat##*) }"
}

# Whether process $1 runs (exists and is not a zombie waiting to be reaped).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$(awk '{print $1}' <<<"${stat##*) }")" != Z ]
}

# `KEY=value` lines of a state file; prints the value of KEY.
state_get() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# Whether a network namespace / a link exists.
netns_exists() { [ -e "/run/netns/$1" ]; }
link_exists() { ip link show dev "$1" >/dev/null 2>&1; }

# Processes in namespace $1 (one PID a line), nothing when it is gone.
netns_pids() {
  if netns_exists "$1"; then ip netns pids "$1" 2>/dev/null || true; fi
}

# SIGKILL every process in namespace $1 and wait (up to 5 s) until none is left.
empty_netns() {
  local ns=$1 pid
  for pid in $(netns_pids "$ns"); do
    say "ending PID $pid in $ns: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    kill -KILL "$pid" 2>/dev/null || true
  done
  for _ in $(seq 50); do
    [ -z "$(netns_pids "$ns")" ] && return 0
    sleep 0.1
  done
  say "processes still in $ns: $(netns_pids "$ns" | tr '\n' ' ')"
}

# Stop the sshd whose pid file is $1, if it is still the sshd we started.
stop_sshd() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
  case $pid in '' | *[!0-9]*) return 0 ;; esac
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$SSHD" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
      running "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# Remove everything the state file $1 describes (sshds, processes left in
# the namespaces, veths, namespaces, bridge) and its registry entry.
teardown() {
  local state=$1 id dir n bridge k ns
  id=$(state_get "$state" id)
  dir=$(state_get "$state" dir)
  n=$(state_get "$state" n)
  bridge=$(state_get "$state" bridge)
  case $id in '' | *[!0-9a-f]*) die "bad state file $state" ;; esac
  case $n in '' | *[!0-9]*) n=0 ;; esac
  for ((k = 0; k < n; k++)); do
    [ -n "$dir" ] && stop_sshd "$dir/sshd-$k.pid"
  done
  for ((k = 0; k < n; k++)); do
    ns="mlxh$id-$k"
    empty_netns "$ns"
    if link_exists "mlxh${id}v$k"; then ip link del "mlxh${id}v$k" 2>/dev/null || true; fi
    if netns_exists "$ns"; then ip netns del "$ns" 2>/dev/null || true; fi
  done
  if [ -n "$bridge" ] && link_exists "$bridge"; then ip link del "$bridge" 2>/dev/null || true; fi
  rm -f "$REGISTRY/$id"
}

# Serialise `up` (subnet choice, creation) and `sweep` across processes.
take_lock() {
  mkdir -p "$REGISTRY"
  exec 9>"$REGISTRY/.lock"
  flock 9
}
drop_lock() { exec 9>&-; }

# Whether 10.$1.$2.0/24 overlaps an address or a route of this machine.
subnet_taken() {
  local net="10.$1.$2.0/24"
  ip -4 route show match "$net" 2>/dev/null | grep -qv '^default' && return 0
  [ -n "$(ip -4 route show root "$net" 2>/dev/null)" ] && return 0
  ip -4 -o addr show | awk '{print $4}' | grep -q "^10\.$1\.$2\." && return 0
  return 1
}

cmd_up() {
  [ $# -eq 2 ] || usage
  local dir n id bridge owner x y k ns addr ok name
  n=$2
  case $n in '' | *[!0-9]*) die "N must be a number of hosts (1 to 250), not '$n'" ;; esac
  ((n >= 1 && n <= 250)) || die "N must be 1 to 250, not $n"
  [ "$(uname -s)" = Linux ] || unavailable "network namespaces need Linux"
  [ "$(id -u)" = 0 ] || unavailable "needs root (network namespaces and sshd)"
  command -v ip >/dev/null 2>&1 || unavailable "no ip command (apt-get install iproute2)"
  ip netns list >/dev/null 2>&1 || unavailable "ip netns does not work here"
  [ -x "$SSHD" ] || unavailable "no $SSHD (apt-get install openssh-server)"
  [ -x "$SSH" ] || unavailable "no $SSH (apt-get install openssh-client)"
  command -v ssh-keygen >/dev/null 2>&1 || unavailable "no ssh-keygen (apt-get install openssh-client)"
  command -v flock >/dev/null 2>&1 || unavailable "no flock (apt-get install util-linux)"

  mkdir -p "$1"
  dir=$(realpath -e "$1")
  case $dir in *[!A-Za-z0-9_./-]*) die "DIR may hold only letters, digits and _ . / -: $dir" ;; esac
  id=$(fixture_id "$dir")
  bridge="mlxh$id"
  owner=${TEST_HOSTS_OWNER_PID:-$PPID}

  take_lock
  if [ -f "$REGISTRY/$id" ]; then
    if [ "$(state_get "$REGISTRY/$id" dir)" = "$dir" ]; then
      say "removing an earlier fixture in $dir"
      teardown "$REGISTRY/$id"
    else
      die "id $id is in use by $(state_get "$REGISTRY/$id" dir); choose another DIR"
    fi
  fi
  # a subnet from the id, moved on while this machine uses it
  x=$((200 + 16#${id:0:2} % 50))
  y=$((16#${id:2:2}))
  ok=""
  for _ in $(seq 256); do
    if ! subnet_taken "$x" "$y"; then
      ok=1
      break
    fi
    y=$(((y + 1) % 256))
  done
  [ -n "$ok" ] || die "no free 10.$x.*.0/24 subnet"

  # registered before anything is made, so `sweep` finds a half-made one
  cat >"$dir/state" <<EOF
id=$id
dir=$dir
n=$n
bridge=$bridge
subnet=10.$x.$y.0/24
owner=$owner
owner_start=$(start_time "$owner")
EOF
  cp "$dir/state" "$REGISTRY/$id"
  UP_STATE="$dir/state"
  trap 'say "up failed; removing what it made"; teardown "$UP_STATE" || true' EXIT

  if ! ip netns add "mlxh$id-0" 2>"$dir/netns.err"; then
    teardown "$dir/state"
    trap - EXIT
    unavailable "ip netns add failed: $(head -n 1 "$dir/netns.err")"
  fi
  rm -f "$dir/netns.err"
  ip link add "$bridge" type bridge
  ip addr add "10.$x.$y.1/24" dev "$bridge"
  ip link set "$bridge" up
  rm -f "$dir/hosts.txt"
  for ((k = 0; k < n; k++)); do
    ns="mlxh$id-$k"
    addr="10.$x.$y.$((k + 2))"
    netns_exists "$ns" || ip netns add "$ns"
    ip link add "mlxh${id}v$k" type veth peer name eth0 netns "$ns"
    ip link set "mlxh${id}v$k" master "$bridge" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    echo "host$k $addr $ns" >>"$dir/hosts.txt"
  done
  drop_lock

  # keys and configuration
  rm -f "$dir/id_ed25519" "$dir/id_ed25519.pub" "$dir/ssh_host_ed25519_key" "$dir/ssh_host_ed25519_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C mlxrun-test-hosts -f "$dir/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C mlxrun-test-hosts-host -f "$dir/ssh_host_ed25519_key"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  cat >"$dir/sshd_config" <<EOF
# sshd of the test hosts (scripts/test-hosts.sh); ListenAddress and PidFile
# are given on the command line, one sshd per namespace
Port 22
HostKey $dir/ssh_host_ed25519_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 100:30:200
MaxSessions 100
LogLevel ERROR
EOF
  {
    echo "# ssh to the test hosts (scripts/test-hosts.sh)"
    while read -r name addr ns; do
      printf 'Host %s\n    HostName %s\n' "$name" "$addr"
    done <"$dir/hosts.txt"
    cat <<EOF
Host *
    IdentityFile $dir/id_ed25519
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    GlobalKnownHostsFile /dev/null
    BatchMode yes
    LogLevel ERROR
    ConnectTimeout 10
EOF
  } >"$dir/ssh_config"
  mkdir -p "$dir/bin"
  printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$SSH" "$dir/ssh_config" >"$dir/bin/ssh"
  chmod 755 "$dir/bin/ssh"

  mkdir -p /run/sshd
  chmod 755 /run/sshd
  k=0
  while read -r name addr ns; do
    ip netns exec "$ns" "$SSHD" -f "$dir/sshd_config" \
      -o "ListenAddress=$addr" -o "PidFile=$dir/sshd-$k.pid" -E "$dir/sshd-$k.log" \
      </dev/null >/dev/null 2>"$dir/sshd-$k.err"
    k=$((k + 1))
  done <"$dir/hosts.txt"

  # every sshd answers (within 20 s each)
  while read -r name addr ns; do
    ok=""
    for _ in $(seq 100); do
      if "$dir/bin/ssh" -o ConnectTimeout=2 "$name" true </dev/null 2>/dev/null; then
        ok=1
        break
      fi
      sleep 0.2
    done
    [ -n "$ok" ] || die "sshd of $name ($addr in $ns) never answered: $(cat "$dir"/sshd-*.err "$dir"/sshd-*.log 2>/dev/null | tail -n 5)"
  done <"$dir/hosts.txt"
  trap - EXIT
  cat "$dir/hosts.txt"
}

cmd_down() {
  [ $# -eq 1 ] || usage
  local dir id
  dir=$(realpath -m "$1")
  id=$(fixture_id "$dir")
  if [ -f "$dir/state" ]; then
    teardown "$dir/state"
  elif [ -f "$REGISTRY/$id" ]; then
    teardown "$REGISTRY/$id"
  fi
}

# Whether the fixture in state file $1 was left behind: its DIR is gone or
# its owner process has ended.
abandoned() {
  local dir owner start
  dir=$(state_get "$1" dir)
  owner=$(state_get "$1" owner)
  start=$(state_get "$1" owner_start)
  [ -d "$dir" ] || return 0
  case $owner in '' | *[!0-9]*) return 0 ;; esac
  [ "$(start_time "$owner")" = "$start" ] || return 0
  return 1
}

cmd_sweep() {
  [ $# -eq 0 ] || usage
  if [ "$(uname -s)" != Linux ] || [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
    return 0 # no test hosts can exist
  fi
  local state id ns link
  take_lock
  for state in "$REGISTRY"/*; do
    [ -f "$state" ] || continue
    if abandoned "$state"; then
      say "sweep: removing fixture $(basename "$state") of $(state_get "$state" dir)"
      teardown "$state"
    fi
  done
  # namespaces and links of ours that no registry entry accounts for
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^mlxh[0-9a-f]{6}-[0-9]+$' || true); do
    id=${ns:4:6}
    [ -f "$REGISTRY/$id" ] && continue
    say "sweep: removing namespace $ns"
    empty_netns "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
    grep -E '^mlxh[0-9a-f]{6}(v[0-9]+)?$' || true); do
    id=${link:4:6}
    [ -f "$REGISTRY/$id" ] && continue
    say "sweep: removing link $link"
    ip link del "$link" 2>/dev/null || true
  done
  drop_lock
}

cmd_pids() {
  [ $# -eq 1 ] || usage
  netns_exists "$1" || die "no network namespace $1"
  ip netns pids "$1"
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
sweep) cmd_sweep "$@" ;;
pids) cmd_pids "$@" ;;
*) usage ;;
esac
