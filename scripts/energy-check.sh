#!/usr/bin/env bash
# Energy figures against NVML on a machine with an NVIDIA GPU (PyTorch and
# CUDA installed): `mlxrun monitor` around a matmul loop, then a short run
# against `mlxrun stub-server` with the same load beside it; each compared
# with NVML's own counter and with mean power x time (scripts/energy_check.py).
#   usage: scripts/energy-check.sh [MLXRUN] [OUT_DIR]
set -uo pipefail
MLXRUN=${1:-mlxrun}
OUT=${2:-energy-check}
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK="python3 $HERE/energy_check.py"
mkdir -p "$OUT"
MLXRUN=$(command -v "$MLXRUN" || echo "$MLXRUN")
rc=0

echo "== 1. mlxrun monitor around a 20 s matmul loop"
"$MLXRUN" monitor --interval 100 --output "$OUT/monitor.jsonl" -- \
  python3 "$HERE/energy_check.py" load 20 --out "$OUT/nvml.json"
$CHECK monitor "$OUT/monitor.jsonl" "$OUT/nvml.json" || rc=1

echo "== 2. a run against stub-server, the matmul loop beside it"
cat > "$OUT/energy.toml" <<TOML
name = "energy"

[model]
path = "stub"

[backend]
kind = "stub"
base_port = 18400
ready_timeout_s = 20

[router]
port = 18409

[output]
dir = "$OUT/results"

[backends.stub]
launch = ["$MLXRUN", "stub-server", "--host", "{{ host }}", "--port", "{{ port }}", "--ttft-ms", "20", "--itl-ms", "4"]
model_kind = "name"
ready = "health"

[workload]
requests_per_concurrency = 40
warmup_requests = 2

[matrix]
concurrency = [1, 4, 16]
max_tokens = 64

[memory]
monitor_interval_ms = 100
TOML
python3 "$HERE/energy_check.py" load 90 --out "$OUT/nvml-run.json" &
LOAD=$!
sleep 5
"$MLXRUN" "$OUT/energy.toml" --plain
kill "$LOAD" 2>/dev/null; wait "$LOAD" 2>/dev/null
RUN=$(ls -d "$OUT"/results/energy/*/ | tail -1)
$CHECK run "$RUN" || rc=1
echo "== report.md's Energy section"
sed -n '/^## Energy/,/^## Files/p' "$RUN/report.md"
exit $rc
