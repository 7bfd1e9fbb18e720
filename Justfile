# Weir task runner (a convenience: every recipe is a plain command you can run yourself).

# Run one broker on the embedded defaults (127.0.0.1:9092, ./weir-data).
run *ARGS:
    cargo run --release -p weir-broker -- {{ARGS}}

# Every test: Rust workspace + real Kafka clients against the release binary.
test *ARGS:
    bash scripts/test.sh {{ARGS}}

# Format and lint as CI does.
lint:
    cargo fmt --all -- --check
    cargo clippy --release --workspace --all-targets -- -D warnings

# librdkafka producer/consumer benchmark against a release broker.
bench:
    bash scripts/bench.sh

# weir-client (`weir perf`) vs librdkafka on one broker, ratios from one run.
client-bench:
    bash scripts/client_bench.sh

# Every scenario file on broker processes with both client backends (extra flags
# such as --seed N or --scale 20 pass through).
scenarios *ARGS:
    cargo build --release -p weir-broker -p weir-scenarios
    ./target/release/weir-scenarios run scenarios/files/*.toml --backend weir --backend librdkafka {{ARGS}}

# Coverage-guided fuzzing of request decoding (needs `cargo install cargo-fuzz`).
fuzz TARGET="decode_request" RUNS="1000000":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {{TARGET}} -- -runs={{RUNS}}

# A cluster of local broker processes (3 by default), each a quorum voter with
# its own ports and data dir; prints the bootstrap servers.
local-cluster BROKERS="3":
    bash scripts/local_cluster.sh {{BROKERS}}

# Build the release broker and its image, start three brokers in docker
# (docker/compose.yml), wait until all are healthy, print the bootstrap servers.
run-cluster *ARGS:
    bash scripts/run_cluster.sh {{ARGS}}

# Stop the docker cluster; `just stop-cluster --volumes` also deletes its data.
stop-cluster *ARGS:
    bash scripts/stop_cluster.sh {{ARGS}}

# The broker image alone (weir-broker:dev), from the release binary.
image:
    bash docker/build-image.sh

# The docker stories (network partition, leader kill, leader pause, rolling
# restart) on the
# compose cluster with both client backends; builds the binaries and the image.
scenarios-docker *ARGS:
    cargo build --release -p weir-broker -p weir-scenarios
    bash docker/build-image.sh
    ./target/release/weir-scenarios run scenarios/files/cluster-leader-isolated.toml scenarios/files/cluster-leader-kill.toml scenarios/files/cluster-leader-paused.toml scenarios/files/cluster-rolling-restart.toml --target docker --backend weir --backend librdkafka {{ARGS}}
