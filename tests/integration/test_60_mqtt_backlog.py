"""The MQTT probe against a real Mosquitto (the host's, started here) that it cannot keep up
with for a while, and against one that goes silent: a busy link is not a dead link, and a
dead link is still noticed (runbook_tui/probes/paho_client.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager

import pytest

from runbook_tui.mqtt_contract import BrokerEndpoint
from runbook_tui.probes.mqtt_probe import MqttProbe

KEEPALIVE = 1


@pytest.fixture
def broker(start_broker):
    """A broker that holds a backlog for a slow subscriber (as the flood bench's do)."""
    return start_broker("max_queued_messages 1000000\n")


def _flood(port: int, messages: int) -> float:
    """Publish with mosquitto_pub (C), far faster than paho parses; returns when it finished."""
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "flood/backlog", "-l"],
                   input=(b"x" * 64 + b"\n") * messages, check=True, timeout=120)
    return time.monotonic()


def _wait(predicate, timeout: float, step: float = 0.05) -> float | None:
    """The time at which predicate() first held, or None if it did not within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    return None


def _state(probe: MqttProbe):
    return probe.snapshot().brokers[0]


class _LoadedProbe(MqttProbe):
    """The probe as on a machine busy with other work: 50 µs more for each message (about
    20,000 a second at most, where an idle machine takes 200,000), so that a flood from the
    C client outruns it for seconds. Everything else is the probe's own."""

    def _on_message(self, *args) -> None:
        until = time.perf_counter() + 50e-6
        while time.perf_counter() < until:
            pass
        super()._on_message(*args)


@contextmanager
def _connected_probe(port: int, keepalive: int = KEEPALIVE, kind: type[MqttProbe] = MqttProbe):
    probe = kind({"primary": BrokerEndpoint("127.0.0.1", port)}, keepalive=keepalive)
    probe.start()
    try:
        assert _wait(lambda: _state(probe).connected, 10), _state(probe)
        yield probe
    finally:
        probe.stop()


def test_a_probe_far_behind_a_flood_stays_connected_and_counts_every_message(broker):
    _proc, port = broker
    with _connected_probe(port, kind=_LoadedProbe) as probe:
        # Enough that the backlog outlasts three keepalives (at most 20,000 a second taken).
        sent = 150_000
        # The broker holds the backlog, and the probe's PINGRESP waits behind it, keepalives late.
        published = _flood(port, sent)
        caught_up = _wait(lambda: probe.counts()["primary"].get("flood/backlog", 0) >= sent, 120)
        state = _state(probe)
        assert probe.counts()["primary"].get("flood/backlog", 0) == sent, state
        assert state.connects == 1 and state.connected and state.broker_dropped == 0, state
        # The test proves something only if the probe really fell behind by several keepalives.
        assert caught_up is not None and caught_up - published > 3 * KEEPALIVE, caught_up and caught_up - published


def test_a_broker_that_goes_silent_is_still_shown_disconnected_and_reconnected(broker):
    proc, port = broker  # the fixture lets a stopped broker go on (SIGCONT) before it ends it
    with _connected_probe(port) as probe:
        os.kill(proc.pid, signal.SIGSTOP)  # the TCP connection stays up; nothing answers
        stopped = time.monotonic()
        lost = _wait(lambda: not _state(probe).connected, 10 * KEEPALIVE)
        assert lost is not None, _state(probe)
        assert lost - stopped <= 3 * KEEPALIVE + 1, lost - stopped  # three keepalives, and scheduling slack
        os.kill(proc.pid, signal.SIGCONT)
        assert _wait(lambda: _state(probe).connected, 15), _state(probe)
        assert _state(probe).connects >= 2


def test_messages_a_broker_drops_for_a_probe_that_fell_behind_are_shown_not_hidden(start_broker):
    # Mosquitto's default queue for a subscriber: 1,000 messages. Past that it drops QoS 0
    # messages for it, and says so in $SYS (every second here; every 10 s by default).
    _proc, port = start_broker("sys_interval 1\n")
    with _connected_probe(port, keepalive=10) as probe:
        sent = 150_000
        began = time.monotonic()
        # Falling behind, for sure: the probe's network thread waits on its lock at the first
        # message, for as long as the flood lasts (well inside the keepalive). The socket's
        # buffers fill, then the broker's queue, then the broker drops.
        with probe.lock:
            _flood(port, sent)

        def accounted() -> int:
            return probe.counts()["primary"].get("flood/backlog", 0) + _state(probe).broker_dropped
        # Every message is either counted or shown as dropped by the broker, once $SYS has said.
        # The broker's count also holds the $SYS updates it dropped for us (one a second at most).
        assert _wait(lambda: accounted() >= sent, 30, step=0.2), (probe.counts(), _state(probe))
        time.sleep(2)  # the last $SYS update
        assert sent <= accounted() <= sent + (time.monotonic() - began) + 1, (probe.counts(), _state(probe))
        state = _state(probe)
        assert state.broker_dropped > 0 and state.connected, state
        assert "$SYS/broker/publish/messages/dropped" not in probe.counts()["primary"]  # bookkeeping, not traffic


def test_thousands_of_distinct_long_topics_are_counted_apart_in_bounded_memory(start_broker):
    # Seen: 5,000 distinct 60 KB topics took a probe child to 411 MB.
    from runbook_tui.probes.mqtt_probe import TOPIC_KEPT
    from tests.integration.conftest import probe_on, publisher_on

    _proc, port = start_broker("max_queued_messages 1000000\n")  # a loaded machine must not drop them for the probe
    with probe_on(port) as probe:
        with publisher_on(port) as publisher:
            sent = [publisher.publish(f"flood/{n:05d}/" + "x" * 60_000, b"1") for n in range(5000)]
            sent[-1].wait_for_publish(30)
        deadline = time.monotonic() + 60
        while probe.snapshot().brokers[0].received < 5000:
            assert time.monotonic() < deadline, probe.snapshot().brokers[0]
            time.sleep(0.1)
        counts = probe.counts()["primary"]
        assert len(counts) == 5000 and all(v == 1 for v in counts.values())  # every topic counted, apart
        assert max(len(t) for t in counts) < TOPIC_KEPT + 60
        assert max(len(m.topic) for m in probe.buffer) < TOPIC_KEPT + 60
