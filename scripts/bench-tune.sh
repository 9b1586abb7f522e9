#!/usr/bin/env bash
# Benchmark: `mlxrun tune` against the full product, on the real
# mlx_lm.server (the CPU here) with the tiny model. Runs
# scenarios/tune_bench.toml twice, release build: every point (`mlxrun
# run`) and the search (`mlxrun tune`). Prints each one's wall time, the
# full product's best point with its interval, the search's best
# configuration and load, and the search's share of the full product's
# wall time (target: at most 25%).
#
# Then a referee: when the search chose another point than the full
# product's best, both points are measured again, alternately, each time
# with fresh servers (`mlxrun run` narrowed to the one point, its own
# requests), in REFEREE_PAIRS pairs (default 6) laid out A B, B A, A B, …
# so a drift of the machine falls on both alike. The ratio of the search's
# choice to the full product's best is estimated from the pairs (mean of
# the log ratios, Student's t over the pairs), an interval that includes
# the variation between server starts and over time, which a single
# point's interval does not (on this shared 2-core CPU, the same point
# measures 20-30% apart between runs). Verdict: the same point, or tied
# (the ratio's interval reaches 1 or lies above it), or missed (wholly
# below 1). The single pass's own verdict (the choice's interval in the
# full product overlaps the best's) is printed beside it.
#
# Exit 0 when the verdict is "same" or "tied" and the search took at most
# 25% of the full product's wall time, 1 otherwise. The run folders are
# kept and printed.
# Usage: scripts/bench-tune.sh [--set KEY=VALUE ...]  (passed to every run)
#        BENCH_FULL=/tmp/bench-tune.XXXXXX scripts/bench-tune.sh  (an
#        earlier run's full product; the search and the referee again)
#        BENCH_REUSE=/tmp/bench-tune.XXXXXX scripts/bench-tune.sh  (the
#        referee again on an earlier run's full product and search)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build --release --locked --quiet
bin="$PWD/target/release/mlxrun"
scenario=scenarios/tune_bench.toml
now() { date +%s.%N; }

if [ -n "${BENCH_REUSE:-}" ]; then
  # the full product and the search of an earlier run: the referee again
  dir=$BENCH_REUSE
  read -r full_s tune_s <"$dir/times"
  rm -rf "$dir/referee"
else
  dir=$(mktemp -d /tmp/bench-tune.XXXXXX)
  if [ -n "${BENCH_FULL:-}" ]; then
    # an earlier run's full product (it does not depend on the search's
    # code): the search and the referee again
    ln -s "$(cd "$BENCH_FULL" && pwd)/full" "$dir/full"
    read -r full_s _ <"$BENCH_FULL/times"
  else
    t0=$(now)
    "$bin" run "$scenario" --plain --set output.dir="$dir/full" "$@" >"$dir/full.log" 2>&1
    full_s=$(python3 -c "print($(now) - $t0)")
  fi
  t1=$(now)
  "$bin" tune "$scenario" --plain --set output.dir="$dir/tune" "$@" >"$dir/tune.log" 2>&1
  tune_s=$(python3 -c "print($(now) - $t1)")
  echo "$full_s $tune_s" >"$dir/times"
fi
mkdir -p "$dir/referee"

python3 - "$bin" "$scenario" "$dir" "$full_s" "$tune_s" "${REFEREE_PAIRS:-6}" "$@" <<'PY'
import glob, json, math, subprocess, sys
binary, scenario, d = sys.argv[1:4]
full_s, tune_s = map(float, sys.argv[4:6])
pairs = int(sys.argv[6])
extra = sys.argv[7:]
share = tune_s / full_s * 100

def lines(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)

def point_rows(run_dir):
    path = glob.glob(f"{run_dir}/*/*/report.jsonl")[0]
    return {r["point"]["point"]: r for r in lines(path) if r.get("row_kind", "point") == "point"}

def tps(r):
    f = r["intervals"]["figures"]["throughput_tps"]
    return f["value"], f["lo"], f["hi"]

def settings(r):
    p = r["point"]
    return {k: p[k] for k in ("instances", "decode_concurrency", "prompt_concurrency", "concurrency")}

def words(r):
    return r["test"].split("[", 1)[1].rstrip("]")

points = point_rows(f"{d}/full")
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
def own(c):
    e = (c.get("score") or {}).get("estimate") or {}
    text = f"{e.get('value', float('nan')):.1f} (95% CI {e.get('lo') or float('nan'):.1f}-{e.get('hi') or float('nan'):.1f})"
    p = c.get("pooled")
    if p:
        text += f", pooled over {p['rounds']} rounds (between rounds +/- {p['between_sd']:.1f})"
    return text
same = point == best["point"]["point"]
single_tied = chi is not None and blo is not None and chi >= blo
print(f"full product: {len(points)} points in {full_s:.0f} s; best p{best['point']['point']} "
      f"{words(best)}: {bv:.1f} tok/s (95% CI {blo:.1f}-{bhi:.1f})")
print(f"tune: {result['spent']['points']} probes, {result['spent']['requests']} requests in {tune_s:.0f} s "
      f"({share:.1f}% of the full product's wall time); stop: {result['stop']['kind']}")
print(f"tune best: {chosen['label']} at {started['load_axis']}={load:g} = p{point}; "
      f"in the full product {cv:.1f} tok/s (95% CI {clo:.1f}-{chi:.1f})")
print(f"the search's own figure for it: {own(chosen)}")
if result.get("runner_up"):
    ru = result["runner_up"]
    tie = {True: "tied with its choice", False: "below its choice beyond noise"}.get(result.get("tied"), "cannot tell")
    print(f"the search's runner-up: {ru['label']} at {ru.get('best_load')}: {own(ru)}; {tie}")
if same:
    verdict = "same"
else:
    print("single pass: " + ("tied within the full product's intervals" if single_tied
                             else "not tied within the full product's intervals"))
    # the referee: both points again, alternately, with fresh servers
    a, b = settings(best), settings(points[point])
    runs = {"best": [], "chosen": []}
    for k in range(pairs):
        order = [("best", a), ("chosen", b)] if k % 2 == 0 else [("chosen", b), ("best", a)]
        for name, st in order:
            out = f"{d}/referee/{k + 1}-{name}"
            cmd = [binary, "run", scenario, "--plain", "--set", f"output.dir={out}", *extra]
            for key, value in st.items():
                cmd += ["--set", f"matrix.{key}=[{value}]"]
            with open(f"{out}.log", "w") as log:
                subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
            rows = [r for r in point_rows(out).values() if r["outcome"] in ("ok", "errors")]
            if rows:
                runs[name].append(tps(rows[0])[0])
                print(f"referee pair {k + 1} {name}: {tps(rows[0])[0]:.1f} tok/s", flush=True)
            else:
                print(f"referee pair {k + 1} {name}: not measured (see {out}.log)", flush=True)
    n = min(len(runs["best"]), len(runs["chosen"]))
    # Student's t, 97.5% quantile, df 1..10
    t975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
    for name in ("best", "chosen"):
        v = runs[name]
        if v:
            m = sum(v) / len(v)
            print(f"referee {name}: mean {m:.1f} tok/s over {len(v)} runs, "
                  f"{min(v):.1f}-{max(v):.1f} ({(max(v) - min(v)) / m * 100:.0f}% of the mean apart)")
    if n >= 2:
        logs = [math.log(c / b) for b, c in zip(runs["best"][:n], runs["chosen"][:n])]
        mean = sum(logs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
        half = t975[min(n - 1, len(t975)) - 1] * sd / math.sqrt(n)
        ratio, lo, hi = math.exp(mean), math.exp(mean - half), math.exp(mean + half)
        print(f"referee: chosen / best = {ratio:.3f} (95% CI {lo:.3f}-{hi:.3f}) over {n} pairs")
        verdict = "tied" if hi >= 1.0 else "missed"
    else:
        print("referee: fewer than 2 pairs measured: no verdict")
        verdict = "missed"
words_of = {"same": "the same point", "tied": "tied with the full product's best (referee)",
            "missed": "NOT tied: the search missed the best (referee)"}
print(f"verdict: {words_of[verdict]}; wall time {share:.1f}% (target at most 25%)")
print(f"run folders: {d}/full, {d}/tune" + ("" if same else f", {d}/referee"))
sys.exit(0 if verdict in ("same", "tied") and share <= 25.0 else 1)
PY
