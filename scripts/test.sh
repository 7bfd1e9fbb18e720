#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit, actor-level, protocol, seeded
# randomized tests) and the real-client suite against the release broker binary.
# Needs only Rust and Python; kcat tests are skipped unless kcat is installed
# (under CI=true a missing client fails instead).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q -r tests/clients/requirements.txt 2>&1 | grep -v "as the 'root' user" || true

# One release build shared by the Rust tests and the client suite.
cargo build --release --workspace --bins
cargo test --release --workspace

python3 -m pytest -q -p no:cacheprovider tests/clients "$@"
# The README's `just run-cluster` in docker, with kcat and weir against it
# (skipped, loudly, without a Docker engine).
bash scripts/test_docker_cluster.sh
# The librdkafka shim the scenario driver runs (its own broker per test).
python3 -m pytest -q -p no:cacheprovider scenarios/shim
