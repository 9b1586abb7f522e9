#!/usr/bin/env bash
# Benchmark: `mlxrun tune` against the full product, on the real
# mlx_lm.server (the CPU here) with the tiny model. Runs
# scenarios/tune_bench.toml twice, release build: every point (`mlxrun
# run`) and the search (`mlxrun tune`). Prints each one's wall time, the
# full product's best point with its interval, the search's best
# configuration and load, whether the two are the same point or tied within
# the full product's intervals (the interval of the search's choice
# overlaps the best's), and the search's share of the full product's wall
# time (target: at most 25%). The run folders are kept and printed.
# Usage: scripts/bench-tune.sh [--set KEY=VALUE ...]  (passed to both runs)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build --release --locked --quiet
bin="$PWD/target/release/mlxrun"
dir=$(mktemp -d /tmp/bench-tune.XXXXXX)
scenario=scenarios/tune_bench.toml
now() { date +%s.%N; }

t0=$(now)
"$bin" run "$scenario" --plain --set output.dir="$dir/full" "$@" >"$dir/full.log" 2>&1
t1=$(now)
"$bin" tune "$scenario" --plain --set output.dir="$dir/tune" "$@" >"$dir/tune.log" 2>&1
t2=$(now)

python3 - "$dir" "$t0" "$t1" "$t2" <<'PY'
import glob, json, sys
d, t0, t1, t2 = sys.argv[1], *map(float, sys.argv[2:5])
full_s, tune_s = t1 - t0, t2 - t1

def lines(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)

full_dir = glob.glob(f"{d}/full/*/*/report.jsonl")[0]
points = {r["point"]["point"]: r for r in lines(full_dir) if r.get("row_kind", "point") == "point"}
def tps(r):
    f = r["intervals"]["figures"]["throughput_tps"]
    return f["value"], f["lo"], f["hi"]
ok = [r for r in points.values() if r["outcome"] in ("ok", "errors")]
best = max(ok, key=lambda r: tps(r)[0])
bv, blo, bhi = tps(best)

tune = list(lines(glob.glob(f"{d}/tune/*/*/tune.jsonl")[0]))
started = next(l for l in tune if l["decision"] == "search_started")
result = next(l for l in tune if l["decision"] == "result")
chosen = result["best"]
cfg = started["configs"][chosen["config"]]
load = chosen["best_load"]
point = cfg["points"][cfg["loads"].index(load)]
cv, clo, chi = tps(points[point])
same = point == best["point"]["point"]
tied = chi is not None and blo is not None and chi >= blo
print(f"full product: {len(points)} points in {full_s:.0f} s; best p{best['point']['point']} "
      f"{best['test'].split('[', 1)[1].rstrip(']')}: {bv:.1f} tok/s (95% CI {blo:.1f}-{bhi:.1f})")
print(f"tune: {result['spent']['points']} probes, {result['spent']['requests']} requests in {tune_s:.0f} s "
      f"({tune_s / full_s * 100:.1f}% of the full product's wall time); stop: {result['stop']['kind']}")
print(f"tune best: {chosen['label']} at {started['load_axis']}={load:g} = p{point}; "
      f"in the full product {cv:.1f} tok/s (95% CI {clo:.1f}-{chi:.1f})")
verdict = "the same point" if same else ("tied within the intervals" if tied else "NOT tied: the search missed the best")
print(f"verdict: {verdict}; wall time {tune_s / full_s * 100:.1f}% (target at most 25%)")
print(f"run folders: {d}/full, {d}/tune")
sys.exit(0 if (same or tied) else 1)
PY
