"""A procedure queued before the run's own window (its trigger's `quiet_between`) still has its
clearing journaled when the condition ends inside that window. In the flapping-primary
drill "the active stack fails" fires on the crash-looping primary, the trainee shuts the primary
down (the window opens as it starts), and the journal never said the condition cleared: the
episode was dropped unjudged, and the drill report could not time the reaction to its end."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine import records as rec
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine
from tests.observations import Unseen, broker, dns, quiet_room, room, stack, status

CHECKLIST = """\
checklist: {id: window-run, name: A run with a quiet window, revision: "w1"}
non_normal: procs.yaml
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Promote
    steps:
      - {id: stop-primary, title: Stop the primary, type: confirm}
      - {id: recreate-core, title: Recreate the standby's core, type: confirm}
"""
PROCEDURES = """\
checklist: {id: procs, name: Procedures, revision: "w1"}
variables:
  room: {description: The room.}
procedures:
  - id: failing
    title: The active stack fails
    trigger: {when: active_stack_failing, holds_for_s: 2, quiet_between: [stop-primary, recreate-core]}
    steps:
      - {id: failing-fixed, title: Healthy again, type: wait, condition: active_stack_healthy, timeout_s: 5}
"""


def engine_on(tmp_path: Path) -> RunEngine:
    (tmp_path / "procs.yaml").write_text(PROCEDURES)
    (tmp_path / "run.yaml").write_text(CHECKLIST)
    checklist = load_checklist(tmp_path / "run.yaml")
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    return RunEngine.start(checklist, values, Unseen("room1"), tmp_path / "run.jsonl", RunConfig(tmp_path))


def broker_dead() -> object:
    """The primary active (its core dispatches), its broker killed."""
    on = status(online=True, dispatch_enabled=True, critical_armed=False, role="primary", version="8.0.0")
    return room([stack("primary", dispatch=True, others=None), stack("standby")],
                [broker("primary", on, state="unreachable"), broker("standby")], dns(("127.0.0.2",)))


def kinds(tmp_path: Path, cls: type[rec.Record]) -> list[rec.Record]:
    return [r for r in rec.read_all(read_journal(tmp_path / "run.jsonl").records) if isinstance(r, cls)]


def test_a_procedure_queued_before_the_window_says_when_its_condition_cleared_inside_it(tmp_path):
    engine = engine_on(tmp_path)
    for t in (1000.0, 1002.0):
        engine.observe(dataclasses.replace(broker_dead(), at=t))
    assert [q.procedure for q in kinds(tmp_path, rec.ProcedureQueued)] == ["failing"]
    engine.mark_done("stop-primary", confirmed=True)  # the window opens: the run's own steps now
    # The standby took over (its core dispatches alone, its broker answers): the condition ended.
    engine.observe(dataclasses.replace(quiet_room(), at=1010.0))
    (cleared,) = kinds(tmp_path, rec.ProcedureCleared)
    assert cleared.procedure == "failing" and cleared.held_s == 10.0
    assert engine.procedures.status("failing").cleared_at is not None


def test_inside_the_window_a_procedure_not_queued_before_it_is_still_not_queued(tmp_path):
    engine = engine_on(tmp_path)
    engine.mark_done("stop-primary", confirmed=True)
    for t in (1000.0, 1002.0, 1004.0):
        engine.observe(dataclasses.replace(broker_dead(), at=t))
    assert kinds(tmp_path, rec.ProcedureQueued) == []
