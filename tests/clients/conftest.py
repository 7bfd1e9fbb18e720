"""Fixtures that run the real `weir-broker` release binary on 127.0.0.1.

Each test gets its own broker process on a free port with a temporary data dir.
The binary comes from WEIR_BROKER_BIN or target/release/weir-broker.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30


def broker_binary() -> Path:
    path = Path(os.environ.get("WEIR_BROKER_BIN", ROOT / "target" / "release" / "weir-broker"))
    if not path.exists():
        pytest.fail(f"{path} is missing: run `cargo build --release -p weir-broker` first")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_tool(name: str) -> str:
    """A client tool path; missing is a failure under CI, a skip elsewhere."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


class Broker:
    """One broker process; can be killed, stopped and restarted on the same port and data."""

    def __init__(self, data_dir: Path, extra_args: list[str]):
        self.port = free_port()
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.log_path = data_dir.parent / f"broker-{self.port}.log"
        self.proc = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            str(broker_binary()),
            "--listen", self.bootstrap,
            "--data-dir", str(self.data_dir),
            *self.extra_args,
        ]
        log = open(self.log_path, "ab")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"broker did not listen within {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown work at all."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM: graceful shutdown; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture
def broker_factory(tmp_path):
    brokers = []

    def make(*extra_args: str) -> Broker:
        b = Broker(tmp_path / f"data{len(brokers)}", list(extra_args))
        b.start()
        brokers.append(b)
        return b

    yield make
    for b in brokers:
        if b.alive():
            b.kill()


@pytest.fixture
def broker(broker_factory):
    return broker_factory()


def pytest_runtest_makereport(item, call):
    # On failure, show what the broker logged.
    if call.excinfo is not None and "broker_factory" in item.fixturenames:
        factory_dir = item.funcargs.get("tmp_path")
        if factory_dir:
            for log in sorted(Path(factory_dir).glob("broker-*.log")):
                text = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                item.add_report_section(call.when, f"log {log.name}", text)
