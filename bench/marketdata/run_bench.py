#!/usr/bin/python3
"""bitunix-marketdata benchmark driver (run by bench/marketdata/run.sh; stdlib only).

Scenarios (each run starts a fresh simulator and gateway on 127.0.0.1 port 0):
  throughput  firehose (`--firehose-rate max`, or a paced rate), 1/10/100 Subscribe streams of BTCUSDT trades read by
              bench-md-load (typed protobuf parsing); in the same run, limit A = bitunix-ws-reader
              reading the same feed alone, and the reader-thread ceiling = bench-md-reader (the
              project's WsClient with the gateway's parse+encode+publish, no gRPC).
  lossless    100 streams (--lossless-streams) on a paced feed, stepping the rate up
              (--lossless-rates): the highest aggregate at which every stream receives every event
              (no Gap, no sequence break, every stream at the feed rate) in every run.
  latency     firehose at 10k events/s, 1 and 10 streams: gateway receive -> client receive.
  memory      1,000 idle streams; the gateway's RSS sampled every 10 s for --rss-seconds.
CPU of each process is user+system time over the measured window (/proc/<pid>/stat), in % of one
core. Prints a Markdown table per scenario (median and min-max over --runs) and writes every raw
result to --json.
"""
import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")
NICE = 0  # --nice: run every benchmark process at this niceness (negative needs root)


class Proc:
    def __init__(self, argv, ready=True):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  preexec_fn=(lambda: os.nice(NICE)) if NICE else None)
        self.ready = None
        if ready:
            line = b""
            deadline = time.monotonic() + 20
            while not line.endswith(b"\n"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no ready line from {argv[0]}")
                r, _, _ = select.select([self.p.stdout], [], [], 1)
                if r:
                    c = os.read(self.p.stdout.fileno(), 1)
                    if not c:
                        raise RuntimeError(f"{argv[0]} exited")
                    line += c
            self.ready = json.loads(line)

    def cpu(self):
        """user+system seconds so far."""
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_mib(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def output(self, timeout=60):
        out, _ = self.p.communicate(timeout=timeout)
        return out.decode()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def start_pair(build, sim_flags, md_flags=()):
    sim = Proc([f"{build}/sim/bitunix-sim", "--seed", "1", *sim_flags])
    md = Proc([f"{build}/services/marketdata/bitunix-marketdata", "--grpc-addr=127.0.0.1:0",
               "--metrics-addr=127.0.0.1:0", f"--ws-url={sim.ready['public_ws']}", f"--rest-url={sim.ready['rest']}",
               "--max-streams-per-client=100000", "--log-level=warn", *md_flags])
    time.sleep(0.5)  # connected and the symbol list loaded
    return sim, md


def measure(cmd, procs, warmup, seconds):
    """Runs a measuring client; samples the CPU of `procs` over its measured window."""
    client = Proc(cmd, ready=False)
    time.sleep(warmup)
    c0 = {k: p.cpu() for k, p in procs.items()}
    c0["client"] = client.cpu()
    t0 = time.monotonic()
    time.sleep(seconds)
    dt = time.monotonic() - t0
    cpu = {k: 100 * (p.cpu() - c0[k]) / dt for k, p in procs.items()}
    cpu["client"] = 100 * (client.cpu() - c0["client"]) / dt
    out = client.output()
    result = json.loads(out.strip().splitlines()[-1])
    result["cpu"] = cpu
    return result


def med(values):
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def load_cmd(args, md, streams, *extra):
    return [f"{args.build}/bench/marketdata/bench-md-load", "--target", md.ready["grpc"], "--streams", str(streams),
            "--symbols", "BTCUSDT", "--channel", "trade", "--seconds", str(args.seconds), "--warmup",
            str(args.warmup), *extra, *args.client_flag]


def throughput_client(args, streams):
    """The client's API for the throughput runs: sync reads each stream on its own thread over its
    own connection (how a consumer of a few high-rate streams reads); callback is gRPC's callback
    API with one connection per 10 streams."""
    if args.throughput_api == "sync":
        return ["--api", "sync", "--channels", str(streams)]
    return ["--api", "callback"]


def throughput(args, raw):
    rows = []
    for n in args.streams:
        runs = []
        for r in range(args.runs):
            sim, md = start_pair(args.build, ["--firehose-rate", args.firehose_rate], args.md_flag)
            try:
                ws = sim.ready["public_ws"]
                limit_a = json.loads(Proc([f"{args.build}/bench/sim/bitunix-ws-reader", "--url", ws, "--symbols",
                                           "BTCUSDT", "--seconds", str(args.seconds), "--warmup", str(args.warmup)],
                                          ready=False).output().strip().splitlines()[-1])
                reader = json.loads(Proc([f"{args.build}/bench/marketdata/bench-md-reader", "--url", ws, "--stage",
                                          "publish", "--seconds", str(args.seconds), "--warmup", str(args.warmup)],
                                         ready=False).output().strip().splitlines()[-1])
                res = measure(load_cmd(args, md, n, *throughput_client(args, n)), {"sim": sim, "gateway": md},
                              args.warmup, args.seconds)
                res["limit_a"] = limit_a["frames_per_sec"]
                res["reader_ceiling"] = reader["frames_per_sec"]
                runs.append(res)
                print(f"  {n} streams run {r + 1}: {res['per_stream_median']:,.0f}/stream, "
                      f"{res['events_per_s']:,.0f} total, limit A {res['limit_a']:,.0f}, gaps {res['gaps']}, "
                      f"cpu {res['cpu']}", file=sys.stderr)
                if res.get("streams_without_events"):
                    # [stream, events before the window, messages]: a stall, or a stream that never started
                    print(f"  {n} streams run {r + 1}: streams with no event in the window: {res['without_events']}",
                          file=sys.stderr)
            finally:
                md.stop()
                sim.stop()
        raw.append({"scenario": "throughput", "streams": n, "runs": runs})
        ratio = [r["per_stream_median"] / r["limit_a"] for r in runs]
        slowest = [r["per_stream_min"] / r["per_stream_median"] for r in runs if r["per_stream_median"] > 0]
        rows.append(
            f"| {n} | {med([r['per_stream_median'] for r in runs])} | {med([r['events_per_s'] for r in runs])} | "
            f"{med([r['limit_a'] for r in runs])} | {statistics.median(ratio):.2f}× ({min(ratio):.2f}–{max(ratio):.2f}) | "
            f"{statistics.median(slowest):.2f} | {med([r['reader_ceiling'] for r in runs])} | "
            f"{sum(r['gaps'] for r in runs)} / {sum(r['seq_breaks'] for r in runs)} | "
            f"{statistics.median(r['cpu']['gateway'] for r in runs):.0f} / "
            f"{statistics.median(r['cpu']['client'] for r in runs):.0f} / "
            f"{statistics.median(r['cpu']['sim'] for r in runs):.0f} |")
    print(f"\n### Throughput (firehose at {args.firehose_rate} events/s, BTCUSDT trades, "
          f"{args.throughput_api} client)\n")
    print("| streams | per stream events/s | aggregate events/s | limit A frames/s | per stream ÷ limit A | "
          "slowest ÷ median | reader ceiling | gaps / seq breaks | CPU % gateway / client / sim |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def lossless(args, raw):
    """Steps a paced feed up at --lossless-streams streams; a run is lossless when every stream got
    every event: no Gap, no sequence break, no stream ended, the slowest stream at >= 97 % of the
    feed rate (the rate is paced, so a stream that keeps up receives it all)."""
    n = args.lossless_streams
    rows = []
    ceiling = None
    for rate in args.lossless_rates:
        runs = []
        for r in range(args.runs):
            sim, md = start_pair(args.build, ["--firehose-rate", str(rate)], args.md_flag)
            try:
                res = measure(load_cmd(args, md, n), {"sim": sim, "gateway": md}, args.warmup, args.seconds)
            finally:
                md.stop()
                sim.stop()
            res["lossless"] = (res["gaps"] == 0 and res["seq_breaks"] == 0 and res["ended_early"] == 0 and
                               res["per_stream_min"] >= 0.97 * rate)
            runs.append(res)
            print(f"  lossless {n} streams at {rate:,}/s run {r + 1}: {res['events_per_s']:,.0f} total, slowest "
                  f"{res['per_stream_min']:,.0f}, gaps {res['gaps']}, lossless {res['lossless']}, cpu {res['cpu']}",
                  file=sys.stderr)
        raw.append({"scenario": "lossless", "streams": n, "rate": rate, "runs": runs})
        all_lossless = all(r["lossless"] for r in runs)
        if all_lossless:
            ceiling = (rate, statistics.median(r["events_per_s"] for r in runs))
        rows.append(
            f"| {rate:,} | {med([r['events_per_s'] for r in runs])} | {med([r['per_stream_min'] for r in runs])} | "
            f"{sum(r['gaps'] for r in runs)} / {sum(r['seq_breaks'] for r in runs)} | "
            f"{sum(r['lossless'] for r in runs)} of {len(runs)} | "
            f"{statistics.median(r['events_per_message'] for r in runs):.0f} | "
            f"{statistics.median(r['cpu']['gateway'] for r in runs):.0f} / "
            f"{statistics.median(r['cpu']['client'] for r in runs):.0f} / "
            f"{statistics.median(r['cpu']['sim'] for r in runs):.0f} |")
    print(f"\n### Lossless aggregate: {n} streams on a paced feed (BTCUSDT trades)\n")
    print("| feed events/s | aggregate events/s | slowest stream events/s | gaps / seq breaks | lossless runs | "
          "events per write | CPU % gateway / client / sim |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if ceiling:
        print(f"\nhighest rate lossless in every run: {ceiling[0]:,} events/s per stream, "
              f"{ceiling[1]:,.0f} events/s aggregate")
    else:
        print("\nno rate was lossless in every run")


def latency(args, raw):
    rows = []
    for n in (1, 10):
        runs = []
        for r in range(args.runs):
            sim, md = start_pair(args.build, ["--firehose-rate", str(args.latency_rate)], args.md_flag)
            try:
                res = measure(load_cmd(args, md, n, "--latency"), {"sim": sim, "gateway": md}, args.warmup,
                              args.seconds)
                runs.append(res)
                print(f"  latency {n} streams run {r + 1}: p50 {res['latency_p50_us']} p99 {res['latency_p99_us']} "
                      f"p999 {res['latency_p999_us']} us, {res['per_stream_median']:,.0f}/stream, cpu {res['cpu']}",
                      file=sys.stderr)
            finally:
                md.stop()
                sim.stop()
        raw.append({"scenario": "latency", "streams": n, "runs": runs})
        rows.append(f"| {n} | {med([r['per_stream_median'] for r in runs])} | {med([r['latency_p50_us'] for r in runs])} | "
                    f"{med([r['latency_p99_us'] for r in runs])} | {med([r['latency_p999_us'] for r in runs])} | "
                    f"{statistics.median(r['cpu']['gateway'] for r in runs):.0f} / "
                    f"{statistics.median(r['cpu']['client'] for r in runs):.0f} |")
    print(f"\n### Latency at {args.latency_rate:,} events/s (gateway receive → client receive, µs)\n")
    print("| streams | events/s per stream | p50 | p99 | p999 | CPU % gateway / client |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


def memory(args, raw):
    sim, md = start_pair(args.build, [], args.md_flag)
    samples = []
    try:
        base = md.rss_mib()
        client = Proc([f"{args.build}/bench/marketdata/bench-md-load", "--target", md.ready["grpc"], "--streams",
                       str(args.idle_streams), "--channels", "10", "--symbols", "DOGEUSDT", "--channel", "ticker",
                       "--seconds", str(args.rss_seconds), "--warmup", "5"], ready=False)
        time.sleep(5)
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.rss_seconds:
            samples.append(round(md.rss_mib(), 1))
            print(f"  rss {samples[-1]} MiB at {time.monotonic() - t0:.0f}s", file=sys.stderr)
            time.sleep(10)
        samples.append(round(md.rss_mib(), 1))
        gw_cpu = md.cpu()
        res = json.loads(client.output(timeout=120).strip().splitlines()[-1])
    finally:
        md.stop()
        sim.stop()
    raw.append({"scenario": "memory", "streams": args.idle_streams, "seconds": args.rss_seconds, "base_mib": base,
                "rss_mib": samples, "client": res, "gateway_cpu_seconds": gw_cpu})
    print(f"\n### Memory: {args.idle_streams:,} idle streams for {args.rss_seconds} s\n")
    print("| before streams | first sample | last sample | max | streams that ended |")
    print("|---|---|---|---|---|")
    print(f"| {base:.1f} MiB | {samples[0]:.1f} MiB | {samples[-1]:.1f} MiB | {max(samples):.1f} MiB | "
          f"{res['ended_early']} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--latency-rate", type=int, default=10000)
    ap.add_argument("--firehose-rate", default="max",
                    help="throughput: the simulator's feed rate, 'max' or events/s (a paced feed shows the "
                         "aggregate that clients keeping up receive without a gap)")
    ap.add_argument("--throughput-api", choices=["sync", "callback"], default="sync",
                    help="throughput: bench-md-load's API (sync: a thread and a connection per stream)")
    ap.add_argument("--lossless-streams", type=int, default=100)
    ap.add_argument("--lossless-rates", type=int, nargs="+", default=[30000, 35000, 40000, 45000, 50000])
    ap.add_argument("--client-flag", action="append", default=[],
                    help="extra bench-md-load flag, e.g. --client-flag=--no-arena (repeatable)")
    ap.add_argument("--idle-streams", type=int, default=1000)
    ap.add_argument("--rss-seconds", type=int, default=600)
    ap.add_argument("--md-flag", action="append", default=[],
                    help="extra bitunix-marketdata flag, e.g. --md-flag=--coalesce-us=0 (repeatable)")
    ap.add_argument("--only", choices=["throughput", "lossless", "latency", "memory"], nargs="*")
    ap.add_argument("--json", default="/tmp/bench-md-results.json")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless every run delivered events with no sequence break and no stream ended "
                         "(the test suite's smoke run; no speed figure is checked)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness of every benchmark process, e.g. -10 to keep concurrent builds from distorting")
    args = ap.parse_args()
    global NICE
    NICE = args.nice
    args.build = os.path.abspath(args.build)
    raw = []
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, nice {NICE}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for name, fn in (("throughput", throughput), ("lossless", lossless), ("latency", latency), ("memory", memory)):
        if args.only and name not in args.only:
            continue
        fn(args, raw)
    with open(args.json, "w") as f:
        json.dump(raw, f, indent=1)
    print(f"\nraw results: {args.json}; load average after: {os.getloadavg()[0]:.1f}")
    if args.check:
        problems = check(raw)
        for p in problems:
            print(f"CHECK FAILED: {p}", file=sys.stderr)
        sys.exit(1 if problems else 0)


def check(raw):
    """--check: what must hold in any run, however loaded the machine (no speed figure): events
    arrived, no stream saw a sequence break or ended, latency runs measured something."""
    problems = []
    for scenario in raw:
        for i, r in enumerate(scenario.get("runs", [])):
            where = f"{scenario['scenario']} {scenario.get('streams', '')} streams run {i + 1}"
            if r.get("events_per_s", 0) <= 0:
                problems.append(f"{where}: no event delivered")
            if r.get("seq_breaks", 0) != 0:
                problems.append(f"{where}: {r['seq_breaks']} sequence breaks")
            if r.get("ended_early", 0) != 0:
                problems.append(f"{where}: {r['ended_early']} streams ended early")
            if scenario["scenario"] == "latency" and r.get("latency_n", 0) <= 0:
                problems.append(f"{where}: no latency sample")
            if scenario["scenario"] == "throughput" and r.get("limit_a", 0) <= 0:
                problems.append(f"{where}: limit A read nothing")
    return problems


if __name__ == "__main__":
    main()
