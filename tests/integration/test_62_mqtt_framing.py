"""The probe frames QoS 0 PUBLISH packets itself (runbook_tui/probes/paho_client.py) for
speed: what it hands on must be exactly what paho would have, for every size of packet,
packets cut by its read buffer's end, QoS 1 deliveries between them, retained messages and
topics beyond ASCII, against the host's real Mosquitto. In both tests the reader is held
while everything is published, so that the broker hands over a backlog: whole buffers of
packets, which is what the fast path frames."""

from __future__ import annotations

import random
import threading
import time

from paho.mqtt.enums import CallbackAPIVersion

from runbook_tui.probes.mqtt_probe import BUFFERED_PAYLOAD
from runbook_tui.probes.paho_client import READ_SIZE, ProbeClient
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
        # The probe's network thread waits on its lock at the first message until all is published.
        with probe.lock, publisher_on(port, in_order=True) as publisher:
            infos = []
            for n in range(1500):
                size = rng.choice(SIZES) if n % 7 else rng.randrange(0, 400)
                if n in (700, 1400):
                    size = 2_100_000  # four bytes of remaining length
                payload = bytes(rng.getrandbits(8) for _ in range(min(size, 64))) * (size // 64 + 1)
                payload = payload[:size]
                topic = f"flood/{'ünïcödé/€' if n % 5 == 0 else 'plain'}/{n}"
                infos.append(publisher.publish(topic, payload, qos=1 if n % 11 == 0 else 0))  # delivered at QoS 0
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
    # The test is about the fast path: most small messages went through it, not paho (which takes
    # the first packet of each read, and whatever does not fit in one).
    small = sum(1 for _t, p, _r in expected if len(p) <= 16_384)
    assert framed >= small // 2, (framed, small)


def test_qos1_deliveries_between_qos0_ones_are_left_to_paho_and_the_order_is_kept(start_broker):
    # Subscribed at QoS 1 as well, the stream holds QoS 1 PUBLISH packets (with packet ids, which
    # paho acknowledges) between QoS 0 ones: the fast path stops at each and goes on after it.
    _proc, port = start_broker("max_queued_messages 1000000\nmax_inflight_messages 0\n")
    got: list[tuple[str, bytes, int]] = []
    gate, subscribed = threading.Event(), threading.Event()

    def framed_here(topic: str, payload: bytes, _retain: bool) -> None:
        gate.wait(30)
        got.append((topic, payload, 0))

    def from_paho(_client, _userdata, message) -> None:
        gate.wait(30)
        got.append((message.topic, message.payload, message.qos))

    client = ProbeClient(CallbackAPIVersion.VERSION2, client_id="framing-qos1")
    client.on_qos0_publish, client.on_message = framed_here, from_paho
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        client.subscribe([("q0/#", 0), ("q1/#", 1)])
        assert subscribed.wait(10)
        expected = []
        with publisher_on(port, in_order=True) as publisher:
            for n in range(3000):
                qos = 1 if n % 3 == 0 else 0
                topic, payload = f"q{qos}/{n}", b"m%d" % n * (1 + n % 40)
                info = publisher.publish(topic, payload, qos=qos)
                expected.append((topic, payload, qos))
            info.wait_for_publish(30)
        gate.set()
        _wait_for(lambda: len(got) >= len(expected), 60)
        time.sleep(0.3)  # anything more would be a duplicate
    finally:
        gate.set()
        client.loop_stop()
        client.disconnect()
    assert got == expected
    assert client.framed >= 1000, client.framed  # most of the 2,000 QoS 0 ones: the fast path ran between QoS 1
