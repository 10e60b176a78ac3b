"""Host services the integration tests start: the host's Mosquitto on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

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




@contextmanager
def probe_on(port: int, **options):
    """The MQTT probe, in this process, subscribed to everything on the broker at `port`, connected."""
    from runbook_tui.mqtt_contract import BrokerEndpoint
    from runbook_tui.probes.mqtt_probe import MqttProbe

    probe = MqttProbe({"primary": BrokerEndpoint("127.0.0.1", port)}, topics=("#",), **options)
    probe.start()
    try:
        deadline = time.monotonic() + 10
        while not probe.snapshot().brokers[0].connected:
            assert time.monotonic() < deadline, probe.snapshot().brokers[0]
            time.sleep(0.05)
        yield probe
    finally:
        probe.stop()


@contextmanager
def publisher_on(port: int, in_order: bool = False):
    """A paho client connected to the broker at `port` (a QoS 0 publish before the CONNACK is not sent).
    in_order: no limit on QoS 1 messages in flight, past which paho holds them back and sends QoS 0 ones ahead."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    if in_order:
        client.max_inflight_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        deadline = time.monotonic() + 10
        while not client.is_connected():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        yield client
    finally:
        client.loop_stop()
        client.disconnect()
