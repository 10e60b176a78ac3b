"""Showing MQTT payloads safely: any size, any bytes, no terminal control sequences."""

from __future__ import annotations

import json
from typing import Any

# The one rule for what reaches a terminal lives in the kernel (checklist and settings
# validators refuse the same characters); every view of outside text imports it from here.
from runbook_tui.terminal import CONTROL, safe_text

__all__ = ["CONTROL", "PRETTY_LIMIT", "parse_json_object", "render_payload", "render_topic", "safe_text"]

PRETTY_LIMIT = 64 * 1024  # larger payloads are shown raw (truncated), not parsed


def render_payload(payload: bytes, limit: int = 2000, one_line: bool = False) -> str:
    """Decoded with replacement, pretty-printed when it is JSON (compact on one line when
    one_line), truncated to `limit`."""
    text = payload.decode("utf-8", errors="replace")
    if len(payload) <= PRETTY_LIMIT and text[:1] in "{[":
        try:
            value = json.loads(text)
            text = (json.dumps(value, separators=(", ", ": "), ensure_ascii=False) if one_line
                    else json.dumps(value, indent=2, ensure_ascii=False))
        except (ValueError, RecursionError):
            pass  # not JSON, or nested deeper than the parser goes: shown as it is
    if one_line:
        text = text.replace("\n", " ")
    suffix = f"  [{len(payload)} bytes]" if len(payload) > limit else ""
    return safe_text(text, limit) + suffix


def render_topic(topic: str, limit: int = 200) -> str:
    return safe_text(topic, limit)


def parse_json_object(payload: bytes) -> dict[str, Any] | None:
    """A JSON object from a contract topic, or None; never raises."""
    if len(payload) > PRETTY_LIMIT:
        return None
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
