"""kcat (librdkafka's CLI) produces and consumes through Weir."""

import subprocess

from conftest import require_tool


def test_kcat_produce_then_consume(broker):
    kcat = require_tool("kcat")
    lines = [f"key{i}:value-{i}" for i in range(500)]
    subprocess.run(
        [kcat, "-b", broker.bootstrap, "-t", "kcat-topic", "-P", "-K:", "-X", "acks=all"],
        input="\n".join(lines) + "\n", text=True, check=True, timeout=60,
    )
    out = subprocess.run(
        [kcat, "-b", broker.bootstrap, "-t", "kcat-topic", "-C", "-e", "-o", "beginning", "-f", "%k:%s\n"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.splitlines()
    assert out == lines


def test_kcat_metadata_lists_topic(broker):
    kcat = require_tool("kcat")
    subprocess.run(
        [kcat, "-b", broker.bootstrap, "-t", "listed", "-P"],
        input="x\n", text=True, check=True, timeout=60,
    )
    meta = subprocess.run(
        [kcat, "-b", broker.bootstrap, "-L", "-t", "listed"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    assert 'topic "listed" with 1 partitions' in meta
