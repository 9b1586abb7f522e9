#!/usr/bin/env bash
# Benchmark: how closely `mlxrun monitor` keeps its fixed rate, and what its
# sampler thread costs, on the machine as it is and on a busy one. Runs
#
#     mlxrun monitor --interval 200 -- sleep SECONDS
#
# twice (SECONDS defaults to 30): once as the machine is, once beside two
# busy loops per logical core (`yes > /dev/null`, stopped at the end). Prints
# a Markdown table per run: ticks, missed, mean interval, share of intervals
# within ±10% of 200 ms, shortest and longest interval, p95, the latest
# tick, the sampler's CPU per sample, and the load average at the end. The
# monitor's rate targets: mean interval within 2% of 200 ms, 95% of
# intervals within ±10%, none missed. The test suite checks only what no
# load can change (ticks on the absolute schedule, the summary's arithmetic:
# `cargo test --test integration monitor`); these figures are this script's.
#
# Usage: scripts/bench-monitor.sh [SECONDS]
#   BENCH_PROFILE=debug   use a debug build (default: release)
#   BENCH_BUSY=N          busy loops for the second run (default: 2 per core)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
profile=${BENCH_PROFILE:-release}
if [ "$profile" = release ]; then
    cargo build --release --locked --quiet
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release/mlxrun"
else
    cargo build --locked --quiet
    bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/mlxrun"
fi
busy=${BENCH_BUSY:-$((2 * $(getconf _NPROCESSORS_ONLN)))}
dir=$(mktemp -d)
loops=()
stop_loops() {
    for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null || true; done
    loops=()
}
trap 'stop_loops; rm -rf "$dir"' EXIT

echo "| machine | ticks | missed | mean interval ms | within ±10% | min ms | max ms | p95 ms | latest tick ms | sampler CPU ms/sample | load avg (1 min) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for run in idle busy; do
    if [ "$run" = busy ]; then
        for _ in $(seq "$busy"); do
            yes > /dev/null &
            loops+=("$!")
        done
    fi
    "$bin" monitor --interval 200 --output "$dir/$run.jsonl" -- sleep "$seconds" 2>/dev/null
    python3 - "$dir/$run.jsonl" "$run" "$busy" <<'EOF'
import json, sys
path, run, busy = sys.argv[1:4]
recs = [json.loads(l) for l in open(path)]
ticks = [r for r in recs if r["kind"] == "sample" and r["trigger"] == "tick"]
summary = recs[-1]
iv = [(b["ts"] - a["ts"]) * 1e3 for a, b in zip(ticks, ticks[1:])]
within = sum(1 for i in iv if abs(i - 200.0) <= 20.0) / len(iv) * 100
load = open("/proc/loadavg").read().split()[0] if sys.platform.startswith("linux") else "n/a"
label = "as it is" if run == "idle" else f"{busy} busy loops"
print(f"| {label} | {len(ticks)} | {summary['missed']} | {summary['interval_mean_ms']:.3f} | "
      f"{within:.1f}% | {min(iv):.1f} | {max(iv):.1f} | {summary['interval_p95_ms']} | "
      f"{summary['late_max_ms']} | {summary['sampler_cpu_ms_per_sample']} | {load} |")
EOF
    stop_loops
done
echo
echo "($profile build, interval 200 ms, $seconds s each, $(getconf _NPROCESSORS_ONLN) logical cores)"
