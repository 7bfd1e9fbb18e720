#!/usr/bin/env bash
# The README's docker commands as a test: the image, scripts/run_cluster.sh
# (start, wait for healthy), then kcat and `weir` against the bootstrap servers it
# prints, then scripts/stop_cluster.sh --volumes (also on failure). Uses its own
# compose project and host ports, so a user's `just run-cluster` is untouched.
# Skipped, loudly, when `docker info` fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  echo "!!! SKIPPED: no Docker engine answers 'docker info'; the docker cluster test did not run !!!" >&2
  exit 0
fi

export WEIR_COMPOSE_PROJECT="weir-test-$$"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export WEIR_PORT_1="$(free_port)" WEIR_PORT_2="$(free_port)" WEIR_PORT_3="$(free_port)"
trap 'bash scripts/stop_cluster.sh --volumes >/dev/null 2>&1 || true' EXIT

# The release binary is already built (scripts/test.sh); a `cargo build -p
# weir-broker` alone would rebuild it with other features unified.
bash docker/build-image.sh
out="$(bash scripts/run_cluster.sh --no-build)"
echo "$out"
bootstrap="$(sed -n 's/^bootstrap servers: //p' <<<"$out")"
[[ -n "$bootstrap" ]] || { echo "run_cluster.sh printed no bootstrap servers" >&2; exit 1; }

status="$(timeout 30 ./target/release/weir -b "$bootstrap" cluster status)"
echo "$status"
[[ "$(grep -c '^broker ' <<<"$status")" == 3 ]] || { echo "weir does not see 3 brokers" >&2; exit 1; }

if command -v kcat >/dev/null 2>&1; then
  timeout 30 kcat -b "$bootstrap" -L -J | python3 -c \
    'import json, sys; n = len(json.load(sys.stdin)["brokers"]); assert n == 3, n; print("kcat sees", n, "brokers")'
  printf 'one\ntwo\nthree\n' | timeout 30 kcat -b "$bootstrap" -t docker-smoke -P
  got="$(timeout 30 kcat -b "$bootstrap" -t docker-smoke -C -e -q | sort | tr '\n' ' ')"
  [[ "$got" == "one three two " ]] || { echo "kcat read back: $got" >&2; exit 1; }
  echo "kcat produced and consumed 3 records"
elif [[ -n "${CI:-}" ]]; then
  echo "kcat is not installed" >&2
  exit 1
fi
