#!/usr/bin/env python3
"""Check mlxrun's energy figures on a machine with an NVIDIA GPU.

  load SECONDS [--out FILE]   a PyTorch matmul loop on GPU 0 for SECONDS; writes
                              NVML's total-energy counter delta over this
                              process's life (read through ctypes, not through
                              mlxrun) as JSON to FILE (default: stdout)
  monitor MONITOR_JSONL [NVML_JSON]
                              compare the summary's energy of `mlxrun monitor`
                              with the counter delta of its own samples, with
                              mean power x time (its power samples integrated),
                              and with the load's own NVML delta
  run RUN_DIR                 per point of a run: energy vs mean power x window,
                              and its mean power vs the mean of the power
                              samples inside the point

Exit 0 when every comparison agrees within --tolerance percent (default 5).
"""

import argparse
import ctypes
import json
import sys
import time


def nvml_energy_mj(index=0):
    nv = ctypes.CDLL("libnvidia-ml.so.1")
    if nv.nvmlInit_v2() != 0:
        raise SystemExit("nvmlInit failed")
    h = ctypes.c_void_p()
    if nv.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(h)) != 0:
        raise SystemExit("no GPU %d" % index)

    def read():
        e = ctypes.c_ulonglong()
        rc = nv.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(e))
        if rc != 0:
            raise SystemExit("nvmlDeviceGetTotalEnergyConsumption: %d" % rc)
        return e.value

    return read


def load(args):
    read = nvml_energy_mj()
    e0, t0 = read(), time.time()
    import torch

    a = torch.randn(8192, 8192, device="cuda")
    b = torch.randn(8192, 8192, device="cuda")
    while time.time() - t0 < args.seconds:
        a @ b
        torch.cuda.synchronize()
    e1, t1 = read(), time.time()
    out = {"nvml_delta_j": (e1 - e0) / 1e3, "seconds": t1 - t0, "mean_w": (e1 - e0) / 1e3 / (t1 - t0)}
    text = json.dumps(out)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def pct(a, b):
    return 100.0 * abs(a - b) / b if b else float("inf")


def report(name, value, reference, tolerance, failures):
    d = pct(value, reference)
    ok = d <= tolerance
    print("  %-44s %10.1f J vs %10.1f J  (%5.2f %%) %s" % (name, value, reference, d, "ok" if ok else "DIFFERS"))
    if not ok:
        failures.append(name)


def device_series(samples, name):
    out = []
    for s in samples:
        for d in (s.get("power") or {}).get("devices", []):
            if d["name"] == name:
                out.append((s["elapsed_s"], d.get("power_w"), d.get("energy_j"), s["ts"]))
    return out


def trapezoid(series, t_from=None, t_to=None):
    pts = [(t, p) for t, p, _, _ in series if p is not None]
    if t_from is not None:
        pts = [(t, p) for t, p in pts if t_from <= t <= t_to]
    return sum((pts[i][1] + pts[i + 1][1]) / 2 * (pts[i + 1][0] - pts[i][0]) for i in range(len(pts) - 1))


def monitor(args):
    recs = lines(args.file)
    print("sources.power:", recs[0]["sources"].get("power"))
    summary = recs[-1]
    e = summary["energy"]
    print("summary energy:", json.dumps(e))
    if e["total_j"] is None:
        print("no energy figure:", e["why"])
        return 1
    samples = [r for r in recs if r["kind"] == "sample"]
    failures = []
    for d in e["devices"]:
        series = device_series(samples, d["name"])
        print("%s (%s, method %s): %s J, mean %s W over %s s" % (d["name"], d["source"], d["method"], d["joules"], d["mean_power_w"], e["window_s"]))
        counters = [x[2] for x in series if x[2] is not None]
        if counters:
            report(d["name"] + " = last - first counter reading", d["joules"], counters[-1] - counters[0], args.tolerance, failures)
        report(d["name"] + " vs power samples integrated", d["joules"], trapezoid(series), args.tolerance, failures)
    if args.nvml:
        ref = json.load(open(args.nvml))
        report("total vs the load's own NVML delta", e["total_j"], ref["nvml_delta_j"], args.tolerance, failures)
    return 1 if failures else 0


def run(args):
    recs = lines(args.dir + "/report.jsonl")
    mon = lines(args.dir + "/monitor.jsonl")
    samples = [r for r in mon if r["kind"] == "sample"]
    print("sources.power:", mon[0]["sources"].get("power"))
    idle = [r for r in mon if r.get("name") == "idle_power"]
    print("idle_power:", json.dumps(idle[0]["fields"]) if idle else None)
    failures = []
    for r in recs:
        e = r.get("energy")
        label = "p%s %s c=%s" % (r["point"]["point"], r["row_kind"], r["point"]["concurrency"])
        if not e or e["total_j"] is None:
            print(label, "no energy:", e and e["why"])
            failures.append(label)
            continue
        toks = r["metrics"]["completion_tokens"]
        print("%s: %.1f J over %.3f s (%s), %.1f W, %.4f J/token, %.3f tok/J, idle %s W, above idle %s J"
              % (label, e["total_j"], e["window_s"], e["method"], e["mean_power_w"], e["j_per_output_token"] or 0,
                 e["output_tokens_per_j"] or 0, e["idle_power_w"], e["above_idle_j"]))
        report(label + " total = mean power x window", e["total_j"], e["mean_power_w"] * e["window_s"], args.tolerance, failures)
        if toks:
            report(label + " J/token x tokens = total", e["j_per_output_token"] * toks, e["total_j"], args.tolerance, failures)
        if r["row_kind"] == "point" and (r.get("repeats") or 1) == 1:
            for d in e["devices"]:
                series = [x for x in device_series(samples, d["name"]) if r["test_start_ts"] <= x[3] <= r["test_end_ts"]]
                ws = [x[1] for x in series if x[1] is not None]
                if len(ws) >= 3:
                    mean = sum(ws) / len(ws)
                    report(label + " " + d["name"] + " vs mean sampled W x window", d["joules"], mean * e["window_s"], args.tolerance, failures)
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tolerance", type=float, default=5.0)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("load")
    a.add_argument("seconds", type=float)
    a.add_argument("--out")
    m = sub.add_parser("monitor")
    m.add_argument("file")
    m.add_argument("nvml", nargs="?")
    r = sub.add_parser("run")
    r.add_argument("dir")
    args = p.parse_args()
    if args.cmd == "load":
        load(args)
        return 0
    return monitor(args) if args.cmd == "monitor" else run(args)


if __name__ == "__main__":
    sys.exit(main())
