"""The site's fence command (the room's [rooms.<id>] fence_command) run by the promotion's
`fence-primary-command` step: exactly its words, without a shell; it must exit 0 to fence the
primary, and a fence it did not make leaves the guards refusing. A site without one has the step
skipped at the run's start, saying so (on hand-built observations; the lab's test_84 does it on
a real lost host)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import EngineRefusal, GuardRefused, RunConfig, RunEngine, StepState
from tests.lab.rooms import confirmed_at_room
from tests.unit.engine.test_engine_watch import REPO_CHECKLISTS, Sees, host_lost

STEP = "fence-primary-command"


def fence_script(tmp_path: Path, exit_code: int = 0) -> Path:
    """A stand-in for a PDU's tool: records the words it was given, one a line, and exits as told."""
    script = tmp_path / "pdu-ctl"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/pdu-called"\necho "outlet 3: off"\nexit {exit_code}\n')
    script.chmod(0o755)
    return script


def engine_for(tmp_path: Path, obs, fence_command: tuple[str, ...]) -> RunEngine:
    checklist = load_checklist(REPO_CHECKLISTS / "promotion.yaml")
    values = resolve_variables(checklist, {"room": "room1", "smoke_device": "sim1", "new_primary_addr": "",
                                           "new_standby_addr": ""}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(obs), tmp_path / "run.jsonl",
                             RunConfig(tmp_path, operator="olga", fence_command=fence_command))
    confirmed_at_room(engine, "room-safe")
    engine.mark_done("room-safe", typed_room="room1")
    return engine


def test_the_fence_command_runs_its_words_without_a_shell_and_fences_the_lost_primary(tmp_path):
    argv = (str(fence_script(tmp_path)), "outlet", "3", "off", "$(touch pwned)", "a b;c")
    engine = engine_for(tmp_path, host_lost(), argv)
    preview = engine.preview(STEP)
    # The confirmation shows exactly what runs, and what it does to the room.
    assert preview.lines[0] == f"$ {argv[0]} outlet 3 off '$(touch pwned)' 'a b;c'"
    assert any("without a shell" in line for line in preview.lines)
    assert any("cuts the primary host off" in line for line in preview.lines)
    assert preview.affects == ("room1's primary host: cut off (its power or its network) by the site's fence command",)
    assert preview.needs_typed_room
    with pytest.raises(GuardRefused):
        asyncio.run(engine.run_step("enable-dispatch", typed_room="room1"))

    status = asyncio.run(engine.run_step(STEP, typed_room="room1"))
    assert status.state is StepState.DONE, status
    assert (tmp_path / "pdu-called").read_text().splitlines() == list(argv[1:])
    assert not (tmp_path / "pwned").exists()  # a word is never read as code
    assert any("the site's fence command exited 0" in e for e in status.evidence)
    fenced = engine.check("primary_not_dispatching")
    assert fenced.holds and "by the site's fence command (fence command: " in fenced.detail, fenced
    engine.reconcile()
    assert engine.status("stop-primary").state is StepState.DONE
    engine.journal.close()
    records = read_journal(tmp_path / "run.jsonl").records
    said = f"fence command: {argv[0]} outlet 3 off '$(touch pwned)' 'a b;c', run by olga"
    assert [(r["role"], r["by"], r["how"]) for r in records if r["kind"] == "fenced"] == [
        ("primary", "the site's fence command", said)]
    started = next(r for r in records if r["kind"] == "command_started" and r["step"] == STEP)
    assert started["argv"] == list(argv) and started["shell"] is False
    assert not [r for r in records if r["kind"] == "override"]
    assert "- Primary host lost, fenced by the site's fence command at " in render_report(tmp_path / "run.jsonl")
    assert said in render_report(tmp_path / "run.jsonl")


@pytest.mark.parametrize("make, reason", [
    (lambda tmp: (str(fence_script(tmp, exit_code=3)), "outlet", "3", "off"), "exit code 3: outlet 3: off"),
    (lambda tmp: (str(tmp / "no-such-pdu-ctl"), "off"), "not run: "),
])
def test_a_fence_command_that_fails_fences_nothing_and_the_guards_still_refuse(tmp_path, make, reason):
    engine = engine_for(tmp_path, host_lost(), make(tmp_path))
    status = asyncio.run(engine.run_step(STEP, typed_room="room1"))
    assert status.state is StepState.FAILED and status.reason.startswith(reason), status
    assert engine.fences() == ()
    assert not engine.check("primary_not_dispatching").holds
    with pytest.raises(GuardRefused):
        asyncio.run(engine.run_step("enable-dispatch", typed_room="room1"))
    engine.journal.close()
    assert not [r for r in read_journal(tmp_path / "run.jsonl").records if r["kind"] == "fenced"]


def test_the_fence_command_is_refused_while_the_primary_host_answers(tmp_path):
    engine = engine_for(tmp_path, host_lost(connected=True), (str(fence_script(tmp_path)), "off"))
    with pytest.raises(GuardRefused) as refused:
        asyncio.run(engine.run_step(STEP, typed_room="room1"))
    assert refused.value.failures[0].condition == "primary_host_unreachable"
    assert not (tmp_path / "pdu-called").exists()
    engine.journal.close()


def test_a_site_without_a_fence_command_has_the_step_skipped_saying_so(tmp_path):
    engine = engine_for(tmp_path, host_lost(), ())
    status = engine.status(STEP)
    assert status.state is StepState.SKIPPED
    assert status.reason == "this site has no fence command for room1 (the site settings' [rooms.room1] fence_command)"
    assert engine.preview(STEP).lines[0].startswith("not run: this site has no fence command for room1")
    with pytest.raises(EngineRefusal, match="not run: this site has no fence command"):
        asyncio.run(engine.run_step(STEP, typed_room="room1"))
    assert STEP not in engine.outcome().optional_open and engine.outcome().without_evidence == ()
    engine.journal.close()
    # Resumed with a fence command since: the step is the operator's to run again, not skipped anew.
    resumed, _ = RunEngine.resume(tmp_path / "run.jsonl", engine.checklist, Sees(host_lost()),
                                  RunConfig(tmp_path, fence_command=(str(fence_script(tmp_path)), "off")))
    assert asyncio.run(resumed.run_step(STEP, typed_room="room1")).state is StepState.DONE
    resumed.journal.close()
