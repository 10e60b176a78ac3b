"""A short, bounded look at a broker's retained messages: the core's status and the
controllers' status, as a guard sees them at the moment of acting."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbook_tui.mqtt_contract import BrokerEndpoint, Topics
from runbook_tui.observe.model import BrokerView
from runbook_tui.observe.payloads import parse_json_object, safe_text
from runbook_tui.observe.status import parse_core_status, parse_device_status

if TYPE_CHECKING:  # paho is imported where a look connects (the first frame does not load it)
    from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

# Mosquitto sends the retained messages of a subscription right behind its SUBACK; this much
# more is waited for them when every one is wanted.
SETTLE_S = 0.3


@dataclass(frozen=True)
class RetainedLook:
    """What a short look at a broker's retained messages found.

    state: "ok" (connected and subscribed), "refused" (the broker refused the credentials),
    "unreachable" (no TCP connection) or "no answer" (connected, but no CONNACK/SUBACK in time).
    messages: topic -> the raw payload of each retained message seen.
    """

    state: str
    messages: dict[str, bytes]
    detail: str = ""


def look_retained(broker: BrokerEndpoint, topics: tuple[str, ...], timeout_s: float = 3.0,
                  first_only: bool = False) -> RetainedLook:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got: dict[str, bytes] = {}
    done = threading.Event()
    subscribed = threading.Event()
    outcome: dict[str, str] = {}

    def on_connect(c: Client, _u: Any, _f: ConnectFlags, reason_code: ReasonCode, _p: Properties | None) -> None:
        if reason_code.is_failure:
            outcome["refused"] = str(reason_code)
            done.set()
        else:
            c.subscribe([(t, 1) for t in topics])

    def on_subscribe(_c: Client, _u: Any, _mid: int, _codes: list[ReasonCode], _p: Properties | None) -> None:
        subscribed.set()

    def on_message(_c: Client, _u: Any, msg: MQTTMessage) -> None:
        if msg.retain:
            got[msg.topic] = bytes(msg.payload)
            if first_only:
                done.set()

    if broker.port <= 0:
        return RetainedLook("unreachable", {}, "no valid port (MQTT_PORT in the stack's .env)")
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect_timeout = timeout_s
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except (OSError, ValueError) as exc:
        return RetainedLook("unreachable", {}, safe_text(getattr(exc, "strerror", None) or str(exc), 120))
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout_s
        if subscribed.wait(timeout_s) and not first_only:
            done.wait(min(SETTLE_S, max(0.0, deadline - time.monotonic())))
        else:
            done.wait(max(0.0, deadline - time.monotonic()))
    finally:
        client.disconnect()
        client.loop_stop()
    if "refused" in outcome:
        return RetainedLook("refused", {}, outcome["refused"])
    if not subscribed.is_set():
        return RetainedLook("no answer", got, f"no answer from {broker} within {timeout_s:g}s")
    return RetainedLook("ok", got)


def read_retained(broker: BrokerEndpoint, topic: str, timeout_s: float = 3.0) -> dict[str, Any] | None:
    """The retained JSON object on `topic`, or None (nothing retained, broker down, refused)."""
    look = look_retained(broker, (topic,), timeout_s, first_only=True)
    body = next(iter(look.messages.values()), None) if look.state == "ok" else None
    return parse_json_object(body) if body is not None else None


def look_broker(role: str, broker: BrokerEndpoint, topics: Topics, room: str, timeout_s: float = 2.0) -> BrokerView:
    """The broker's retained core status and controllers' statuses, read strictly."""
    device_filter = topics.device(room, "+", "status")
    look = look_retained(broker, (topics.status, device_filter), timeout_s)
    if look.state != "ok":
        return BrokerView(role, str(broker), look.state, look.detail, at=time.time())
    core = parse_core_status(look.messages[topics.status]) if topics.status in look.messages else None
    controllers = tuple(sorted((safe_text(t.split("/")[-2], 64), parse_device_status(p))
                               for t, p in look.messages.items() if t != topics.status))
    return BrokerView(role, str(broker), "ok", "", core, controllers, time.time())
