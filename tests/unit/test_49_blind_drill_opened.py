"""A blind drill opened without naming its scenario: `runbook-tui --room ROOM --blind`, the command
`drill` prints without a terminal (seen: it printed `--drill <scenario>`, naming the fault on the
trainee's terminal). The scenario comes from the room's fault log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook_tui.cli import _fault_in_the_room
from runbook_tui.errors import UsageError
from runbook_tui.settings import Settings
from runbook_tui.stacks import fault_log


def log(root: Path, room: str, *entries: dict) -> None:
    path = fault_log(root, room)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as out:
        for e in entries:
            out.write(json.dumps(e) + "\n")


def test_the_scenario_is_the_fault_the_lab_put_in_the_room_last_and_not_healed(tmp_path: Path):
    settings = Settings(stack_root=tmp_path, lab=True)
    log(tmp_path, "room1", {"ts": 1.0, "fault": "flapping-primary", "healed": False},
        {"ts": 2.0, "fault": "controller-never-acks", "healed": False},
        {"ts": 3.0, "fault": "controller-never-acks", "healed": True})
    assert _fault_in_the_room(settings, "room1") == "flapping-primary"
    log(tmp_path, "room1", {"ts": 4.0, "room_down": True})  # torn down since: no fault is in it
    with pytest.raises(UsageError, match="no fault is in room1"):
        _fault_in_the_room(settings, "room1")
    with pytest.raises(UsageError, match="no fault is in room2"):  # another room's log is its own
        _fault_in_the_room(settings, "room2")
    log(tmp_path, "room1", {"ts": 5.0, "fault": "not-a-scenario", "healed": False})
    with pytest.raises(UsageError):
        _fault_in_the_room(settings, "room1")


def test_the_command_line_opens_it_as_a_blind_drill_of_that_scenario(tmp_path: Path, monkeypatch):
    # Without a terminal the TUI refuses after opening the session: what it opened is seen here.
    import runbook_tui.cli as cli
    from runbook_tui.session import SessionOpener

    (tmp_path / "infra").mkdir()
    log(tmp_path, "room1", {"ts": 1.0, "fault": "flapping-primary", "healed": False})
    opened: list[SessionOpener] = []
    monkeypatch.setattr(SessionOpener, "open", lambda self: opened.append(self))
    monkeypatch.setattr("runbook_tui.settings.lab_defaults", lambda: Settings(stack_root=tmp_path, lab=True))
    assert cli.main(["--room", "room1", "--blind"]) == 2
    [opener] = opened
    assert opener.drill == "flapping-primary" and opener.blind
