"""A drill's reaction to the non-normal procedures its fault brings on, timed from the journal the
engine writes: from each trigger firing (the procedure queued) to the trainee opening it, to it
worked to its end, to its condition clearing; each episode on its own. The journal's clock is
stepped by hand, so the times are exact."""

from __future__ import annotations

import asyncio
import dataclasses
import types
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine import journal as journal_module
from runbook_tui.engine.drill_report import drill_figures
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import RunConfig, RunEngine
from runbook_tui.observe.model import RoomObservation
from tests.observations import Unseen, dual_control_room, quiet_room

CHECKLIST = """\
checklist: {id: drill-run, name: A drill with a procedure, revision: "d1"}
non_normal: procs.yaml
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Promote
    steps:
      - {id: stop-primary, title: Stop the primary, type: confirm}
"""
PROCEDURES = """\
checklist: {id: procs, name: Procedures, revision: "q1"}
variables:
  room: {description: The room.}
procedures:
  - id: dual
    title: Dual control in {{room}}
    trigger: {when: dual_control_standby_promoted, holds_for_s: 2}
    steps:
      - {id: dual-stop, title: Stop the primary's core, type: command, command: "true"}
      - {id: dual-confirm, title: Confirm it stopped, type: confirm}
"""


class Clock:
    """The journal's clock: each record is stamped with `now`."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(1000.0)
    monkeypatch.setattr(journal_module, "time", types.SimpleNamespace(time=clock.time))
    return clock


def drill_engine(tmp_path: Path) -> RunEngine:
    (tmp_path / "procs.yaml").write_text(PROCEDURES)
    (tmp_path / "run.yaml").write_text(CHECKLIST)
    checklist = load_checklist(tmp_path / "run.yaml")
    values = resolve_variables(checklist, {"room": "room9"}, tmp_path).values
    config = RunConfig(tmp_path, lab=True, drill="flapping-primary", operator="ana")
    return RunEngine.start(checklist, values, Unseen(), tmp_path / "drill.jsonl", config)


def seen(engine: RunEngine, clock: Clock, obs: RoomObservation, t: float) -> None:
    clock.now = t
    engine.observe(dataclasses.replace(obs, at=t))


def test_the_reaction_to_each_procedure_is_timed_from_its_trigger_to_opened_worked_and_cleared(tmp_path, clock):
    engine = drill_engine(tmp_path)
    seen(engine, clock, dual_control_room(), 1000.0)
    seen(engine, clock, dual_control_room(), 1002.0)  # held its 2 s: fired, queued at 1002
    clock.now = 1009.0
    engine.procedures.open("dual")  # the trainee opens it 7 s after it fired
    clock.now = 1012.0
    asyncio.run(engine.run_step("dual-stop", confirmed=True))
    clock.now = 1015.0
    engine.mark_done("dual-confirm", confirmed=True)  # worked to its end 13 s after it fired
    seen(engine, clock, quiet_room(), 1020.0)  # the condition cleared 18 s after it fired
    # A second episode the trainee leaves alone: it clears by itself, never opened.
    seen(engine, clock, dual_control_room(), 1030.0)
    seen(engine, clock, dual_control_room(), 1032.5)
    seen(engine, clock, quiet_room(), 1040.0)
    clock.now = 1045.0
    engine.procedures.dismiss("dual", "it ended by itself: the trainer healed the fault")
    engine.journal.close()

    records = read_journal(tmp_path / "drill.jsonl").records
    first, second = drill_figures(records)["reactions"]
    assert first == {"procedure": "dual", "title": "Dual control in room9", "episode": 1, "held_s": 2.0,
                     "source": "trigger", "to_opened_s": 7.0, "to_worked_s": 13.0, "to_cleared_s": 18.0, "cleared_by_itself": False,
                     "dismissed": False}
    assert second == {"procedure": "dual", "title": "Dual control in room9", "episode": 2, "held_s": 2.5,
                      "source": "trigger", "to_opened_s": None, "to_worked_s": None, "to_cleared_s": 7.5, "cleared_by_itself": True,
                      "dismissed": True}

    drill = render_report(tmp_path / "drill.jsonl").split("## Drill\n", 1)[1].split("\n## ", 1)[0]
    assert "- Reaction to the non-normal procedures, timed from each one's trigger firing (queued):" in drill
    assert ("  - Dual control in room9 (`dual`), its condition held 2 s when it fired: opened after 7.0s; "
            "worked to its end after 13.0s; its condition cleared after 18.0s") in drill, drill
    assert ("  - Dual control in room9 (`dual`, episode 2), its condition held 2.5 s when it fired: never opened; "
            "dismissed; its condition cleared by itself after 7.5s") in drill, drill


def test_a_procedure_raised_from_the_venue_is_timed_from_its_raising(tmp_path, clock):
    engine = drill_engine(tmp_path)
    engine.procedures.queue("dual", "raised on room9's row")
    clock.now = 1004.0
    engine.procedures.open("dual")
    engine.journal.close()
    (raised,) = drill_figures(read_journal(tmp_path / "drill.jsonl").records)["reactions"]
    assert raised["source"] == "venue" and raised["to_opened_s"] == 4.0
    assert ("  - Dual control in room9 (`dual`), raised from the venue view: opened after 4.0s; its condition never "
            "cleared") in render_report(tmp_path / "drill.jsonl")


def test_a_drill_whose_fault_queued_no_procedure_says_so(tmp_path, clock):
    engine = drill_engine(tmp_path)
    seen(engine, clock, quiet_room(), 1000.0)
    engine.journal.close()
    assert drill_figures(read_journal(tmp_path / "drill.jsonl").records)["reactions"] == []
    assert "- Non-normal procedures: none queued" in render_report(tmp_path / "drill.jsonl")
