#!/usr/bin/env bash
# Fuzz mlxrun for a bounded time (not part of scripts/test.sh):
#
#     scripts/fuzz.sh [SECONDS [TARGET...]]   # default 60 s, every target
#
# Runs the cargo-fuzz targets of fuzz/ one after the other, SECONDS each:
#   sse       the SSE parser (whole vs cut into pieces) and the chunk
#             reader (quick scan vs serde);
#   scenario  the scenario loader (arbitrary text, and valid files with
#             fuzzer-chosen fields replaced) and matrix expansion;
#   prepare   the same inputs through loading and run::prepare: every
#             command line, nginx config, load plan, deadline and send
#             schedule a run derives, with no server started (seeded from
#             the scenario corpus too).
# Installs cargo-fuzz when missing. There is no nightly toolchain here:
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, ...), which the
# stable toolchain accepts with RUSTC_BOOTSTRAP=1; AddressSanitizer works
# that way (its runtime ships with rust-std), so no `--sanitizer none`.
# The first build compiles mlxrun and its dependencies instrumented, into
# fuzz/target (about 20 minutes on 2 busy cores).
#
# Each run reads the committed corpus fuzz/corpus/TARGET and writes what it
# finds to fuzz/corpus-work/TARGET (ignored by git); a crash stops the run,
# leaves the input in fuzz/artifacts/TARGET/ and makes this script fail.
# To fold a run's finds into the committed corpus, minimised:
#     cp fuzz/corpus-work/sse/* fuzz/corpus/sse/
#     RUSTC_BOOTSTRAP=1 cargo fuzz cmin sse fuzz/corpus/sse -- -use_counters=0
# (scenario: add -max_len=640, which keeps the corpus small).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(sse scenario prepare)
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
summary=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-work/$target" "fuzz/corpus/$target"
    seeds=("fuzz/corpus/$target")
    [ "$target" = prepare ] && seeds+=("fuzz/corpus/scenario")
    log="fuzz/corpus-work/$target.log"
    echo "fuzz: $target for ${secs}s (log: $log)" >&2
    status=0
    cargo fuzz run "$target" "fuzz/corpus-work/$target" "${seeds[@]}" -- \
        -max_total_time="$secs" -timeout=10 </dev/null >"$log" 2>&1 || status=$?
    # the final libFuzzer stats line: "#RUNS DONE cov: ... exec/s: N ..."
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    if [ "$status" -ne 0 ]; then
        tail -40 "$log" >&2
        echo "fuzz: $target FAILED (exit $status); the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    summary+=("$target: $done_line")
done
printf 'fuzz: %s\n' "${summary[@]}"
