//! The texts `--help` prints after the options: examples first (a test
//! checks that every subcommand has them), then what a command does and
//! its exit codes.

/// `mlxrun --help` after the options. "MLX_* seed names" in it are the
/// environment variables of mlx-knife's benchmark scripts, the predecessor
/// mlxrun was created from, which the scenario layers still read.
pub(super) const AFTER_HELP: &str = "\
Examples:
  mlxrun scenarios/quickstart.toml            run a scenario
  mlxrun launch                               the interactive launcher (also `mlxrun` alone on a terminal)
  MLX_MAX_TOKENS=256 mlxrun scenarios/single.toml
  mlxrun run scenarios/full_sweep.toml --set matrix.concurrency=1,8,64
  mlxrun plan scenarios/full_sweep.toml       show points and commands, start nothing
  mlxrun tune scenarios/full_sweep.toml       search the matrix for the best configuration
  mlxrun resume results/full_sweep/full_sweep_20260101_120000
                                              continue an interrupted or crashed run
  MLX_MODEL_PATH=models/tiny-llama mlxrun scenarios/backends_tour.toml
                                              two models, 1-2 ranks, nginx and client routers
  mlxrun validate scenarios/*.toml
  mlxrun analyze results/full_sweep/full_sweep_20260101_120000.csv --count 10
  mlxrun scenarios/open_loop.toml              Poisson rate sweep, synthetic prompts, goodput
  mlxrun stub-server --port 0 --ttft-ms 50 --itl-ms 10
                                              a zero-latency OpenAI-compatible stub
  mlxrun calibrate                            the client's own ceiling on this machine
  mlxrun report results/quickstart/quickstart_20261122_010203
                                              report.md and report.html of a run
  mlxrun validate-report results/*/*/report.jsonl
                                              check reports against schemas/
  mlxrun monitor -- python bench.py           sample memory, CPU, GPU while a command runs
  mlxrun init --model models/tiny-llama       write scenarios/my_sweep.toml to start from
  mlxrun serve up scenarios/quickstart.toml   keep its servers running; serve status / serve down
  mlxrun completions bash > ~/.local/share/bash-completion/completions/mlxrun

Layering: built-in defaults < scenario file < environment (MLX_* seed names,
MLXRUN_SECTION__FIELD) < --set KEY=VALUE.

Exit codes:
  0    every point ran (request errors, if any, are in the results)
  1    the run finished but one or more points failed, or an error stopped it (a record not written)
  2    bad input (scenario, variable, argument; a resume whose scenario changed); nothing started
  3    machine not ready (backend, API key, mlx.launch, nginx, flags, ports, results folder, run still going); nothing started
  4    every point ran, rows and records written, but report.md/report.html could not be (mlxrun report RUN_DIR)
  101  mlxrun itself failed (a panic, a bug): children stopped, finished rows kept
  130  interrupted by Ctrl-C or SIGTERM; finished rows are kept (mlxrun resume RUN_DIR continues)";

pub(super) const SERVE_AFTER_HELP: &str = "\
Examples:
  mlxrun serve up scenarios/quickstart.toml --set matrix.instances=2
  mlxrun serve status scenarios/quickstart.toml
  mlxrun serve down scenarios/quickstart.toml

The processes outlive mlxrun (own session and process group, logs under
<output.dir>/serve/<scenario name>/logs). state.json there records each
one's pid, process group and start time; `down` stops exactly those.";

pub(super) const SERVE_UP_AFTER_HELP: &str = "\
Examples:
  mlxrun serve up scenarios/quickstart.toml
  mlxrun serve up scenarios/full_sweep.toml --config 3
  mlxrun serve up scenarios/quickstart.toml --set matrix.instances=2 --set router.port=9100

Runs the checks of a run (backend, flags, nginx, ports, memory), starts the
instances (and ranks) of one configuration and nginx when router.kind is
nginx, and returns once each instance answered a 1-token completion and one
went through nginx: prints a status table and state_dir=. When anything
fails or Ctrl-C comes first, everything it started is stopped again.
Exit codes: 0 up; 2 bad input; 3 machine not ready, a server never ready, or
already up (next: mlxrun serve down); 130 interrupted.";

pub(super) const SERVE_DOWN_AFTER_HELP: &str = "\
Examples:
  mlxrun serve down scenarios/quickstart.toml
  mlxrun serve down results/serve/quickstart

SIGTERM to each recorded process group, backend.stop_grace_s, SIGKILL; a
recorded pid whose start time no longer matches is not signalled. Waits for
the ports to be free, removes state.json, keeps the logs. Exit 0, also when
nothing is running.";

pub(super) const SERVE_STATUS_AFTER_HELP: &str = "\
Examples:
  mlxrun serve status scenarios/quickstart.toml
  mlxrun serve status results/serve/quickstart --json

Ready means a 1-token completion answers now (through nginx for nginx).
Exit 0 when everything recorded is alive and ready; 1 when something is
down or not ready, or nothing is running.";

pub(super) const INIT_AFTER_HELP: &str = "\
Examples:
  mlxrun init
  mlxrun init scenarios/gemma.toml --model mlx-community/gemma-3-1b-it-4bit
  mlxrun init scenarios/my_sweep.toml --force

Every line of the file says what it does and what to try next. Then:
mlxrun plan FILE (what it would do) and mlxrun FILE (run it).";

pub(super) const COMPLETIONS_AFTER_HELP: &str = "\
Examples:
  mlxrun completions bash > ~/.local/share/bash-completion/completions/mlxrun
  mlxrun completions zsh > ~/.zfunc/_mlxrun     (with fpath+=~/.zfunc before compinit)
  mlxrun completions fish > ~/.config/fish/completions/mlxrun.fish

Scenario arguments complete file paths.";

pub(super) const LAUNCH_AFTER_HELP: &str = "\
Examples:
  mlxrun                 on a terminal: the launcher
  mlxrun launch          the same, explicitly (exit 2 without a terminal)

Menus pick a scenario from ./scenarios/, a model (Hugging Face repo id, a
local folder, the Hugging Face cache), max tokens, concurrency, requests,
environment overrides and server arguments, show the plan and run it; a
submenu starts, stops and checks round-robin servers (mlxrun serve). A run
prints its equivalent command line first. Choices are kept in
.mlxrun/launcher.json. Keys: arrows or 1-9, Enter, Esc back (quits at the
main menu), Ctrl-C quits (exit 130).";

pub(super) const TUNE_AFTER_HELP: &str = "\
Examples:
  mlxrun tune scenarios/full_sweep.toml
  mlxrun tune scenarios/full_sweep.toml --set tune.max_s=600
  mlxrun tune scenarios/open_loop.toml --set tune.objective=max_load_under_slo --set tune.ttft_p99_ms=500
  mlxrun tune scenarios/full_sweep.toml --resume results/full_sweep/full_sweep_20261207_101500

The matrix is the search space: each server configuration (with the
matrix's other non-load values) is a configuration of the search, and its
concurrency values (the request rates, in an open loop) its loads. [tune]
sets the objective (throughput, goodput, max_load_under_slo), the limits
(ttft/tpot/e2e p50/p99 ms), the budget (max_points, max_requests, max_s)
and the seed. Along each configuration's loads the search doubles, then
bisects, to the knee; across configurations it measures all cheaply, then
only the contenders with halving_eta times the requests each round,
dropping one only when its interval lies wholly below the leader's.

Every probe is a row of the CSV and report.jsonl (row_kind probe, with its
search tag); tune.jsonl in the run folder holds every decision with its
evidence and the result. The end prints the best configuration with its
interval, the runner-up (tied or not), the Pareto front and the cost
against the full product. Exit codes as for a run, except that a failed
probe is part of the search: 1 only when no configuration could be
measured.";

pub(super) const RESUME_AFTER_HELP: &str = "\
Examples:
  mlxrun resume results/full_sweep/full_sweep_20261122_010203
  mlxrun resume results/full_sweep/full_sweep_20261122_010203 --set backend.base_port=9200
  mlxrun run scenarios/full_sweep.toml --resume results/full_sweep/full_sweep_20261122_010203

`resume RUN_DIR` runs the effective scenario the run saved beside its CSV
(<RUN_DIR>.scenario.toml; no environment layer); `run FILE --resume RUN_DIR`
loads FILE with its layers and refuses (exit 2) when it differs from the
saved one, listing each field as `field: saved → now`. Only ports, timeouts,
output paths, description, continue_on_error, check_flags and a
search's budget (tune.max_points, max_requests, max_s) may differ.

A point is finished when its last CSV row and its last report.jsonl record
say ok, errors, failed or skipped; interrupted points and points missing
either line run again. The CSV, report.jsonl, processes.jsonl and logs are
appended (a new line for a re-run point comes after the old one; readers
take the last line per point); a partial last line left by a crash is cut
off first; monitor.jsonl gets a `resumed` event. report.md and report.html
are rewritten from the whole files. A run with every point finished exits 0
and starts nothing. Exit codes as for a run; 3 also while the mlxrun that
writes the run is still going (its pid is named).";

pub(super) const REPORT_AFTER_HELP: &str = "\
Examples:
  mlxrun report results/quickstart/quickstart_20261122_010203
  mlxrun report results/full_sweep/full_sweep_20261122_010203 --compare results/full_sweep/full_sweep_20261121_090000

Reads the folder's report.jsonl and monitor.jsonl and writes report.md and
report.html (one self-contained file: charts work offline) into it. A run
writes both when it ends; this command rewrites them, e.g. with --compare.";

pub(super) const VALIDATE_REPORT_AFTER_HELP: &str = "\
Examples:
  mlxrun validate-report results/quickstart/quickstart_20261122_010203/report.jsonl
  mlxrun validate-report results/*/*/report.jsonl results/*/*/monitor.jsonl

Prints `FILE:LINE: /json/pointer: message` for every violation and a total per
file. Exit codes: 0 every record is valid, 1 a record is not (or a file has
none), 2 a file cannot be read.";
pub(super) const MONITOR_AFTER_HELP: &str = "\
Examples:
  mlxrun monitor -- python bench.py --model m   watch a command; exit with its exit code
  mlxrun monitor --interval 100 --output runs/mem.jsonl -- sh -c 'make -j8'
  mlxrun monitor --duration 60                  sample the machine for a minute
  ssh studio mlxrun monitor --until-eof --output - > studio.jsonl
                                                sample there until ssh ends; lines on stdout

Writes one JSON line per record, each flushed as it is written: a header
(hardware, which sources are readable and why not), a sample every
--interval ms on a fixed-rate schedule, events, and a summary last (with
--output -, the lines go to stdout and the summary text still to stderr).
A value that cannot be read here is null, never 0. The command runs without
a shell in its own process group; Ctrl-C is passed on to it (twice kills
it). Exit code: the command's (128 + N if signal N killed it, 127 if it
could not start); without one 0, or 130 when Ctrl-C or SIGTERM cut it
short; 2 when there is no command, --duration or --until-eof.";

pub(super) const CALIBRATE_AFTER_HELP: &str = "\
Examples:
  mlxrun calibrate                             save .mlxrun/calibration.json
  mlxrun calibrate --concurrency 256 --tokens 512

Starts `mlxrun stub-server` as a child process and measures, with mlxrun's
own client: requests/s with one-token responses, SSE events/s with
--tokens-token responses written in one burst, the client's CPU per request,
and the error of the TTFT and ITL it reports against a stub with a known
200 ms TTFT and 10 ms ITL. Runs read the saved file and flag every point whose
load comes above 70% of either ceiling (CSV column client_check). Use a
release build.";

pub(super) const STUB_AFTER_HELP: &str = "\
Examples:
  mlxrun stub-server --port 0                  print `listening on http://127.0.0.1:PORT`, serve
  mlxrun stub-server --ttft-ms 120 --itl-ms 15 --tokens 256
  mlxrun stub-server --burst --error-rate 0.05 --seed 7

Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
GET /health, GET /metrics (Prometheus). A request's max_tokens is honoured
(exactly that many tokens, finish_reason \"length\"); each token is `tok `.";
