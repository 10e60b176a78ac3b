"""The MQTT probe: one paho-mqtt 2.x client per broker, counting and correlating traffic.

Every message is counted (total and per topic) before anything else happens to it, so the
counts stay exact whatever the payload; the recent-message buffer, the per-topic table and
the flows are bounded. Callbacks never raise (a raising callback would end paho's network
thread and with it the reconnects): each one is wrapped and its failures are counted.
paho reconnects by itself with backoff; subscriptions are made again on every connect.
Subscribers get batches from a flusher thread, never from paho's threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from runbook_tui.mqtt_contract import BrokerEndpoint, Topics
from runbook_tui.probes.flows import FlowTracker, merge_flows
from runbook_tui.probes.mqtt_model import BrokerState, Message, MqttBatch, MqttSnapshot
from runbook_tui.probes.paho_client import ProbeClient

BUFFERED_PAYLOAD = 8192
MAX_TOPICS = 5000  # per broker; beyond it new topics are counted under OTHER_TOPICS
TOPIC_KEPT = 200  # characters of a topic kept for counting and showing (MQTT allows 65,535)


def kept_topic(topic: str) -> str:
    """A topic as the probe keeps it: whole when short; a long one cut, with a digest so that
    distinct long topics are still counted apart (5,000 topics of 60 KB once took 411 MB)."""
    if len(topic) <= TOPIC_KEPT:
        return topic
    import hashlib

    return f"{topic[:TOPIC_KEPT]}…(+{len(topic) - TOPIC_KEPT} chars, {hashlib.blake2b(topic.encode(), digest_size=4).hexdigest()})"
OTHER_TOPICS = "(other topics)"
# Mosquitto's count of messages it threw away because a subscriber's queue was full (QoS 0 to
# a subscriber that fell behind, this probe included). "#" does not match $SYS topics, so the
# probe subscribes to it on its own, and it is bookkeeping, not room traffic: never counted.
# Other brokers do not publish it; then nothing is shown.
BROKER_DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
# The broker publishes that count (retained) only when it changes, and the update sent while
# it was dropping messages for us can itself be dropped: asking again for the retained value
# every few seconds brings the last word in after the backlog has drained.
DROPPED_REFRESH_S = 5.0


@dataclass
class _Link:
    role: str
    endpoint: BrokerEndpoint
    client: mqtt.Client | None = None
    connected: bool = False
    error: str | None = "connecting"
    received: int = 0
    connects: int = 0
    since: float | None = None
    topics: dict[str, int] = field(default_factory=dict)
    broker_dropped: int = 0
    dropped_before: int = 0  # broker_dropped at this connection's start (a restarted broker counts from 0)
    dropped_base: int | None = None  # the broker's counter when this connection first heard it
    rate_base: dict[str, tuple[int, float]] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)


class MqttProbe:
    def __init__(self, brokers: dict[str, BrokerEndpoint], *, topics: tuple[str, ...] = ("#",),
                 contract: Topics = Topics(), room: str = "+", buffer: int = 2000, flush_s: float = 0.1,
                 on_batch: Callable[[MqttBatch], None] | None = None, keepalive: int = 5, raw_flows: bool = False) -> None:
        """raw_flows: the snapshot carries the tracker's orphans too (a child process's, merged
        with the other broker's by its parent); otherwise only started flows."""
        self.links = {role: _Link(role, endpoint) for role, endpoint in brokers.items()}
        self.subscriptions = topics
        self.tracker = FlowTracker(contract, room)
        self.buffer: deque[Message] = deque(maxlen=buffer)
        self.pending = 0  # messages appended since the last batch
        self.flush_s = flush_s
        self.on_batch = on_batch
        self.raw_flows = raw_flows
        self.keepalive = keepalive  # seconds; a broker that goes silent is noticed within three
        self.lock = threading.Lock()
        self.callback_errors = 0
        self.stopping = threading.Event()
        self._flusher: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        for link in self.links.values():
            if not 0 < link.endpoint.port < 65536:
                # The stack's MQTT_PORT is not a port (broker_endpoint gives 0): a state of this
                # broker, said as such; paho would raise, and the child would die and restart forever.
                link.error = "unreachable: MQTT_PORT in the stack's .env is not a port number (1 to 65535)"
                continue
            link.client = self._client(link)
            # connect_async + loop_start: the first connection is retried like any other,
            # so a broker that is down at start is a state, not an exception.
            link.client.connect_async(link.endpoint.host, link.endpoint.port, keepalive=self.keepalive)
            link.client.loop_start()
        self._flusher = threading.Thread(target=self._flush_loop, name="mqtt-probe-flush", daemon=True)
        self._flusher.start()

    def stop(self) -> None:
        self.stopping.set()
        for link in self.links.values():
            if link.client is not None:
                link.client.disconnect()
                link.client.loop_stop()
        if self._flusher is not None:
            self._flusher.join(timeout=5)

    def _client(self, link: _Link) -> mqtt.Client:
        client = ProbeClient(CallbackAPIVersion.VERSION2, client_id=f"runbook-probe-{link.role}-{id(self):x}")
        if link.endpoint.username:
            client.username_pw_set(link.endpoint.username, link.endpoint.password)
        # paho waits any number of seconds (its delays are time arithmetic); its annotation says int.
        client.reconnect_delay_set(min_delay=0.2, max_delay=3)  # type: ignore[arg-type]
        client.connect_timeout = 3
        client.on_connect = self._guard(lambda c, _u, _f, rc, _p: self._on_connect(link, c, rc))
        client.on_disconnect = self._guard(lambda _c, _u, _f, rc, _p: self._on_disconnect(link, rc))
        client.on_message = self._guard(lambda _c, _u, msg: self._on_message(link, msg.topic, msg.payload, msg.retain))
        client.on_qos0_publish = self._guard(lambda topic, payload, retain: self._on_message(link, topic, payload, retain))
        client.on_subscribe = self._guard(lambda _c, _u, _mid, _codes, _p: self._on_subscribe(link))
        client.on_connect_fail = self._guard(lambda _c, _u: self._on_connect_fail(link))
        return client

    def _guard(self, fn):
        def wrapped(*args):
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - counted; the network thread must live on
                with self.lock:
                    self.callback_errors += 1
        return wrapped

    # ---- paho callbacks (network threads) ------------------------------------------------
    def _on_connect(self, link: _Link, client: mqtt.Client, reason_code) -> None:
        with self.lock:
            if reason_code.is_failure:
                link.connected, link.error = False, f"refused: {reason_code}"
                return
            link.error = None
            link.connects += 1
            link.dropped_before, link.dropped_base = link.broker_dropped, None
        client.subscribe([(t, 0) for t in self.subscriptions] + [(BROKER_DROPPED_TOPIC, 0)])

    def _on_subscribe(self, link: _Link) -> None:
        # "Connected" means receiving: only once the broker has acknowledged the subscriptions.
        with self.lock:
            if not link.connected:  # the count's refresh is acknowledged too: not a new connection
                link.connected, link.since = True, time.time()

    def _on_disconnect(self, link: _Link, reason_code) -> None:
        with self.lock:
            self.tracker.forget_status(link.role)
            link.connected = False
            if link.error and link.error.startswith("refused"):
                return  # keep saying why: a refusal is followed by a disconnect each time
            link.error = f"disconnected: {reason_code}" if reason_code.is_failure else "disconnected"

    def _on_connect_fail(self, link: _Link) -> None:
        with self.lock:
            link.connected, link.error = False, f"unreachable: {link.endpoint}"

    def _on_message(self, link: _Link, topic: str, payload: bytes, retain: bool) -> None:
        now = time.time()
        if topic == BROKER_DROPPED_TOPIC:
            self._broker_dropped(link, payload)
            return
        full_topic, topic = topic, kept_topic(topic)
        with self.lock:
            link.received += 1
            key = topic if topic in link.topics or len(link.topics) < MAX_TOPICS else OTHER_TOPICS
            link.topics[key] = link.topics.get(key, 0) + 1
            # The buffer keeps at most BUFFERED_PAYLOAD bytes of each payload: a flood of 1 MB
            # messages must not hold gigabytes. Counts are made above, on the whole message.
            kept = payload if len(payload) <= BUFFERED_PAYLOAD else payload[:BUFFERED_PAYLOAD]
            self.buffer.append(Message(link.role, topic, kept, bool(retain), now, len(payload)))
            self.pending += 1
        if self.tracker.wants(full_topic):
            with self.lock:
                self.tracker.observe(link.role, full_topic, bytes(payload), time.monotonic())

    def _broker_dropped(self, link: _Link, payload: bytes) -> None:
        value = int(payload)  # anything else raises, and is counted as a callback error
        with self.lock:
            if link.dropped_base is None:
                link.dropped_base = value  # drops from before we listened are not this session's
            link.broker_dropped = link.dropped_before + max(0, value - link.dropped_base)

    # ---- snapshots and batches ---------------------------------------------------------
    def snapshot(self) -> MqttSnapshot:
        with self.lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> MqttSnapshot:
        brokers = tuple(BrokerState(lk.role, str(lk.endpoint), lk.connected, lk.error, lk.received, lk.connects, lk.since,
                                    lk.broker_dropped) for lk in self.links.values())
        counts = tuple(sorted(((lk.role, t, n, lk.rates.get(t, 0.0)) for lk in self.links.values() for t, n in lk.topics.items()),
                              key=lambda x: -x[2])[:200])
        controllers = tuple(sorted((role, d, up) for role, devices in self.tracker.controllers.items() for d, up in devices.items()))
        return MqttSnapshot(brokers, counts, tuple(sorted(self.tracker.core_status.items())),
                            self.tracker.all_flows() if self.raw_flows else merge_flows([self.tracker.all_flows()]),
                            self.callback_errors, time.time(),
                            tuple(sorted(self.tracker.last_command.items())), controllers)

    def counts(self) -> dict[str, dict[str, int]]:
        """Exact per-topic counts (a copy), broker role -> topic -> messages."""
        with self.lock:
            return {lk.role: dict(lk.topics) for lk in self.links.values()}

    def _update_rates(self, now: float) -> None:
        for link in self.links.values():
            for topic, count in link.topics.items():
                base_count, base_time = link.rate_base.get(topic, (0, now))
                if now - base_time >= 1.0:
                    link.rates[topic] = round((count - base_count) / (now - base_time), 1)
                    link.rate_base[topic] = (count, now)
                elif topic not in link.rate_base:
                    link.rate_base[topic] = (count, now)

    def _flush_loop(self) -> None:
        refreshed = time.monotonic()
        while not self.stopping.wait(self.flush_s):
            if time.monotonic() - refreshed >= DROPPED_REFRESH_S:
                refreshed = time.monotonic()
                for link in self.links.values():
                    if link.connected and link.client is not None:
                        try:
                            link.client.subscribe(BROKER_DROPPED_TOPIC, 0)  # paho's calls are thread-safe
                        except Exception:  # noqa: BLE001 - this loop must live on: it delivers every batch
                            with self.lock:
                                self.callback_errors += 1
            with self.lock:
                self._update_rates(time.monotonic())
                fresh = min(self.pending, len(self.buffer))
                dropped = self.pending - fresh
                messages = tuple(list(self.buffer)[-fresh:]) if fresh else ()
                self.pending = 0
                snapshot = self._snapshot_locked()
            if self.on_batch is not None:
                try:
                    self.on_batch(MqttBatch(messages, dropped, snapshot))
                except Exception:  # noqa: BLE001 - a subscriber's failure is not the probe's
                    with self.lock:
                        self.callback_errors += 1
