"""Reading what cores and controllers publish about themselves, strictly.

Whoever can publish on the broker can publish on a status topic. Only a JSON object with
real booleans counts: `"false"` is a string, not false, and a status that says `online`
without saying whether dispatch is enabled tells nothing about dual control. What does not
read is kept, sanitised, so the operator sees what arrived.
"""

from __future__ import annotations

import json
import math

from runbook_tui.observe.model import CoreStatus
from runbook_tui.observe.payloads import parse_json_object, safe_text

RAW_LIMIT = 120
TEXT_LIMIT = 64


def _one_line(text: str) -> str:
    # What a status says is shown inside one line (a verdict's detail, a guard refusal, the
    # journal): a tab or newline in it must not start a line that looks like the tool's own.
    return text.replace("\t", " ").replace("\n", " ")


def _shown(payload: bytes) -> str:
    return safe_text(_one_line(payload[: RAW_LIMIT * 4].decode("utf-8", errors="replace")), RAW_LIMIT)


def _text(value: object) -> str | None:
    # Version numbers are published as numbers by some cores; anything else is not a label.
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return safe_text(_one_line(value), TEXT_LIMIT)
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return None


def parse_core_status(payload: bytes) -> CoreStatus:
    body = parse_json_object(payload)
    if body is None:
        return CoreStatus(False, raw=_shown(payload), problem="not a JSON object")
    online = body.get("online")
    if not isinstance(online, bool):
        return CoreStatus(False, raw=_shown(payload), problem=f"'online' is {_kind(online)}, not true or false")
    dispatch = body.get("dispatch_enabled")
    if online and not isinstance(dispatch, bool):
        return CoreStatus(False, raw=_shown(payload), problem=f"'dispatch_enabled' is {_kind(dispatch)}, not true or false")
    armed = body.get("critical_armed")
    if armed is not None and not isinstance(armed, bool):
        return CoreStatus(False, raw=_shown(payload), problem=f"'critical_armed' is {_kind(armed)}, not true or false")
    return CoreStatus(True, online, bool(dispatch) if isinstance(dispatch, bool) else False, armed,
                      role=_text(body.get("role")), room=_text(body.get("room")), stack=_text(body.get("stack")),
                      version=_text(body.get("version")))


def parse_device_status(payload: bytes) -> bool | None:
    """A controller's retained status: its `online` if it is a real boolean, else None (unreadable)."""
    body = parse_json_object(payload)
    online = body.get("online") if body is not None else None
    return online if isinstance(online, bool) else None


def _kind(value: object) -> str:
    if value is None:
        return "missing or null"
    if isinstance(value, str):
        return f"the string {json.dumps(safe_text(value, 20))}"
    return f"a {type(value).__name__}"
