"""Small, bounded looks at the lab's live parts, used to wait until a room is really up.

The looks themselves are the observation layer's (one MQTT look, one DNS query); this module
only adds the waiting the lab needs.
"""

from __future__ import annotations

import time

from runbook_tui.observe.dns_look import ask
from runbook_tui.observe.mqtt_look import read_retained

__all__ = ["read_retained", "resolve_a", "wait_for"]


def wait_for(predicate, timeout_s: float, interval_s: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def resolve_a(name: str, server: str, port: int, lifetime_s: float = 2.0) -> str:
    """The first A record of `name` at server:port, or a word for what went wrong (the lab's
    own readiness checks; the rules look at every record)."""
    answer = ask(name, server, port, lifetime_s, {})
    if answer.addresses:
        return answer.addresses[0]
    if answer.classification == "error":
        return f"error ({answer.detail.split(':', 1)[0]})"
    return answer.classification
