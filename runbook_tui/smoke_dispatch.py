"""The end-to-end dispatch check of runbook 3.4: one dispatch, followed through its flow.

Publishes a dispatch with a fresh id and watches, for that id only: the core's device
command, the device's ack and complete, and the core's result. The outcome says which of
them arrived, with latencies from the moment the dispatch was published, or exactly what
was missing.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from runbook_tui.mqtt_contract import BrokerEndpoint, DispatchRequest, Topics


class Verdict(Enum):
    """How a dispatch ended; the value is core-dispatch.sh's exit code."""

    COMPLETE = 0
    REJECTED = 3
    TIMEOUT = 4
    UNREACHABLE = 5
    NOT_AUTHORIZED = 6


@dataclass(frozen=True)
class FlowEvent:
    stage: str  # dispatch, command, ack, complete, result
    topic: str
    at_ms: float  # since the dispatch was published
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DispatchOutcome:
    verdict: Verdict
    reason: str
    request: DispatchRequest
    events: tuple[FlowEvent, ...] = ()

    def latency_ms(self, stage: str) -> float | None:
        return next((e.at_ms for e in self.events if e.stage == stage), None)

    def missing(self) -> list[str]:
        seen = {e.stage for e in self.events}
        return [s for s in ("command", "ack", "complete", "result") if s not in seen]


def _decode(payload: bytes) -> dict:
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def dispatch_and_wait(
    broker: BrokerEndpoint,
    request: DispatchRequest,
    topics: Topics = Topics(),
    timeout_s: float = 15.0,
    on_event: Callable[[FlowEvent], None] | None = None,
) -> DispatchOutcome:
    """Send `request` through `broker` and follow it until the core's result or timeout."""
    inbox: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
    connected = threading.Event()
    subscribed = threading.Event()
    connect_failure: list[str] = []

    def on_connect(_c, _u, _flags, reason_code, _props):
        if reason_code.is_failure:
            connect_failure.append(str(reason_code))
        connected.set()

    def on_subscribe(_c, _u, _mid, _codes, _props):
        subscribed.set()

    def on_message(_c, _u, msg):
        # Only queue here: a callback that raises would end paho's network thread.
        inbox.put((msg.topic, msg.payload, time.monotonic()))

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"runbook-dispatch-{request.id[:12]}")
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect_timeout = min(5.0, timeout_s)

    def unreachable(reason: str) -> DispatchOutcome:
        return DispatchOutcome(Verdict.UNREACHABLE, f"broker {broker} unreachable: {reason}", request)

    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except OSError as exc:
        return unreachable(exc.strerror or str(exc))
    client.loop_start()
    try:
        if not connected.wait(min(5.0, timeout_s)):
            return unreachable("no answer to CONNECT")
        if connect_failure:
            reason = connect_failure[0]
            verdict = Verdict.NOT_AUTHORIZED if "authori" in reason.lower() or "password" in reason.lower() else Verdict.UNREACHABLE
            return DispatchOutcome(verdict, f"broker {broker} refused the connection: {reason}", request)
        device_topic = topics.device(request.room, request.device, "+")
        client.subscribe([(topics.result, 1), (device_topic, 1)])
        if not subscribed.wait(5.0):
            return unreachable("no answer to SUBSCRIBE")

        events: list[FlowEvent] = []

        def note(event: FlowEvent) -> None:
            events.append(event)
            if on_event:
                on_event(event)

        # Latencies count from the moment the dispatch leaves: the device command can arrive
        # before the broker's PUBACK does (a clock started after it showed "-5.9 ms").
        started = time.monotonic()
        try:
            client.publish(topics.dispatch, request.payload(), qos=1).wait_for_publish(5.0)
        except (RuntimeError, ValueError) as exc:  # the connection dropped or the publish was refused
            return unreachable(f"dispatch not delivered ({exc})")
        note(FlowEvent("dispatch", topics.dispatch, 0.0, {"id": request.id}))
        deadline = started + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                topic, payload, at = inbox.get(timeout=left)
            except queue.Empty:
                break
            body = _decode(payload)
            if body.get("id") != request.id:
                continue  # someone else's flow, or a retained status
            at_ms = round((at - started) * 1000, 1)
            if topic == topics.result:
                note(FlowEvent("result", topic, at_ms, body))
                status = body.get("status")
                reason = body.get("reason") or ""
                if status == "complete":
                    missing = [s for s in ("command", "ack", "complete") if s not in {e.stage for e in events}]
                    if missing:
                        return DispatchOutcome(
                            Verdict.TIMEOUT, f"core reported complete but {', '.join(missing)} not seen", request, tuple(events)
                        )
                    return DispatchOutcome(Verdict.COMPLETE, "", request, tuple(events))
                if status == "rejected":
                    return DispatchOutcome(Verdict.REJECTED, reason or "rejected", request, tuple(events))
                return DispatchOutcome(Verdict.TIMEOUT, reason or str(status), request, tuple(events))
            leaf = topic.rsplit("/", 1)[-1]
            if leaf in ("command", "ack", "complete"):
                note(FlowEvent(leaf, topic, at_ms, body))
        seen = {e.stage for e in events}
        if "command" not in seen:
            reason = f"no core answered within {timeout_s:g}s (no device command, no result): is a core running on {broker}?"
        else:
            missing = [s for s in ("ack", "complete", "result") if s not in seen]
            reason = f"within {timeout_s:g}s: {', '.join(missing)} not seen"
        return DispatchOutcome(Verdict.TIMEOUT, reason, request, tuple(events))
    finally:
        client.disconnect()
        client.loop_stop()
