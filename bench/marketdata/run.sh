#!/usr/bin/env bash
# Reproduces the bitunix-marketdata table in docs/BENCHMARKS.md: throughput at 1/10/100 streams
# against limit A (same run), latency at 10k events/s, RSS with 1,000 idle streams over 10 min.
#   BUILD_DIR=build-md ./bench/marketdata/run.sh                 # everything (~15 min)
#   BUILD_DIR=build-md ./bench/marketdata/run.sh --only throughput --runs 5
#   BUILD_DIR=build-md ./bench/marketdata/run.sh --only memory --rss-seconds 60
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake --build "$build" -j2 --target bitunix-sim bitunix-marketdata bitunix-ws-reader bench-md-load bench-md-reader >&2
exec /usr/bin/python3 "$root/bench/marketdata/run_bench.py" --build "$build" "$@"
