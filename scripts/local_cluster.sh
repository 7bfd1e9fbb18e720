#!/usr/bin/env bash
# Starts a cluster of local broker processes (3 by default) on 127.0.0.1, each
# with its own ports and data dir, every one a voter of the metadata quorum;
# prints the bootstrap servers and waits. Ctrl-C stops them all (SIGTERM).
#
#   bash scripts/local_cluster.sh [BROKERS] [DATA_ROOT]
#
# Broker N listens for clients on 9092 + (N-1)*10000 (9092, 19092, 29092),
# serves its followers' fetches on its INTERNAL port 9093 + (N-1)*10000 and
# links to the others on its CONTROLLER port 9094 + (N-1)*10000, and answers
# /healthz and /readyz on its HTTP port 9644 + (N-1)*10000. Topics get
# three replicas (fewer with fewer brokers) and acks=all needs two in sync
# (`min.insync.replicas`), Kafka's usual production settings. Data lives in
# DATA_ROOT/broker-N (default ./weir-cluster-data); start again to restart on
# the same data, delete the folder to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-3}"
root="${2:-weir-cluster-data}"
cargo build --release -p weir-broker
bin=./target/release/weir-broker

voters=""
for n in $(seq 1 "$count"); do
  voters+="${voters:+,}$n@127.0.0.1:$((9094 + (n - 1) * 10000))"
done

rf=$((count < 3 ? count : 3))
min_isr=$((rf < 2 ? 1 : 2))

pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
bootstrap=""
for n in $(seq 1 "$count"); do
  client=$((9092 + (n - 1) * 10000))
  internal=$((9093 + (n - 1) * 10000))
  controller=$((9094 + (n - 1) * 10000))
  mkdir -p "$root/broker-$n"
  "$bin" --node-id "$n" \
    --listen "PLAINTEXT://127.0.0.1:$client,INTERNAL://127.0.0.1:$internal,CONTROLLER://127.0.0.1:$controller" \
    --data-dir "$root/broker-$n" \
    --override "controller.quorum.voters=$voters" \
    --override inter.broker.listener.name=INTERNAL \
    --override "http.listener=127.0.0.1:$((9644 + (n - 1) * 10000))" \
    --override "default.replication.factor=$rf" \
    --override "min.insync.replicas=$min_isr" \
    2>>"$root/broker-$n.log" &
  pids+=("$!")
  bootstrap+="${bootstrap:+,}127.0.0.1:$client"
done
echo "brokers: $count (logs in $root/broker-N.log)"
echo "bootstrap servers: $bootstrap"
wait
