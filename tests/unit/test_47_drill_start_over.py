"""`drill` on a room whose run was left unfinished (seen on a drill walk: it reset the room and
closed the trainee's run without asking). At a terminal it asks; without one it refuses, naming
the commands that resume the run or start over; --start-over closes it without asking. The
room's reset is the lab's (tests/lab/test_76_drill_findings.py): here, what comes before it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from runbook_tui.cli.args import CommandError
from runbook_tui.cli.drill import _confirm_start_over, add_drill_command
from runbook_tui.settings import Settings
from runbook_tui.stacks import default_runs_dir
from tests.conftest import settings_without_dns


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_drill_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["drill", "room9", "--scenario", "flapping-primary", *argv])


def journal(root: Path, name: str, blind: bool, ended: bool = False) -> Path:
    runs = default_runs_dir(root)
    runs.mkdir(parents=True, exist_ok=True)
    records = [{"seq": 1, "kind": "run_started", "ts": 1_790_000_000.0, "room": "room9", "lab": True, "operator": "ana",
                "drill": "standby-drift", "blind": blind, "checklist": {"id": "promotion", "name": "P", "revision": "1",
                                                                         "sha256": "0" * 64}},
               {"seq": 2, "kind": "step_state", "ts": 1_790_000_050.0, "step": "edit-env", "state": "done"}]
    if ended:
        records.append({"seq": 3, "kind": "run_abandoned", "ts": 1_790_000_100.0, "reason": "gone"})
    path = runs / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_without_dns(tmp_path, lab=True)


def test_without_a_terminal_it_refuses_naming_the_resume_and_start_over(settings, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    path = journal(settings.stack_root, "room9-promotion-20261207T110000.jsonl", blind=True)
    with pytest.raises(CommandError) as refused:
        _confirm_start_over(args("--trainee", "ana"), settings)
    said = str(refused.value)
    assert "room9 has an unfinished run: a blind drill by ana" in said and "standby-drift" not in said  # blind stays blind
    assert f"--resume {path}" in said and "runbook-tui drill room9 --scenario flapping-primary --trainee ana --start-over" in said
    _confirm_start_over(args("--start-over"), settings)  # told: nothing asked


def test_at_a_terminal_it_asks_and_no_changes_nothing(settings, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    journal(settings.stack_root, "room9-promotion-20261207T110000.jsonl", blind=False)
    asked: list[str] = []
    answers = iter(["", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or next(answers))
    with pytest.raises(CommandError, match="nothing was changed"):
        _confirm_start_over(args(), settings)
    assert "drill standby-drift by ana" in asked[0] and "Close it and start this drill over? [y/N]" in asked[0]
    _confirm_start_over(args(), settings)  # yes: the drill goes on
    assert len(asked) == 2


def test_a_room_whose_runs_all_ended_is_started_over_without_a_question(settings, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    journal(settings.stack_root, "room9-promotion-20261207T110000.jsonl", blind=False, ended=True)
    _confirm_start_over(args(), settings)
    # Opened and closed before any step changed: nothing to lose, nothing asked (nor offered for resuming).
    untouched = journal(settings.stack_root, "room9-promotion-20261207T120000.jsonl", blind=False)
    untouched.write_text(untouched.read_text().splitlines()[0] + "\n")
    _confirm_start_over(args(), settings)
