"""Small, bounded looks at the lab's live parts, used to wait until a room is really up."""

from __future__ import annotations

import json
import threading
import time

import dns.exception
import dns.resolver
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from runbook_tui.mqtt_contract import BrokerEndpoint


def read_retained(broker: BrokerEndpoint, topic: str, timeout_s: float = 3.0) -> dict | None:
    """The retained JSON object on `topic`, or None (nothing retained, broker down, refused)."""
    found = _collect_retained(broker, topic, timeout_s, first_only=True)
    return next(iter(found.values()), None) if found else None


def read_retained_all(broker: BrokerEndpoint, topic_filter: str, window_s: float = 1.0) -> dict[str, dict] | None:
    """Every retained JSON object under a filter (topic -> object); None if the broker cannot be read."""
    return _collect_retained(broker, topic_filter, window_s, first_only=False)


def _collect_retained(broker: BrokerEndpoint, topic: str, timeout_s: float, first_only: bool) -> dict[str, dict] | None:
    got: dict[str, dict] = {}
    done = threading.Event()
    refused: list[bool] = []

    def on_connect(c, _u, _f, reason_code, _p):
        if reason_code.is_failure:
            refused.append(True)
            done.set()
        else:
            c.subscribe(topic, qos=1)

    def on_message(_c, _u, msg):
        if not msg.retain:
            return
        try:
            body = json.loads(msg.payload.decode("utf-8"))
            if isinstance(body, dict):
                got[msg.topic] = body
        except (UnicodeDecodeError, ValueError):
            pass
        if first_only:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.on_connect, client.on_message = on_connect, on_message
    client.connect_timeout = timeout_s
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except OSError:
        return None
    client.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return None if refused else got


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
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.port = port
    resolver.lifetime = lifetime_s
    try:
        return resolver.resolve(name, "A")[0].to_text()
    except dns.resolver.NXDOMAIN:
        return "NXDOMAIN"
    except dns.exception.Timeout:
        return "timeout"
    except (dns.exception.DNSException, OSError) as exc:
        return f"error ({exc.__class__.__name__})"
