"""What may reach the operator's terminal: the one rule for control characters.

Every input the tool shows (MQTT payloads, command output, checklist text, settings values,
script arguments) passes `safe_text` before it is printed or drawn, so no input can move the
cursor, clear the screen, retitle the window or reorder what the operator reads. The
checklist and settings validators refuse the same characters where they are read, naming
them with `describe` (the message never carries the character itself).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any, TextIO

# C0 but tab and newline, DEL and C1 (U+009B is the 8-bit CSI, U+009D the 8-bit OSC): each
# can start a terminal control sequence. Bidirectional overrides, isolates and marks too
# (U+200E/F, U+061C: seen reaching the screen from a .env value): they make text read in another
# order than it runs (a command would not do what it shows).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Where text must be one line (names, titles, ids), tab and newline are refused as well.
CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
REPLACEMENT = "\ufffd"

_C0_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x09: "TAB", 0x0A: "LF", 0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL",
             0x9B: "8-bit CSI", 0x9D: "8-bit OSC"}


def safe_text(text: str, limit: int) -> str:
    """`text` with every control character replaced by U+FFFD, cut to `limit` characters."""
    text = CONTROL.sub(REPLACEMENT, text)
    return text if len(text) <= limit else text[:limit] + f"… (+{len(text) - limit} chars)"


def describe(char: str) -> str:
    """A character named without itself: 'U+001B (ESC)', 'U+202E (RIGHT-TO-LEFT OVERRIDE)'."""
    code = ord(char)
    name = _C0_NAMES.get(code) or unicodedata.name(char, "a control character")
    return f"U+{code:04X} ({name})"


def first_control(text: str, one_line: bool = False) -> str | None:
    """What is wrong with `text` for a terminal, in words, or None: the first control
    character it holds, named, and where."""
    found = (CONTROL_ONE_LINE if one_line else CONTROL).search(text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    where = f"character {found.start() + 1}" + (f" (line {line} of the value)" if line > 1 else "")
    return f"holds the control character {describe(found.group())} at {where}"


class SafeStream:
    """A text stream that passes only `safe_text`'s characters on: for a command line whose
    every line (usage errors included) may quote what it was given."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(CONTROL.sub(REPLACEMENT, text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_standard_streams() -> None:
    """Standard output and error of this process pass through `SafeStream` from now on."""
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)
