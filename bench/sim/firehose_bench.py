#!/usr/bin/env python3
"""Measures bitunix-sim's maximum push rate (the firehose) with bitunix-ws-reader.

Starts the simulator with --firehose-rate max, then for each scenario runs N readers in parallel
for a fixed time, several times, and reports frames/s (sum over readers), the simulator's CPU
(from /proc/<pid>/stat) and the readers' CPU. Prints one JSON line per run and a summary with the
median and range per scenario. Standard library only.

  python3 bench/sim/firehose_bench.py --build build-sim [--runs 3] [--seconds 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SCENARIOS = [
    # name, readers, symbols per reader, parse
    ("1 reader, 1 symbol, read only", 1, ["BTCUSDT"], "none"),
    ("1 reader, 1 symbol, simdjson", 1, ["BTCUSDT"], "simdjson"),
    ("1 reader, 4 symbols, read only", 1, ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"], "none"),
    ("4 readers, 1 symbol each, read only", 4, None, "none"),
]
FOUR = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf(os.sysconf_names["SC_CLK_TCK"])
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-sim")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    args = ap.parse_args()
    sim_bin = os.path.join(args.build, "sim", "bitunix-sim")
    reader_bin = os.path.join(args.build, "bench", "sim", "bitunix-ws-reader")
    sim = subprocess.Popen([sim_bin, "--firehose-rate", "max", "--log-level", "warn"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(sim.stdout.readline())
        url = ready["public_ws"]
        summary = {}
        for run in range(1, args.runs + 1):
            for name, readers, symbols, parse in SCENARIOS:
                cmds = []
                for i in range(readers):
                    syms = symbols if symbols else [FOUR[i % len(FOUR)]]
                    cmds.append([reader_bin, "--url", url, "--symbols", ",".join(syms), "--seconds",
                                 str(args.seconds), "--warmup", str(args.warmup), "--parse", parse])
                procs = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True) for c in cmds]
                time.sleep(args.warmup)
                c0, t0 = cpu_seconds(sim.pid), time.monotonic()
                outs = [json.loads(p.communicate()[0]) for p in procs]
                c1, t1 = cpu_seconds(sim.pid), time.monotonic()
                fps = sum(o["frames_per_sec"] for o in outs)
                line = {"run": run, "scenario": name, "frames_per_sec": round(fps),
                        "sim_cpu_pct": round(100 * (c1 - c0) / (t1 - t0)),
                        "reader_cpu_pct": [o["reader_cpu_pct"] for o in outs],
                        "mb_per_sec": round(sum(o["mb_per_sec"] for o in outs), 1),
                        "parse_errors": sum(o["parse_errors"] for o in outs)}
                print(json.dumps(line), flush=True)
                summary.setdefault(name, []).append(line)
        print("\nscenario | frames/s median (min-max) | sim CPU % median (min-max)")
        for name, lines in summary.items():
            f = [l["frames_per_sec"] for l in lines]
            c = [l["sim_cpu_pct"] for l in lines]
            print(f"{name} | {statistics.median(f)/1e6:.2f}M ({min(f)/1e6:.2f}-{max(f)/1e6:.2f}M) | "
                  f"{statistics.median(c):.0f} ({min(c)}-{max(c)})")
    finally:
        sim.terminate()
        sim.wait(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
