#!/usr/bin/env bash
# How fast is mlxrun's client? One command, rerunnable by anyone:
#
#     scripts/bench-client.sh
#
# Runs mlxrun's load client side by side with oha (plain HTTP, no SSE
# parsing: the floor) and GuideLLM against mlxrun's own stub server on this
# machine (stub and clients share the cores), with the same request shape:
# streamed chat completions, max_tokens 256, concurrency 64, 2,000 requests,
# 3 runs per client (interleaved mlxrun, oha, GuideLLM), medians. One more
# GuideLLM run of 64 requests measures its fixed (start-up) CPU.
#
#   1. burst stub (`stub-server --burst`: each response in one write), so the
#      client's own cost dominates; plus mlxrun and oha at concurrency 1
#      (TTFT without queueing behind the other 63 requests);
#   2. per-token stub (one SSE frame per token, as real servers do);
#   3. accuracy: stub with --ttft-ms 200 --itl-ms 10 (per token), mlxrun and
#      GuideLLM at concurrency 16 (320 requests) and 256 (1,024 requests),
#      64 tokens each: mean TTFT - 200 ms and mean ITL - 10 ms; plus mlxrun
#      and a bare-socket reference client at concurrency 1 (10 requests):
#      the stub's own lateness, which no client can read below; and mlxrun
#      again with warm connections (one unmeasured round first), to show
#      what the first round's connection opening adds to TTFT.
#
# Client CPU is the whole process's user + system time (GNU time, children
# included: GuideLLM's worker processes), per request; for mlxrun also its
# own `client_cpu_ms_per_req` (the load only, from the results CSV). The
# stub's CPU is read from /proc. Linux only.
#
# Installs what is missing, once, under .mlxrun/bench/ (never committed):
#   oha (crates.io, pinned)      cargo install oha --locked --root .mlxrun/bench
#   GuideLLM (PyPI, pinned)      venv .mlxrun/bench/guidellm-venv (pulls torch: ~6 GB)
#   GNU time                     apt-get install time, when /usr/bin/time is missing
# GuideLLM's synthetic prompts use the tokenizer of models/tiny-llama
# (scripts/setup.sh makes it); nothing is fetched from a model hub
# (HF_HUB_OFFLINE=1).
#
# Prints a Markdown report and writes it to
# results/bench-client/bench_<timestamp>.md, with every run's raw numbers in
# bench_<timestamp>.tsv beside it. Takes about 10 minutes on 2 cores after
# the one-time installs (GuideLLM's runs are most of it; the installs take
# about 20 minutes more, the first time). Other work on
# the machine skews every figure: the report records the load average at
# the start and the end.
#
# Environment (for quick trials; the report says when a value differs from
# the documented run): BENCH_RUNS (3), BENCH_REQUESTS (2000),
# BENCH_CONCURRENCY (64), BENCH_TOKENS (256), BENCH_SKIP_GUIDELLM (unset),
# BENCH_SECTIONS ("burst pertoken accuracy").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

OHA_VERSION=1.16.0
GUIDELLM_VERSION=0.8.1

RUNS=${BENCH_RUNS:-3}
REQUESTS=${BENCH_REQUESTS:-2000}
CONCURRENCY=${BENCH_CONCURRENCY:-64}
TOKENS=${BENCH_TOKENS:-256}
SKIP_GUIDELLM=${BENCH_SKIP_GUIDELLM:-}
SECTIONS=${BENCH_SECTIONS:-burst pertoken accuracy}
ACC_TOKENS=64
ACC_POINTS=("16 320" "256 1024")
ACC_REF_REQUESTS=10 # concurrency 1 against the same stub: mlxrun and a bare socket
GUIDELLM_FIXED_REQUESTS=64
PROMPT="Share three optimization tips for model serving."
PROMPT_TOKENS=8 # GuideLLM's synthetic prompt length, about mlxrun's prompt

BENCH=$ROOT/.mlxrun/bench
OHA=$BENCH/bin/oha
VENV=$BENCH/guidellm-venv
GUIDELLM=$VENV/bin/guidellm
MLXRUN=$ROOT/target/release/mlxrun
TOKENIZER=$ROOT/models/tiny-llama
OUT_DIR=$ROOT/results/bench-client
STAMP=$(date +%Y%m%d_%H%M%S)
REPORT=$OUT_DIR/bench_$STAMP.md
RAW=$OUT_DIR/bench_$STAMP.tsv
T0=$(date +%s)

log() { printf 'bench-client: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- processes: everything started here is stopped by PID on any exit ---
STUB_PID=
CLIENT_PID=
TMP=
cleanup() {
  if [[ -n $CLIENT_PID ]]; then
    # the client runs in its own session: its group is it and its workers
    kill -TERM -- "-$CLIENT_PID" 2>/dev/null || true
    wait "$CLIENT_PID" 2>/dev/null || true
    CLIENT_PID=
  fi
  stop_stub
  if [[ -n $TMP ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# run_client OUT ERR COMMAND...: run COMMAND in its own session (so its
# worker processes can be stopped with it), stdout to OUT and stderr to ERR,
# and wait for it. (Redirecting here, not around the call, keeps the
# script's own messages on its stderr when a signal arrives meanwhile.)
run_client() {
  local out=$1 err=$2
  shift 2
  if [[ $out == "$err" ]]; then
    setsid "$@" >"$out" 2>&1 &
  else
    setsid "$@" >"$out" 2>"$err" &
  fi
  CLIENT_PID=$!
  local rc=0
  wait "$CLIENT_PID" || rc=$?
  CLIENT_PID=
  return "$rc"
}

start_stub() {
  : >"$TMP/stub.out"
  "$MLXRUN" stub-server --port 0 "$@" >"$TMP/stub.out" 2>>"$TMP/stub.err" &
  STUB_PID=$!
  local line=
  for _ in $(seq 200); do
    IFS= read -r line <"$TMP/stub.out" || true
    [[ $line == "listening on "* ]] && break
    kill -0 "$STUB_PID" 2>/dev/null || die "stub-server exited: $(tail -n 5 "$TMP/stub.err")"
    sleep 0.05
  done
  [[ $line == "listening on "* ]] || die "stub-server did not print its address"
  STUB_URL=${line#listening on }
  log "stub-server $* (pid $STUB_PID) at $STUB_URL"
}

stop_stub() {
  if [[ -n $STUB_PID ]]; then
    kill -TERM "$STUB_PID" 2>/dev/null || true
    wait "$STUB_PID" 2>/dev/null || true
    STUB_PID=
  fi
}

# CPU seconds (user + system) the stub has used so far.
stub_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$STUB_PID/stat"
}

# --- build and install what is missing ---
[[ $(uname -s) == Linux ]] || die "Linux only (/proc, GNU time, setsid)"
[[ -f $TOKENIZER/tokenizer.json ]] || die "$TOKENIZER/tokenizer.json missing: run scripts/setup.sh first"
if ! [[ -x /usr/bin/time ]]; then
  log "installing GNU time (apt)"
  SUDO=
  [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get install -y time >/dev/null || die "install GNU time (apt-get install time)"
fi
log "building mlxrun (release)"
cargo build --release --locked --quiet
mkdir -p "$BENCH"
INSTALLED=false
if ! [[ -x $OHA ]] || [[ $("$OHA" --version 2>/dev/null) != "oha $OHA_VERSION" ]]; then
  log "installing oha $OHA_VERSION into $BENCH (a one-time build, several minutes)"
  cargo install oha --version "$OHA_VERSION" --locked --root "$BENCH" --force --quiet
  INSTALLED=true
fi
if [[ -z $SKIP_GUIDELLM ]] && ! { [[ -x $GUIDELLM ]] &&
  [[ $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("guidellm"))' 2>/dev/null) == "$GUIDELLM_VERSION" ]]; }; then
  log "installing GuideLLM $GUIDELLM_VERSION into $VENV (a one-time download, ~6 GB with torch)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "guidellm==$GUIDELLM_VERSION"
  INSTALLED=true
fi
PY=python3
[[ -z $SKIP_GUIDELLM ]] && PY=$VENV/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-client.XXXXXX")
mkdir -p "$OUT_DIR"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'section\ttool\trun\trequests\tok\twall_s\tcpu_s\tcpu_own_ms\trps\tttft_ms\titl_ms\te2e_ms\tstub_cpu_s\tttft_p50_ms\n' >"$RAW"

# --- the parser of every client's output, and the report ---
cat >"$TMP/bench.py" <<'PY'
import csv, glob, json, statistics, sys

def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None

def parse(kind, path):
    """rps|ttft_ms|itl_ms|e2e_ms|ok|cpu_own_ms|ttft_p50_ms of one run ('' = n/a)."""
    if kind == "mlxrun":
        (f,) = glob.glob(path + "/*/*.csv")
        r = next(csv.DictReader(open(f)))
        v = [r["requests_per_s"], r["ttft_mean_ms"], r["itl_mean_ms"], r["e2e_mean_ms"],
             r["ok_requests"], r["client_cpu_ms_per_req"], r["ttft_p50_ms"]]
    elif kind == "oha":
        d = json.load(open(path))
        s = d["summary"]
        ok = d.get("statusCodeDistribution", {}).get("200", 0)
        # oha parses no SSE: its "TTFT" is the first byte of the response
        v = [s["requestsPerSec"], d["details"]["firstByte"]["average"] * 1e3, "",
             s["average"] * 1e3, ok, "", d["firstBytePercentiles"]["p50"] * 1e3]
    elif kind == "guidellm":
        b = json.load(open(path))["benchmarks"][0]
        m = b["metrics"]
        v = [m["requests_per_second"]["successful"]["mean"],
             m["time_to_first_token_ms"]["successful"]["mean"],
             m["inter_token_latency_ms"]["successful"]["mean"],
             m["request_latency"]["successful"]["mean"] * 1e3,
             b["scheduler_state"]["successful_requests"], "",
             m["time_to_first_token_ms"]["successful"]["median"]]
    print("|".join(f"{x:.4f}" if isinstance(x, float) else str(x) for x in v))

def raw(url, n, tokens):
    """The floor of what any client can see: one keep-alive socket, one
    request at a time, no HTTP or SSE library; TTFT = send -> the first read
    holding a token, ITL = (last token read - first) / (tokens - 1)."""
    import socket, time
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    body = json.dumps({"max_tokens": tokens, "temperature": 0.3, "stream": True,
                       "messages": [{"role": "user", "content": "Share three optimization tips for model serving."}],
                       "model": "stub", "stream_options": {"include_usage": True}}).encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % (host.encode(), len(body))) + body
    mark = b'"content":"tok "'
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(120)
    ttft, itl, e2e = [], [], []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        s.sendall(req)
        buf, seen, first, last = b"", 0, None, None
        while True:
            d = s.recv(1 << 16)
            now = time.perf_counter()
            if not d:
                sys.exit("raw client: the stub closed the connection")
            buf += d
            c = buf.count(mark)
            if c > seen:
                first = now if first is None else first
                last, seen = now, c
            if b"[DONE]" in buf and buf.endswith(b"\r\n0\r\n\r\n"):
                break
        ttft.append((first - t0) * 1e3)
        e2e.append((now - t0) * 1e3)
        if seen > 1:
            itl.append((last - first) * 1e3 / (seen - 1))
    wall = time.perf_counter() - start
    m = statistics.fmean
    print("|".join(f"{x:.4f}" if isinstance(x, float) else str(x)
                   for x in [n / wall, m(ttft), m(itl) if itl else "", m(e2e), n, "",
                             statistics.median(ttft)]))

def fmt(x, nd=2):
    return "–" if x is None else f"{x:,.{nd}f}"

def report(raw, meta_path):
    meta = json.load(open(meta_path))
    rows = list(csv.DictReader(open(raw), delimiter="\t"))
    groups = {}
    for r in rows:
        groups.setdefault((r["section"], r["tool"]), []).append(r)

    def med(sec, tool, key, per_request=False):
        vals = []
        for r in groups.get((sec, tool), []):
            v = num(r[key])
            if v is None:
                continue
            if per_request:
                v = v * 1e3 / float(r["requests"])
            vals.append(v)
        return statistics.median(vals) if vals else None

    def nruns(sec, tool):
        return len(groups.get((sec, tool), []))

    def errors(sec, tool):
        return sum(int(float(r["requests"])) - int(float(r["ok"] or 0)) for r in groups.get((sec, tool), []))

    out = []
    p = out.append
    p(f"# mlxrun client benchmark, {meta['stamp']}")
    p("")
    p(f"Command: `{meta['command']}` (took {meta['took_s']} s in all"
      + (", installs included" if meta.get("installed") else "") + ").")
    p("")
    p(f"- Machine: {meta['cpus']} cores ({meta['cpu_model']}), {meta['kernel']}; "
      f"stub and clients share the cores.")
    p(f"- Load average (1, 5, 15 min) at the start: {meta['load_start']}; at the end: {meta['load_end']}. "
      "Other work on the machine skews every figure.")
    p(f"- Versions: mlxrun {meta['mlxrun']}, {meta['rustc']}; oha {meta['oha']}; "
      f"GuideLLM {meta['guidellm']} (Python {meta['python']}).")
    p(f"- Requests: streamed chat completions, max_tokens {meta['tokens']}, concurrency "
      f"{meta['concurrency']}, {meta['requests']} requests per run, {meta['runs']} runs per client "
      "(interleaved), medians of each column.")
    if meta["nondefault"]:
        p(f"- **Not the documented run**: {meta['nondefault']}.")
    p("- Client CPU = the whole process's user + system time (GNU time; children included, "
      "so GuideLLM's worker processes count) ÷ requests. mlxrun's own `client_cpu_ms_per_req` "
      "counts only the load (getrusage around the point). Stub CPU from /proc.")
    p("")

    tools = ["mlxrun", "oha", "guidellm"]
    names = {"mlxrun": "mlxrun", "oha": "oha", "guidellm": "GuideLLM"}

    def mode_table(sec, title, what):
        if not any(nruns(sec, t) for t in tools):
            return None, None, None
        p(f"## {title}")
        p("")
        p(what)
        p("")
        p("| client | requests/s | client CPU ms/request (whole process) | CPU ms/request in the load | "
          "TTFT mean ms | E2E mean ms | stub CPU ms/request | runs | failed requests |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in tools:
            if not nruns(sec, t):
                continue
            ttft = fmt(med(sec, t, "ttft_ms"))
            if t == "oha" and ttft != "–":
                ttft += " ¹"
            p(f"| {names[t]} | {fmt(med(sec, t, 'rps'), 0)} | {fmt(med(sec, t, 'cpu_s', True), 3)} | "
              f"{fmt(med(sec, t, 'cpu_own_ms'), 3)} | {ttft} | {fmt(med(sec, t, 'e2e_ms'))} | "
              f"{fmt(med(sec, t, 'stub_cpu_s', True), 3)} | {nruns(sec, t)} | {errors(sec, t)} |")
        p("")
        m_rps, o_rps, g_rps = (med(sec, t, "rps") for t in tools)
        m_cpu, o_cpu, g_cpu = (med(sec, t, "cpu_s", True) for t in tools)
        ratios = []
        if m_rps and o_rps:
            ratios.append(f"mlxrun ÷ oha: {m_rps / o_rps:.2f}× the requests/s, {m_cpu / o_cpu:.1f}× the CPU per request")
        if m_rps and g_rps:
            ratios.append(f"mlxrun ÷ GuideLLM: {m_rps / g_rps:.1f}× the requests/s, {m_cpu / g_cpu:.3f}× the CPU per request "
                          f"(GuideLLM uses {g_cpu / m_cpu:.0f}× mlxrun's)")
        if ratios:
            p("Ratios: " + "; ".join(ratios) + ".")
            p("")
        return m_rps, o_rps, m_cpu

    b = mode_table("burst", "Burst stub: the client's own cost",
                   "`mlxrun stub-server --burst`: each streamed answer is one write, so the client's cost dominates.")
    fixed = groups.get(("guidellm_fixed", "guidellm"))
    if fixed:
        fcpu = num(fixed[0]["cpu_s"])
        freq = float(fixed[0]["requests"])
        g_tot = med("burst", "guidellm", "cpu_s")
        line = (f"GuideLLM's fixed cost (start-up, data generation, worker processes, report), from one run of "
                f"{freq:.0f} requests: {fcpu:.1f} s of CPU")
        if g_tot:
            marg = (g_tot - fcpu) * 1e3 / (meta["requests"] - freq)
            line += f"; without it, about {marg:.1f} ms of CPU per request (an estimate: (CPU of a full run − fixed) ÷ the extra requests)"
        p(line + ".")
        p("")
    if b[0] is not None:
        p("¹ oha parses no SSE: its TTFT column is the first byte of the response (`details.firstByte.average`).")
        p("")
    if nruns("c1", "mlxrun") or nruns("c1", "oha"):
        p("### The same burst stub at concurrency 1")
        p("")
        p("At concurrency 64 a request also waits for the 63 others on 2 shared cores (Little's law: "
          "mean latency = 64 ÷ requests/s), so TTFT there is mostly queueing. At concurrency 1 it is the "
          "client's and the stub's own time:")
        p("")
        p("| client | requests/s | client CPU ms/request (whole process) | TTFT mean ms | E2E mean ms | runs |")
        p("|---|---:|---:|---:|---:|---:|")
        for t in ("mlxrun", "oha"):
            if nruns("c1", t):
                ttft = fmt(med("c1", t, "ttft_ms"), 3) + (" ¹" if t == "oha" else "")
                p(f"| {names[t]} | {fmt(med('c1', t, 'rps'), 0)} | {fmt(med('c1', t, 'cpu_s', True), 3)} | "
                  f"{ttft} | {fmt(med('c1', t, 'e2e_ms'), 3)} | {nruns('c1', t)} |")
        p("")
    pt = mode_table("pertoken", "Per-token stub: one frame per token",
                    "`mlxrun stub-server`: one SSE frame per token (no delay), as real servers stream.")

    p("## Accuracy: 200 ms injected TTFT, 10 ms ITL")
    p("")
    p(f"`mlxrun stub-server --ttft-ms 200 --itl-ms 10` (one frame per token), {meta['acc_tokens']} tokens per request; "
      "error = the client's mean − the injected value (mlxrun: `ttft_mean_ms`, `itl_mean_ms`; GuideLLM: "
      "`time_to_first_token_ms`, `inter_token_latency_ms` means).")
    p("")
    p("| client | concurrency | requests | TTFT error ms (mean) | TTFT error ms (p50) | ITL error ms (mean) | E2E mean ms | runs | failed requests |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    acc = {}
    names["raw"] = "raw socket (reference)"
    names["mlxrun_warm"] = "mlxrun, warm connections ²"
    for c, n in [[1, meta["acc_ref_requests"]]] + meta["acc_points"]:
        sec = f"acc{c}"
        for t in ("raw", "mlxrun", "guidellm", "mlxrun_warm"):
            if not nruns(sec, t):
                continue
            te = med(sec, t, "ttft_ms")
            ie = med(sec, t, "itl_ms")
            t50 = med(sec, t, "ttft_p50_ms")
            t50 = "–" if t50 is None else f"{t50 - 200:+.2f}"
            te = None if te is None else te - 200
            ie = None if ie is None else ie - 10
            acc[(c, t)] = (te, ie)
            p(f"| {names[t]} | {c} | {n} | {'–' if te is None else f'{te:+.2f}'} | {t50} | "
              f"{'–' if ie is None else f'{ie:+.3f}'} | {fmt(med(sec, t, 'e2e_ms'))} | {nruns(sec, t)} | {errors(sec, t)} |")
    p("")
    if (1, "raw") in acc:
        p("The reference row is a bare socket (Python, no HTTP or SSE library, one request at a time): "
          "the stub's own lateness on this machine (its timer thread and tokio worker waking, the kernel "
          "delivering), which no client can read below. Mean ITL errors cancel such delays (a mean gap is "
          "(last − first) ÷ (tokens − 1)); TTFT errors do not. At concurrency 16 and 256 every closed-loop "
          "round starts all its requests at once, so the last of a round waits for the client and the stub "
          "to handle the others on the 2 shared cores.")
        p("")
    if any(t == "mlxrun_warm" for (_, t) in acc):
        p("² Not the documented setting: one unmeasured round first (`load.warmup_requests` = the concurrency), "
          "so the measured requests find their connections open. Without it the first round's TTFT includes "
          "opening the connection (all of them at once), which is the documented runs' setting for every client.")
        p("")

    p("## Against the goals")
    p("")
    p("| goal | measured (mlxrun) | met |")
    p("|---|---|---|")
    m_rps, o_rps, m_cpu = b

    def goal(text, value, ok):
        p(f"| {text} | {value} | {'yes' if ok else '**no**'} |")

    if m_cpu is not None:
        own = med("burst", "mlxrun", "cpu_own_ms")
        goal("burst: ≤ 0.3 ms client CPU per request", f"{m_cpu:.3f} ms whole process ({fmt(own, 3)} ms in the load)", m_cpu <= 0.3)
    if m_rps is not None:
        goal("burst: ≥ 4,000 requests/s", f"{m_rps:,.0f}", m_rps >= 4000)
        tt = med("burst", "mlxrun", "ttft_ms")
        goal(f"burst: reported TTFT < 2 ms (concurrency {meta['concurrency']})", f"{tt:.2f} ms", tt < 2)
    c1 = med("c1", "mlxrun", "ttft_ms")
    if c1 is not None:
        goal("(burst, concurrency 1: TTFT < 2 ms)", f"{c1:.3f} ms", c1 < 2)
    pm, po, _ = pt
    if pm and po:
        goal("per token: requests/s within 10% of oha's", f"{pm:,.0f} vs {po:,.0f} ({(pm / po - 1) * 100:+.0f}%)", pm >= 0.9 * po)
    for c, lim in ((16, 0.3), (256, 1.0)):
        if (c, "mlxrun") in acc:
            te, ie = acc[(c, "mlxrun")]
            ok = te is not None and ie is not None and abs(te) < lim and abs(ie) < lim
            goal(f"accuracy, concurrency {c}: TTFT and ITL errors within ±{lim} ms",
                 f"{'–' if te is None else f'{te:+.2f}'} ms, {'–' if ie is None else f'{ie:+.3f}'} ms", ok)
        if (c, "mlxrun_warm") in acc:
            te, ie = acc[(c, "mlxrun_warm")]
            ok = te is not None and ie is not None and abs(te) < lim and abs(ie) < lim
            goal(f"(the same, warm connections ²)",
                 f"{'–' if te is None else f'{te:+.2f}'} ms, {'–' if ie is None else f'{ie:+.3f}'} ms", ok)
    if (1, "raw") in acc and acc[(1, "raw")][0] is not None:
        p("")
        p(f"The stub alone is {acc[(1, 'raw')][0]:+.2f} ms late on TTFT here (bare-socket reference, concurrency 1).")
    p("")
    print("\n".join(out))

if __name__ == "__main__":
    if sys.argv[1] == "parse":
        parse(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "raw":
        raw(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        report(sys.argv[2], sys.argv[3])
PY

# --- one run of each client ---
TIME_FMT='%e %U %S'

# record SECTION TOOL RUN REQUESTS TIMEFILE STUB_CPU_BEFORE PARSED
record() {
  local sec=$1 tool=$2 run=$3 n=$4 tf=$5 s0=$6 parsed=$7
  local wall user sys s1 rps ttft itl e2e ok own
  read -r wall user sys < <(tail -n 1 "$tf")
  s1=$(stub_cpu)
  IFS='|' read -r rps ttft itl e2e ok own ttft50 <<<"$parsed"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sec" "$tool" "$run" "$n" "$ok" "$wall" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')" "$own" "$rps" "$ttft" "$itl" "$e2e" \
    "$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", b - a }')" "$ttft50" >>"$RAW"
  log "$sec $tool run $run: $(printf '%.0f' "$rps") requests/s, $(awk -v u="$user" -v s="$sys" -v n="$n" 'BEGIN { printf "%.3f", (u + s) * 1e3 / n }') ms CPU/request, TTFT ${ttft:-–} ms, ITL ${itl:-–} ms, ok $ok/$n"
}

# run_mlxrun SECTION RUN CONCURRENCY REQUESTS TOKENS [WARMUP]: WARMUP
# unmeasured requests first (load.warmup_requests: connections already open)
run_mlxrun() {
  local sec=$1 run=$2 c=$3 n=$4 tok=$5 warm=${6:-0}
  local tool=mlxrun
  [[ $warm == 0 ]] || tool=mlxrun_warm
  local d=$TMP/$tool-$sec-$run
  mkdir -p "$d"
  cat >"$d/bench.toml" <<EOF
name = "bench"
[model]
path = "stub"
[backend]
kind = "openai"
[backends.openai]
urls = ["$STUB_URL"]
[workload]
prompt = "$PROMPT"
requests = $n
warmup_requests = 0
retries = 0
[load]
warmup_requests = $warm
[matrix]
concurrency = [$c]
max_tokens = [$tok]
[output]
dir = "$d/results"
EOF
  local s0
  s0=$(stub_cpu)
  run_client "$d/log" "$d/log" /usr/bin/time -f "$TIME_FMT" -o "$d/time" "$MLXRUN" "$d/bench.toml" --plain ||
    die "mlxrun failed ($sec run $run): $(tail -n 5 "$d/log")"
  local parsed
  parsed=$("$PY" "$TMP/bench.py" parse mlxrun "$d/results")
  record "$sec" "$tool" "$run" "$n" "$d/time" "$s0" "$parsed"
}

# run_oha SECTION RUN CONCURRENCY REQUESTS TOKENS
run_oha() {
  local sec=$1 run=$2 c=$3 n=$4 tok=$5
  local d=$TMP/oha-$sec-$run
  mkdir -p "$d"
  # mlxrun's request body, byte for byte in meaning
  local body
  body=$(printf '{"max_tokens":%d,"temperature":0.3,"stream":true,"messages":[{"role":"user","content":"%s"}],"model":"stub","stream_options":{"include_usage":true}}' "$tok" "$PROMPT")
  local s0
  s0=$(stub_cpu)
  run_client "$d/log" "$d/log" /usr/bin/time -f "$TIME_FMT" -o "$d/time" "$OHA" -n "$n" -c "$c" -m POST \
    -H 'content-type: application/json' -d "$body" --no-tui --output-format json -o "$d/out.json" \
    "$STUB_URL/v1/chat/completions" || die "oha failed ($sec run $run): $(tail -n 5 "$d/log")"
  local parsed
  parsed=$("$PY" "$TMP/bench.py" parse oha "$d/out.json")
  record "$sec" oha "$run" "$n" "$d/time" "$s0" "$parsed"
}

# run_guidellm SECTION RUN CONCURRENCY REQUESTS TOKENS
run_guidellm() {
  local sec=$1 run=$2 c=$3 n=$4 tok=$5
  local d=$TMP/guidellm-$sec-$run
  mkdir -p "$d"
  cat >"$d/scenario.json" <<EOF
{"spec": {
  "backend": {"kind": "openai_http", "target": "$STUB_URL", "model": "stub",
              "request_format": "/v1/chat/completions", "stream": true},
  "profile": {"kind": "concurrent", "streams": $c},
  "tokenizer": {"kind": "huggingface_auto", "model": "$TOKENIZER"},
  "data": [{"kind": "synthetic_text", "prompt_tokens": $PROMPT_TOKENS, "output_tokens": $tok}],
  "constraints": [{"kind": "max_requests", "count": $n}],
  "outputs": [{"kind": "json", "path": "$d/out.json"}]
}}
EOF
  local s0
  s0=$(stub_cpu)
  run_client "$d/log" "$d/log" env -C "$d" /usr/bin/time -f "$TIME_FMT" -o "$d/time" "$GUIDELLM" run \
    -c "$d/scenario.json" --disable-console-interactive || die "GuideLLM failed ($sec run $run): $(tail -n 20 "$d/log")"
  local parsed
  parsed=$("$PY" "$TMP/bench.py" parse guidellm "$d/out.json")
  record "$sec" guidellm "$run" "$n" "$d/time" "$s0" "$parsed"
}

# run_raw SECTION RUN CONCURRENCY(1) REQUESTS TOKENS: the bare-socket reference
run_raw() {
  local sec=$1 run=$2 n=$4 tok=$5
  local d=$TMP/raw-$sec-$run
  mkdir -p "$d"
  local s0
  s0=$(stub_cpu)
  run_client "$d/out" "$d/log" /usr/bin/time -f "$TIME_FMT" -o "$d/time" "$PY" "$TMP/bench.py" raw \
    "$STUB_URL" "$n" "$tok" || die "raw client failed ($sec run $run): $(tail -n 5 "$d/log")"
  record "$sec" raw "$run" "$n" "$d/time" "$s0" "$(cat "$d/out")"
}

CLIENTS=(mlxrun oha guidellm)
[[ -n $SKIP_GUIDELLM ]] && CLIENTS=(mlxrun oha)

want() { [[ " $SECTIONS " == *" $1 "* ]]; }

# 1. burst: the client's own cost (and concurrency 1), GuideLLM's fixed cost
burst() {
  start_stub --burst
  local run tool
  for run in $(seq "$RUNS"); do
    for tool in "${CLIENTS[@]}"; do
      "run_$tool" burst "$run" "$CONCURRENCY" "$REQUESTS" "$TOKENS"
    done
  done
  for run in $(seq "$RUNS"); do
    run_mlxrun c1 "$run" 1 "$REQUESTS" "$TOKENS"
    run_oha c1 "$run" 1 "$REQUESTS" "$TOKENS"
  done
  if [[ -z $SKIP_GUIDELLM ]]; then
    run_guidellm guidellm_fixed 1 "$CONCURRENCY" "$GUIDELLM_FIXED_REQUESTS" "$TOKENS"
  fi
  stop_stub
}

# 2. one frame per token
pertoken() {
  start_stub
  local run tool
  for run in $(seq "$RUNS"); do
    for tool in "${CLIENTS[@]}"; do
      "run_$tool" pertoken "$run" "$CONCURRENCY" "$REQUESTS" "$TOKENS"
    done
  done
  stop_stub
}

# 3. accuracy against injected delays
accuracy() {
  start_stub --ttft-ms 200 --itl-ms 10
  local run point c n
  for run in $(seq "$RUNS"); do
    run_raw acc1 "$run" 1 "$ACC_REF_REQUESTS" "$ACC_TOKENS"
    run_mlxrun acc1 "$run" 1 "$ACC_REF_REQUESTS" "$ACC_TOKENS"
  done
  for point in "${ACC_POINTS[@]}"; do
    read -r c n <<<"$point"
    for run in $(seq "$RUNS"); do
      run_mlxrun "acc$c" "$run" "$c" "$n" "$ACC_TOKENS"
      [[ -n $SKIP_GUIDELLM ]] || run_guidellm "acc$c" "$run" "$c" "$n" "$ACC_TOKENS"
      run_mlxrun "acc$c" "$run" "$c" "$n" "$ACC_TOKENS" "$c"
    done
  done
  stop_stub
}

for section in burst pertoken accuracy; do
  if want "$section"; then "$section"; fi
done

# --- report ---
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
NONDEFAULT=()
[[ $RUNS == 3 ]] || NONDEFAULT+=("BENCH_RUNS=$RUNS")
[[ $REQUESTS == 2000 ]] || NONDEFAULT+=("BENCH_REQUESTS=$REQUESTS")
[[ $CONCURRENCY == 64 ]] || NONDEFAULT+=("BENCH_CONCURRENCY=$CONCURRENCY")
[[ $TOKENS == 256 ]] || NONDEFAULT+=("BENCH_TOKENS=$TOKENS")
[[ -z $SKIP_GUIDELLM ]] || NONDEFAULT+=("BENCH_SKIP_GUIDELLM=$SKIP_GUIDELLM")
[[ $SECTIONS == "burst pertoken accuracy" ]] || NONDEFAULT+=("BENCH_SECTIONS=${SECTIONS// /,}")
MLXRUN_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || MLXRUN_REV="$MLXRUN_REV (modified)"
GUIDELLM_V=-
[[ -n $SKIP_GUIDELLM ]] || GUIDELLM_V=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("guidellm"))')
"$PY" - "$TMP/meta.json" <<PY
import json, sys, platform
cpu = "unknown CPU"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
json.dump({
    "stamp": "$STAMP", "command": "scripts/bench-client.sh", "took_s": $(($(date +%s) - T0)), "installed": $([[ $INSTALLED == true ]] && echo True || echo False),
    "cpus": $(nproc), "cpu_model": cpu, "kernel": "Linux " + platform.release(),
    "load_start": "$LOAD_START", "load_end": "$LOAD_END",
    "mlxrun": "$MLXRUN_REV", "rustc": "$(rustc --version | cut -d' ' -f1-2)",
    "oha": "$("$OHA" --version | cut -d' ' -f2)", "guidellm": "$GUIDELLM_V",
    "python": platform.python_version(),
    "tokens": $TOKENS, "concurrency": $CONCURRENCY, "requests": $REQUESTS, "runs": $RUNS,
    "acc_tokens": $ACC_TOKENS, "acc_points": [[16, 320], [256, 1024]], "acc_ref_requests": $ACC_REF_REQUESTS,
    "nondefault": ", ".join("${NONDEFAULT[*]:-}".split()),
}, open(sys.argv[1], "w"))
PY
"$PY" "$TMP/bench.py" report "$RAW" "$TMP/meta.json" >"$REPORT"
cat "$REPORT"
log "report: ${REPORT#"$ROOT"/}  raw numbers: ${RAW#"$ROOT"/}  ($(($(date +%s) - T0)) s)"
