#!/usr/bin/env bash
# weir-client vs librdkafka (the C client) on one release weir-broker, in one
# run: `weir perf produce|consume` and bench/rdkafka_bench.c with the same
# settings (1 partition, acks=1, linger 5 ms, 1 MB batches, no idempotence),
# alternating for BENCH_ROUNDS rounds. Prints each result line and the ratios.
#   BENCH_RECORDS (default 1000000), BENCH_SIZE (default 100), BENCH_ROUNDS (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${BENCH_RECORDS:-1000000}
size=${BENCH_SIZE:-100}
rounds=${BENCH_ROUNDS:-3}

if [ ! -f /usr/include/librdkafka/rdkafka.h ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q librdkafka-dev
fi
cargo build --release -p weir-broker -p weir-client --bins
mkdir -p target/bench
gcc -O2 -o target/bench/rdkafka_bench bench/rdkafka_bench.c -lrdkafka

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/weir-broker --listen "127.0.0.1:$port" --data-dir "$data/broker" >"$data/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
bootstrap="127.0.0.1:$port"

for round in $(seq "$rounds"); do
  ./target/release/weir -b "$bootstrap" topic create "rdk-$round" -p 1 >/dev/null
  ./target/bench/rdkafka_bench produce "$bootstrap" "rdk-$round" "$records" "$size" 1 | tee -a "$data/rdk-produce"
  ./target/release/weir -b "$bootstrap" perf produce -t "weir-$round" --records "$records" --size "$size" --acks 1 --json | tee -a "$data/weir-produce"
  ./target/bench/rdkafka_bench consume "$bootstrap" "rdk-$round" "$records" 1 | tee -a "$data/rdk-consume"
  ./target/release/weir -b "$bootstrap" perf consume -t "weir-$round" --records "$records" --json | tee -a "$data/weir-consume"
done

python3 - "$data" <<'PY'
import json, statistics, sys
d = sys.argv[1]
def load(name):
    return [json.loads(l) for l in open(f"{d}/{name}") if l.strip()]
for mode in ("produce", "consume"):
    weir, rdk = load(f"weir-{mode}"), load(f"rdk-{mode}")
    w = statistics.median(r["records_per_sec"] for r in weir)
    r = statistics.median(x["records_per_sec"] for x in rdk)
    line = f"{mode}: weir {w:,.0f} rec/s, librdkafka {r:,.0f} rec/s, ratio {w / r:.2f} (medians of {len(weir)} rounds)"
    if mode == "produce":
        line += f"; p50/p99 ms weir {statistics.median(x['p50_ms'] for x in weir):.1f}/{statistics.median(x['p99_ms'] for x in weir):.1f}"
        line += f", librdkafka {statistics.median(x['p50_ms'] for x in rdk):.1f}/{statistics.median(x['p99_ms'] for x in rdk):.1f}"
    print(line)
PY
