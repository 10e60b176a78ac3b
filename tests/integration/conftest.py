"""Host services the integration tests start: the host's Mosquitto on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_broker(tmp_path):
    """start_broker(settings) -> (process, port): the host's mosquitto on a free port."""
    procs: list[subprocess.Popen] = []

    def start(settings: str) -> tuple[subprocess.Popen, int]:
        port = _free_port()
        conf = tmp_path / f"mosquitto-{port}.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n{settings}")
        proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc, port
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "mosquitto did not start"
                time.sleep(0.05)

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)  # in case a test left it stopped
            proc.terminate()
            proc.wait(5)


