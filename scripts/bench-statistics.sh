#!/usr/bin/env bash
# Benchmark: what mlxrun's statistics (metrics, confidence intervals,
# stability checks) cost a run, and whether memory stays flat. One
# closed-loop point of 2,000 and one of 20,000 requests (concurrency 64,
# 128 streamed tokens each) against the stub server, release build. Prints
# per point the wall time, `analysis_ms` and their ratio (target: under
# 1%), and mlxrun's peak RSS. Usage: scripts/bench-statistics.sh [N...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin="$PWD/target/release/mlxrun"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sizes=("${@:-2000 20000}")
for n in ${sizes[*]}; do
    cat > "$dir/bench$n.toml" <<EOF
name = "bench$n"

[model]
path = "stub"

[backend]
kind = "stub"
base_port = 18700
ready_timeout_s = 20

[backends.stub]
launch = ["$bin", "stub-server", "--host", "{{ host }}", "--port", "{{ port }}", "--ttft-ms", "20", "--ttft-sd-ms", "10", "--itl-ms", "1"]
model_kind = "name"
ready = "health"

[output]
dir = "$dir/results"

[workload]
requests = $n
warmup_requests = 0

[matrix]
concurrency = 64
max_tokens = 128

[run.warmup]
enabled = false
EOF
    python3 - "$bin" "$dir/bench$n.toml" "$dir/results/bench$n" <<'EOF'
import glob, json, resource, subprocess, sys
bin, scenario, results = sys.argv[1:4]
subprocess.run([bin, scenario, "--plain"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
peak_mb = peak / 1024 if sys.platform != "darwin" else peak / 2**20
rec = json.loads(open(glob.glob(results + "/*/report.jsonl")[0]).readline())
wall_ms = rec["duration"] * 1000
a = rec["analysis_ms"]
print(f"requests={rec['metrics']['requests']} point_wall_s={wall_ms/1000:.1f} analysis_ms={a:.0f} "
      f"share={a / wall_ms * 100:.2f}% peak_rss_mb={peak_mb:.0f} "
      f"throughput_tps={rec['metrics']['throughput_tps']:.0f}")
EOF
done
