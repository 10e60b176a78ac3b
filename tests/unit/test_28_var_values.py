"""An operator's own --var NAME=VALUE is refused when it holds a control character.

Seen: `runbook-tui plan --var $'smoke_device=d\\e]0;X\\a'` exited 0 and a raw 0x9B byte in a
value went into the plan's output as itself (the 8-bit CSI of a terminal not in UTF-8); the
TUI took the value into its tree, its step pane and the resume line. Now the command line
refuses it (exit 2), naming the variable and the character by its code point, never printing
it; a Session given such a value by any other caller refuses it too. Checked on the bytes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_tui.cli.args import var_pairs
from runbook_tui.session import Session
from runbook_tui.settings import Settings
from tests.conftest import REPO

RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f-\x9f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")
HOSTILE = {"OSC title": ("\x1b]0;PWNED\x07", "U+001B"), "clear screen": ("\x1b[2J", "U+001B"),
           "8-bit CSI": ("\x9b31m", "U+009B"), "RLO": ("\u202e", "U+202E"), "BEL": ("\x07", "U+0007"),
           "CR": ("\r", "U+000D"), "LF": ("\n", "U+000A"), "TAB": ("\t", "U+0009"), "DEL": ("\x7f", "U+007F"),
           "isolate": ("\u2066", "U+2066")}
PROMOTION = REPO / "checklists" / "promotion.yaml"


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_var_pairs_refuses_a_control_character_in_a_value_or_a_name(kind: str):
    char, code = HOSTILE[kind]
    with pytest.raises(ValueError) as err:
        var_pairs([f"smoke_device=door{char}1"])
    said = str(err.value)
    assert said.startswith("--var smoke_device: the value holds the control character " + code), said
    assert char not in said
    with pytest.raises(ValueError) as err:
        var_pairs([f"smoke{char}device=door1"])
    assert code in str(err.value) and char not in str(err.value)
    assert var_pairs(["smoke_device=door 1"]) == {"smoke_device": "door 1"}  # plain text passes


def cli(*args: str | bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runbook_tui", *args], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize("value", [b"door\x1b]0;PWNED\x07", b"door\xc2\x9b31m", b"door\x9b31m", b"door\xe2\x80\xae1"])
def test_plan_and_the_tui_refuse_it_exit_2_naming_the_variable_never_printing_the_character(value: bytes):
    for command in ([b"plan", b"--room", b"room1", str(PROMOTION).encode()], []):
        out = cli(*command, b"--var", b"smoke_device=" + value)
        assert out.returncode == 2, out.stderr
        assert out.stdout == b""  # no plan
        assert b"--var smoke_device: the value holds the " in out.stderr, out.stderr
        assert re.search(rb"U\+[0-9A-F]{4}|byte 0x9B", out.stderr), out.stderr
        assert RAW_CONTROL.search(out.stdout + out.stderr) is None, out.stderr


def test_a_session_given_such_a_value_by_another_caller_refuses_it(tmp_path: Path):
    (tmp_path / "infra").mkdir()
    settings = Settings(stack_root=tmp_path, lab=True, journal_dir=tmp_path / "runs")
    with pytest.raises(ValueError) as err:
        Session(settings, "room9", PROMOTION, variables={"smoke_device": "door\x1b]0;PWNED\x07"})
    assert "smoke_device" in str(err.value) and "U+001B" in str(err.value) and "\x1b" not in str(err.value)
    assert Session(settings, "room9", PROMOTION, variables={"smoke_device": "door1"}).values["smoke_device"] == "door1"
