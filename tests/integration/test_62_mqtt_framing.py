"""The probe frames QoS 0 PUBLISH packets itself (runbook_tui/probes/paho_client.py) for
speed: what it hands on must be exactly what paho would have, for every size of packet,
packets cut by its read buffer's end, QoS 1 packets in between, retained messages and
topics beyond ASCII, against the host's real Mosquitto."""

from __future__ import annotations

import random
import time

from runbook_tui.probes.mqtt_probe import BUFFERED_PAYLOAD
from runbook_tui.probes.paho_client import READ_SIZE
from tests.integration.conftest import probe_on, publisher_on

# Sizes around each step of MQTT's remaining-length encoding (1 to 4 bytes) and the read buffer.
SIZES = (0, 1, 60, 125, 126, 127, 128, 300, 5_000, 16_380, 16_384, READ_SIZE - 20, READ_SIZE + 7, 70_000)


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_what_the_probe_frames_itself_is_what_was_published(start_broker):
    _proc, port = start_broker("max_queued_messages 1000000\n")
    rng = random.Random(62)
    retained = [(f"room/retained/{n}", f"kept {n}".encode()) for n in range(3)]
    with publisher_on(port) as publisher:
        for topic, payload in retained:
            publisher.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    expected = [(topic, payload, True) for topic, payload in retained]  # sent on subscribing, flagged retained
    with probe_on(port, buffer=5000) as probe:
        _wait_for(lambda: probe.snapshot().brokers[0].received >= len(retained), 10)
        with publisher_on(port, in_order=True) as publisher:
            infos = []
            for n in range(1500):
                size = rng.choice(SIZES) if n % 7 else rng.randrange(0, 400)
                if n in (700, 1400):
                    size = 2_100_000  # four bytes of remaining length
                payload = bytes(rng.getrandbits(8) for _ in range(min(size, 64))) * (size // 64 + 1)
                payload = payload[:size]
                topic = f"flood/{'ünïcödé/€' if n % 5 == 0 else 'plain'}/{n}"
                infos.append(publisher.publish(topic, payload, qos=1 if n % 11 == 0 else 0))
                expected.append((topic, payload, False))
            infos[-1].wait_for_publish(30)
        _wait_for(lambda: probe.snapshot().brokers[0].received >= len(expected), 60)
        time.sleep(0.3)  # anything more would be a duplicate
        got = [(m.topic, m.payload, m.size, m.retained) for m in probe.buffer]
        framed = probe.links["primary"].client.framed
    assert probe.snapshot().brokers[0].received == len(expected)
    assert probe.snapshot().callback_errors == 0
    want = [(t, p[:BUFFERED_PAYLOAD], len(p), r) for t, p, r in expected]
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    assert got == want, (first, first is not None and (got[first][0], got[first][2:], want[first][0], want[first][2:]))
    # The test is about the fast path: most of the QoS 0 messages went through it, not paho.
    assert framed > 1000, framed
