"""Argument helpers the command line's modules share: room ids and the stack root."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runbook_tui.errors import UsageError
from runbook_tui.stacks import ROOM_PATTERN
from runbook_tui.terminal import CONTROL_ONE_LINE, REPLACEMENT, first_control


def default_stack_root() -> Path:
    """RUNBOOK_STACK_ROOT, else the checkout this package runs from, else the current folder."""
    if os.environ.get("RUNBOOK_STACK_ROOT"):
        return Path(os.environ["RUNBOOK_STACK_ROOT"])
    here = Path(__file__).resolve().parents[2]
    return here if (here / "infra" / "room-template").is_dir() else Path.cwd()


def var_pairs(values: list[str], what: str = "--var") -> dict[str, str]:
    """NAME=VALUE arguments as a dict; the room is --room's alone (its id is checked there).
    A control character in a name or a value is refused (UsageError, exit 2), named by its code
    point and never quoted: the value is shown in the plan, the TUI and the journal, and pasted
    into the resume line, where an ESC ] 0; would retitle the terminal."""
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} '{_one_line(item)}' is not NAME=VALUE")
        if (problem := first_control(key, one_line=True) or _raw_byte(key)) is not None:
            raise UsageError(f"{what} '{_one_line(key)}': the name {problem}")
        if (problem := first_control(value, one_line=True) or _raw_byte(value)) is not None:
            raise UsageError(f"{what} {key}: the value {problem} (a value is one line of plain text)")
        if what == "--var" and key == "room":
            raise UsageError("--var room=...: the room is given with --room")
        out[key] = value
    return out


def _one_line(text: str) -> str:
    return CONTROL_ONE_LINE.sub(REPLACEMENT, text[:200])


def _raw_byte(text: str) -> str | None:
    """An argument's byte that is not UTF-8 (Python keeps it as a lone surrogate), in words: a
    raw 0x9B would be printed back as itself, the 8-bit CSI of a terminal not in UTF-8."""
    for index, char in enumerate(text):
        if "\udc80" <= char <= "\udcff":
            return f"holds the byte 0x{ord(char) - 0xDC00:02X}, not UTF-8, at character {index + 1}"
    return None


def room_arg(value: str) -> str:
    if not ROOM_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a room id (lower-case letters, digits, inner dashes)")
    return value


def device_arg(value: str) -> str:
    if not ROOM_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a device id (lower-case letters, digits, inner dashes)")
    return value


class CommandError(UsageError):
    """A command cannot go on with what it was given: said after the command's name, exit 2."""


def command_settings(args: argparse.Namespace):
    """The settings of a command that runs on a site or the lab: --settings or
    $RUNBOOK_TUI_SETTINGS, else the lab's defaults. Says which on standard error; a file that
    cannot be used raises SettingsError (said by the command line, exit 2)."""
    from runbook_tui.settings import lab_defaults, load_settings

    settings = load_settings(args.settings) if getattr(args, "settings", None) else lab_defaults()
    print(f"settings: {settings.described_as}; stack root {settings.stack_root}", file=sys.stderr)
    return settings


def lab_settings(args: argparse.Namespace, command: str):
    """The settings of a lab-only command (drill, lab): --settings or $RUNBOOK_TUI_SETTINGS when
    it describes the training lab, else the lab's defaults. Says which on standard error; a
    site's file is refused (the lab's commands must never run on a venue)."""
    from runbook_tui.settings import lab_defaults, load_settings

    settings = load_settings(args.settings) if getattr(args, "settings", None) else lab_defaults()
    if not settings.lab:
        raise CommandError(f"the settings {settings.described_as} describe a site (lab = false); "
                           f"'{command}' runs on the training lab only (unset RUNBOOK_TUI_SETTINGS, or give a lab's file)")
    print(f"settings: {settings.described_as}; stack root {settings.stack_root}", file=sys.stderr)
    return settings


def add_settings_arg(parser: argparse.ArgumentParser) -> None:
    """--settings after the command too (`runbook-tui readiness --settings F`); given before it, the
    top level's value stands (SUPPRESS: absent here, the namespace keeps it)."""
    parser.add_argument("--settings", type=Path, default=argparse.SUPPRESS,
                        help="site settings file (also before the command; default: $RUNBOOK_TUI_SETTINGS)")
