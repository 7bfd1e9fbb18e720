"""The web console in headless Chromium (Debian's `chromium`, `--dump-dom` and
`--screenshot`): a topic kcat created is listed, a stopped group's lag is
shown, keys and values that look like markup are shown as text and never
run, and topic creation needs `http.console.write`. Screenshots of each page
go to target/console/ (CI keeps them as artifacts)."""

import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from conftest import ROOT, free_port, require_tool

SCREENSHOTS = ROOT / "target" / "console"
DEADLINE_S = 60
SCRIPT = "<script>alert(1)</script>"
# Would mark the page if its handler ran.
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


def chromium(*args: str) -> str:
    browser = require_tool("chromium")
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return out.stdout


def dom(url: str) -> str:
    """The page's DOM after its scripts ran (what a reader's browser shows)."""
    return chromium("--virtual-time-budget=2000", "--dump-dom", url)


def screenshot(url: str, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    chromium("--window-size=1200,800", "--virtual-time-budget=3000", f"--screenshot={path}", url)
    assert path.stat().st_size > 0
    return path


def console_broker(broker_factory, *overrides: str):
    http = f"127.0.0.1:{free_port()}"
    args = ["--override", f"http.listener={http}"]
    for o in overrides:
        args += ["--override", o]
    return broker_factory(*args), f"http://{http}"


def test_console_pages_show_topics_lag_and_records_as_text(broker_factory):
    kcat = require_tool("kcat")
    broker, base = console_broker(broker_factory)
    lines = ["k0:plain", f"k1:{SCRIPT}", f"k2:{IMG}", "k3:tail"]
    subprocess.run(
        [kcat, "-b", broker.bootstrap, "-t", "kcat-made", "-P", "-K:", "-X", "acks=all"],
        input="\n".join(lines) + "\n", text=True, timeout=60, check=True,
    )
    # A group that read half and stopped: its lag is 2.
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "stopped-half-way"})
    consumer.commit(offsets=[TopicPartition("kcat-made", 0, 2)], asynchronous=False)
    consumer.close()

    topics = dom(f"{base}/topics")
    assert re.search(r'<a href="/topics/kcat%2Dmade">kcat-made</a>', topics), topics
    topic = dom(f"{base}/topics/kcat-made")
    assert '<td class="num">4</td>' in topic  # high watermark and log end
    groups = dom(f"{base}/groups")
    assert "stopped-half-way" in groups
    group = dom(f"{base}/groups/stopped-half-way")
    assert re.search(r'<td class="num lag">2</td>', group), group

    page = dom(f"{base}/browse?topic=kcat-made&partition=0&offset=0")
    # Shown as text: escaped in the DOM, never an element.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT not in page
    assert "&lt;img src=x onerror=" in page
    assert 'data-pwned="1"' not in page
    assert "<img" not in page
    hexed = dom(f"{base}/browse?topic=kcat-made&partition=0&offset=3&format=hex")
    assert "74 61 69 6c" in hexed  # "tail"
    assert "plain" not in hexed

    overview = dom(base + "/")
    assert "Brokers" in overview and 'id="chart"' in overview
    # The chart's script ran: it drew its lines and wrote the rates.
    assert "<polyline" in overview and "B/s in" in overview

    for name, path in [
        ("overview", "/"),
        ("topics", "/topics"),
        ("topic", "/topics/kcat-made"),
        ("group", "/groups/stopped-half-way"),
        ("records", "/browse?topic=kcat-made&partition=0&offset=0"),
    ]:
        screenshot(base + path, name)


def post(url: str, fields: dict) -> int:
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def test_topic_creation_needs_console_write(broker_factory):
    _, base = console_broker(broker_factory)
    assert post(f"{base}/topics", {"name": "refused", "partitions": "1"}) == 403
    assert "refused" not in dom(f"{base}/topics")

    _, base = console_broker(broker_factory, "http.console.write=true")
    assert 'action="/topics"' in dom(f"{base}/topics")
    # urllib follows the redirect to the new topic's page.
    assert post(f"{base}/topics", {"name": "made-here", "partitions": "3"}) == 200
    deadline = time.monotonic() + DEADLINE_S
    while "made-here" not in dom(f"{base}/topics"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert dom(f"{base}/topics/made-here").count("records</a>") == 3
    assert post(f"{base}/topics", {"name": "bad name!", "partitions": "1"}) == 400
