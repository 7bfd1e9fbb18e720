#!/usr/bin/env bash
# Builds the release broker and its image, starts the three-broker cluster of
# docker/compose.yml, waits until docker reports every broker healthy, and
# prints the bootstrap servers. Stop it with scripts/stop_cluster.sh.
#
#   bash scripts/run_cluster.sh [--no-build]
#
# WEIR_COMPOSE_PROJECT (weir) names the compose project; WEIR_PORT_1/2/3 and
# WEIR_CONFIG_FILE are read by the compose file; WEIR_CLUSTER_TIMEOUT (120)
# bounds the wait, in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

project="${WEIR_COMPOSE_PROJECT:-weir}"
timeout_s="${WEIR_CLUSTER_TIMEOUT:-120}"
compose=(bash docker/compose.sh -f docker/compose.yml -p "$project")

if [[ "${1:-}" != "--no-build" ]]; then
  cargo build --release -p weir-broker
  bash docker/build-image.sh
fi

"${compose[@]}" up -d
mapfile -t containers < <("${compose[@]}" ps -q)
(( ${#containers[@]} > 0 )) || { echo "no containers started" >&2; exit 1; }

deadline=$(( SECONDS + timeout_s ))
while :; do
  unhealthy=()
  for id in "${containers[@]}"; do
    status="$(docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")"
    [[ "$status" == *" healthy" ]] || unhealthy+=("${status#/}")
  done
  (( ${#unhealthy[@]} == 0 )) && break
  if (( SECONDS >= deadline )); then
    echo "not healthy within ${timeout_s}s: ${unhealthy[*]}" >&2
    "${compose[@]}" logs --tail 20 >&2
    exit 1
  fi
  sleep 1
done

ports=("${WEIR_PORT_1:-9092}" "${WEIR_PORT_2:-19092}" "${WEIR_PORT_3:-29092}")
echo "brokers: ${#containers[@]} healthy (compose project $project)"
echo "bootstrap servers: 127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
