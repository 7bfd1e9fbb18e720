#!/usr/bin/env bash
# Benchmark: librdkafka (C) producer and consumer against a release weir-broker on
# this machine (client and broker share its cores). Prints records/s, MB/s, p50/p99
# delivery latency and the broker's CPU seconds per million records.
#   BENCH_SMALL_RECORDS (default 20000000 x 100 B, about 10 s), BENCH_LARGE_RECORDS (default 200000 x 10 KB)
set -euo pipefail
cd "$(dirname "$0")/.."
small=${BENCH_SMALL_RECORDS:-20000000}
large=${BENCH_LARGE_RECORDS:-200000}

if [ ! -f /usr/include/librdkafka/rdkafka.h ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q librdkafka-dev
fi
cargo build --release -p weir-broker
mkdir -p target/bench
gcc -O2 -o target/bench/rdkafka_bench bench/rdkafka_bench.c -lrdkafka

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/weir-broker --listen "127.0.0.1:$port" --data-dir "$data" >"$data/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

cpu_s() { awk '{print ($14+$15)/100}' /proc/$broker/stat; }
run() { # label records size acks
  local before after
  before=$(cpu_s)
  ./target/bench/rdkafka_bench produce "127.0.0.1:$port" "bench-$1" "$2" "$3" "$4" | tee "$data/$1-produce.json"
  after=$(cpu_s)
  echo "broker CPU s per million records (produce $1): $(echo "($after - $before) * 1000000 / $2" | bc -l | cut -c1-6)"
  before=$(cpu_s)
  ./target/bench/rdkafka_bench consume "127.0.0.1:$port" "bench-$1" "$2" 1 | tee "$data/$1-consume.json"
  after=$(cpu_s)
  echo "broker CPU s per million records (consume $1): $(echo "($after - $before) * 1000000 / $2" | bc -l | cut -c1-6)"
}
run small "$small" 100 1
run large "$large" 10240 1
