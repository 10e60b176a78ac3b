"""Small, bounded looks at the lab's live parts, used to wait until a room is really up."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from runbook_tui.mqtt_contract import BrokerEndpoint


@dataclass(frozen=True)
class RetainedLook:
    """What a short look at a broker's retained messages found.

    state: "ok" (connected and subscribed), "refused" (the broker refused the credentials),
    "unreachable" (no TCP connection) or "no answer" (connected, but no CONNACK/SUBACK in time).
    """

    state: str
    messages: dict[str, dict]
    detail: str = ""


def look_retained(broker: BrokerEndpoint, topic: str, timeout_s: float = 3.0, first_only: bool = True) -> RetainedLook:
    got: dict[str, dict] = {}
    done = threading.Event()
    subscribed = threading.Event()
    outcome: dict[str, str] = {}

    def on_connect(c, _u, _f, reason_code, _p):
        if reason_code.is_failure:
            outcome["refused"] = str(reason_code)
            done.set()
        else:
            c.subscribe(topic, qos=1)

    def on_subscribe(_c, _u, _mid, _codes, _p):
        subscribed.set()

    def on_message(_c, _u, msg):
        if not msg.retain:
            return
        try:
            body = json.loads(msg.payload.decode("utf-8"))
            if isinstance(body, dict):
                got[msg.topic] = body
        except (UnicodeDecodeError, ValueError, RecursionError):
            pass
        if first_only:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect_timeout = timeout_s
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except OSError as exc:
        return RetainedLook("unreachable", {}, exc.strerror or str(exc))
    client.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    if "refused" in outcome:
        return RetainedLook("refused", {}, outcome["refused"])
    if not subscribed.is_set():
        return RetainedLook("no answer", got, f"no answer from {broker} within {timeout_s:g}s")
    return RetainedLook("ok", got)


def read_retained(broker: BrokerEndpoint, topic: str, timeout_s: float = 3.0) -> dict | None:
    """The retained JSON object on `topic`, or None (nothing retained, broker down, refused)."""
    look = look_retained(broker, topic, timeout_s, first_only=True)
    return next(iter(look.messages.values()), None) if look.state == "ok" else None


def read_retained_all(broker: BrokerEndpoint, topic_filter: str, window_s: float = 1.0) -> dict[str, dict] | None:
    """Every retained JSON object under a filter (topic -> object); None if the broker cannot be read."""
    look = look_retained(broker, topic_filter, window_s, first_only=False)
    return look.messages if look.state == "ok" else None


def wait_for(predicate, timeout_s: float, interval_s: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def resolve_a(name: str, server: str, port: int, lifetime_s: float = 2.0) -> str:
    """The first A record of `name` at server:port, or a word for what went wrong."""
    from runbook_tui.probes.dns_probe import ask  # the one DNS query of the project

    answer = ask(name, server, port, lifetime_s, {})
    if answer.addresses:
        return answer.addresses[0]
    if answer.classification == "error":
        return f"error ({answer.detail.split(':', 1)[0]})"
    return answer.classification
