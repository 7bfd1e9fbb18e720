#!/usr/bin/env bash
# Stops the cluster scripts/run_cluster.sh started; --volumes also deletes the
# brokers' data volumes.
#
#   bash scripts/stop_cluster.sh [--volumes]
set -euo pipefail
cd "$(dirname "$0")/.."

project="${WEIR_COMPOSE_PROJECT:-weir}"
args=(down)
case "${1:-}" in
  "") ;;
  --volumes | -v) args+=(--volumes) ;;
  *) echo "usage: $0 [--volumes]" >&2; exit 2 ;;
esac
bash docker/compose.sh -f docker/compose.yml -p "$project" "${args[@]}"
