"""Non-normal procedures in the run engine, on hand-built observations: a trigger's condition held
for its hold time queues the procedure once per episode (journaled), says when it cleared by itself,
is opened, worked to its end through run_step on its steps, or dismissed with a reason; the run
cannot end complete while one is open; continuously applicable conditions are journaled against
the step the operator is at; a resumed engine, the replay and the report tell the same story."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine import records as rec
from runbook_tui.engine.events import HoldChanged, ProcedureChanged
from runbook_tui.engine.journal import read_journal, read_run
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import EngineRefusal, RunConfig, RunEngine, StepState
from runbook_tui.observe.model import RoomObservation
from tests.conftest import REPO
from tests.observations import broker, dns, dual_control_room, quiet_room, room, stack, status

CHECKLIST = """\
checklist: {id: nn-run, name: A run with procedures, revision: "p1"}
non_normal: procs.yaml
holds: [standby_stack_running]
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Promote
    steps:
      - {id: stop-primary, title: Stop the primary, type: confirm}
      - {id: repoint, title: Repoint, type: confirm}
"""
PROCEDURES = """\
checklist: {id: procs, name: Procedures, revision: "q1"}
variables:
  room: {description: The room.}
procedures:
  - id: dual
    title: Dual control in {{room}}
    trigger: {when: dual_control_standby_promoted, holds_for_s: 2}
    holds: [standby_stack_running]
    steps:
      - {id: dual-stop, title: Stop the primary's core, type: command, command: "true"}
      - {id: dual-confirm, title: Confirm it stopped, type: confirm}
  - id: back
    title: The primary came back
    trigger: {when: primary_came_back, holds_for_s: 1, after: stop-primary}
    steps:
      - {id: back-confirm, title: Confirm, type: confirm}
  - id: away
    title: DNS away
    trigger: {when: dns_points_away_from_active, holds_for_s: 1, quiet_between: [stop-primary, repoint]}
    steps:
      - {id: away-confirm, title: Confirm, type: confirm}
"""
UNSEEN = RoomObservation("room1", "mqtt.room1.sentientengine.ai", ())


class Sees:
    def look(self, parts=None) -> RoomObservation:
        return UNSEEN


def write(tmp_path: Path, checklist: str = CHECKLIST, procedures: str = PROCEDURES) -> Path:
    (tmp_path / "procs.yaml").write_text(procedures)
    path = tmp_path / "run.yaml"
    path.write_text(checklist)
    return path


def new_engine(tmp_path: Path, events: list | None = None) -> RunEngine:
    checklist = load_checklist(write(tmp_path))
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    return RunEngine.start(checklist, values, Sees(), tmp_path / "run.jsonl", RunConfig(tmp_path),
                           on_event=events.append if events is not None else None)


def kinds(tmp_path: Path, *types: type[rec.Record]) -> list[rec.Record]:
    return [r for r in rec.read_all(read_journal(tmp_path / "run.jsonl").records) if isinstance(r, types)]


def at(obs: RoomObservation, t: float) -> RoomObservation:
    return dataclasses.replace(obs, at=t)


def test_a_trigger_queues_its_procedure_once_it_has_held_for_its_hold_time_and_once_per_episode(tmp_path):
    events: list = []
    engine = new_engine(tmp_path, events)
    engine.observe(at(dual_control_room(), 1000.0))
    engine.observe(at(dual_control_room(), 1001.5))
    assert engine.procedures.queued() == ()  # held 1.5 s of its 2
    engine.observe(at(dual_control_room(), 1002.0))
    engine.observe(at(dual_control_room(), 1003.0))  # the same episode: not queued twice
    (queued,) = kinds(tmp_path, rec.ProcedureQueued)
    assert (queued.procedure, queued.condition, queued.held_s, queued.episode) == ("dual", "dual_control_standby_promoted",
                                                                                   2.0, 1)
    assert queued.title == "Dual control in room1" and "both run with dispatch enabled" in queued.detail
    assert [p.id for p in engine.procedures.open_ones()] == ["dual"]
    assert [e.what for e in events if isinstance(e, ProcedureChanged)] == ["queued"]
    assert engine.outcome().verdict == "incomplete" and engine.outcome().procedures_open == ("dual",)


def test_a_condition_that_stops_holding_before_the_hold_time_queues_nothing(tmp_path):
    engine = new_engine(tmp_path)
    engine.observe(at(dual_control_room(), 1000.0))
    engine.observe(at(quiet_room(), 1001.0))  # the episode ends
    engine.observe(at(dual_control_room(), 1002.5))  # a new one starts here
    engine.observe(at(dual_control_room(), 1003.5))
    assert kinds(tmp_path, rec.ProcedureQueued) == []


def test_a_condition_that_clears_by_itself_says_so_and_the_procedure_stays_open_until_dismissed(tmp_path):
    engine = new_engine(tmp_path)
    for t in (1000.0, 1002.0):
        engine.observe(at(dual_control_room(), t))
    engine.observe(at(quiet_room(), 1005.0))
    (cleared,) = kinds(tmp_path, rec.ProcedureCleared)
    assert cleared.by_itself and cleared.held_s == 5.0
    assert engine.procedures.status("dual").cleared_at is not None
    assert engine.outcome().procedures_open == ("dual",)  # cleared is not answered
    for step in ("stop-primary", "repoint"):
        engine.mark_done(step, confirmed=True)
    assert engine.outcome().verdict == "incomplete"
    with pytest.raises(EngineRefusal, match="reason"):
        engine.procedures.dismiss("dual", "  ")
    engine.procedures.dismiss("dual", "it stopped by itself: the primary's host rebooted")
    assert engine.outcome().verdict == "complete"
    assert engine.finish() == "complete"
    run = read_run(tmp_path / "run.jsonl")
    assert run.outcome.verdict == "complete" and run.procedures["dual"].dismissed_reason.startswith("it stopped")


def test_a_procedure_is_worked_to_its_end_through_run_step_on_its_steps(tmp_path):
    events: list = []
    engine = new_engine(tmp_path, events)
    with pytest.raises(EngineRefusal, match="not queued"):
        asyncio.run(engine.run_step("dual-stop", confirmed=True))
    for t in (1000.0, 1002.0):
        engine.observe(at(dual_control_room(), t))
    asyncio.run(engine.run_step("dual-stop", confirmed=True))  # opens it first
    assert engine.statuses["dual-stop"].state is StepState.DONE
    assert engine.procedures.status("dual").opened_at is not None and engine.procedures.status("dual").open
    engine.mark_done("dual-confirm", confirmed=True)
    assert not engine.procedures.status("dual").open
    steps = [r for r in kinds(tmp_path, rec.StepStateRecord) if r.procedure == "dual"]
    assert [(r.step, r.state) for r in steps] == [("dual-stop", "running"), ("dual-stop", "done"), ("dual-confirm", "done")]
    (worked,) = kinds(tmp_path, rec.ProcedureWorked)
    assert worked.steps == {"dual-stop": "done", "dual-confirm": "done"}
    assert [e.what for e in events if isinstance(e, ProcedureChanged)] == ["queued", "opened", "worked"]
    engine.observe(at(quiet_room(), 1010.0))
    (cleared,) = kinds(tmp_path, rec.ProcedureCleared)
    assert not cleared.by_itself
    # The normal checklist's steps are untouched, and it alone holds the run open now.
    assert engine.outcome().open == ("stop-primary", "repoint") and engine.outcome().procedures_open == ()
    report = render_report(tmp_path / "run.jsonl")
    section = report.split("## Non-normal procedures")[1].split("\n## ")[0]
    assert "### Dual control in room1 (`dual`)" in section
    for said in ("queued: dual_control_standby_promoted held 2 s", "opened by", "worked: `dual-stop` done",
                 "worked: `dual-confirm` done", "worked to its end", "its condition cleared while it was worked"):
        assert said in section, said


def test_a_new_episode_after_the_procedure_was_worked_queues_it_again_with_its_steps_to_work_anew(tmp_path):
    engine = new_engine(tmp_path)
    for t in (1000.0, 1002.0):
        engine.observe(at(dual_control_room(), t))
    engine.procedures.dismiss("dual", "drill")
    engine.mark_done("dual-confirm", confirmed=True)
    engine.observe(at(quiet_room(), 1003.0))
    for t in (1010.0, 1012.0):
        engine.observe(at(dual_control_room(), t))
    queued = kinds(tmp_path, rec.ProcedureQueued)
    assert [q.episode for q in queued] == [1, 2]
    status = engine.procedures.status("dual")
    assert status.open and status.episode == 2 and status.dismissed_at is None
    assert engine.statuses["dual-confirm"].state is StepState.PENDING
    # The step set back is journaled after the new episode's record, and the report says it under
    # that episode (seen on a site walk: under the episode before).
    records = rec.read_all(read_journal(tmp_path / "run.jsonl").records)
    second = next(i for i, r in enumerate(records) if isinstance(r, rec.ProcedureQueued) and r.episode == 2)
    reset = next(i for i, r in enumerate(records) if isinstance(r, rec.StepStateRecord) and r.step == "dual-confirm"
                 and r.state == "pending")
    assert reset > second
    report = render_report(tmp_path / "run.jsonl")
    assert report.index("queued again") > report.index("episode 2"), report


def test_after_arms_a_trigger_only_once_its_step_is_done(tmp_path):
    back = room([stack("primary", dispatch=False), stack("standby", dispatch=True)],
                [broker("primary", status(online=True, dispatch_enabled=False)),
                 broker("standby", status(online=True, dispatch_enabled=True))], dns(("127.0.0.3",)), standby_dispatch=True)
    engine = new_engine(tmp_path)
    for t in (1000.0, 1001.0, 1002.0):
        engine.observe(at(back, t))
    assert engine.procedures.status("back") is None  # stop-primary not done: the primary is meant to be up
    engine.mark_done("stop-primary", confirmed=True)
    for t in (1003.0, 1004.0):
        engine.observe(at(back, t))
    assert engine.procedures.status("back") is not None


def test_quiet_between_leaves_the_runs_own_window_alone(tmp_path):
    # The standby dispatches alone and the name still answers the primary: what the run does
    # between stopping the primary and repointing the name.
    away = dataclasses.replace(quiet_room(), dns=dns(("127.0.0.2",)))
    engine = new_engine(tmp_path)
    engine.mark_done("stop-primary", confirmed=True)
    for t in (1000.0, 1001.0, 1002.0):
        engine.observe(at(away, t))
    assert engine.procedures.status("away") is None
    engine.mark_done("repoint", confirmed=True)  # repointed, and the name answers the primary again
    for t in (1003.0, 1004.0):
        engine.observe(at(away, t))
    assert engine.procedures.status("away") is not None


def test_a_condition_that_holds_throughout_is_journaled_against_the_step_the_operator_is_at(tmp_path):
    events: list = []
    engine = new_engine(tmp_path, events)
    engine.observe(at(quiet_room(), 1000.0))
    engine.mark_done("stop-primary", confirmed=True)
    down = dataclasses.replace(quiet_room(), stacks=(stack("primary", core="exited", others="exited"),
                                                     stack("standby", core="exited", dispatch=True)))
    engine.observe(at(down, 1001.0))
    engine.observe(at(down, 1002.0))  # once
    (breach,) = kinds(tmp_path, rec.HoldBreached)
    assert (breach.condition, breach.step, breach.procedure) == ("standby_stack_running", "repoint", "")
    engine.observe(at(quiet_room(), 1003.0))
    (restored,) = kinds(tmp_path, rec.HoldRestored)
    assert restored.step == "repoint"
    holds = [e for e in events if isinstance(e, HoldChanged)]
    assert [(h.breached, h.step_id) for h in holds] == [(True, "repoint"), (False, "repoint")]


def test_a_resumed_engine_keeps_the_queue_and_does_not_queue_the_same_episode_again(tmp_path):
    engine = new_engine(tmp_path)
    for t in (1000.0, 1002.0):
        engine.observe(at(dual_control_room(), t))
    engine.procedures.open("dual")
    engine.journal.close()
    checklist = load_checklist(tmp_path / "run.yaml")
    resumed, _notes = RunEngine.resume(tmp_path / "run.jsonl", checklist, Sees(), RunConfig(tmp_path))
    status = resumed.procedures.status("dual")
    assert status is not None and status.open and status.opened_at is not None
    for t in (1005.0, 1007.0):
        resumed.observe(at(dual_control_room(), t))
    assert len(kinds(tmp_path, rec.ProcedureQueued)) == 1
    resumed.observe(at(quiet_room(), 1008.0))
    assert len(kinds(tmp_path, rec.ProcedureCleared)) == 1


def test_a_procedure_raised_from_the_venue_is_queued_by_hand(tmp_path):
    engine = new_engine(tmp_path)
    status = engine.procedures.queue("dual", "raised on room1's row")
    assert status.source == "venue" and status.open
    (queued,) = kinds(tmp_path, rec.ProcedureQueued)
    assert queued.source == "venue"
    assert "raised from the venue view" in render_report(tmp_path / "run.jsonl")
    # The run's own trigger sees the same episode: not queued twice, and it says when it clears.
    for t in (1000.0, 1002.0, 1004.0):
        engine.observe(at(dual_control_room(), t))
    assert len(kinds(tmp_path, rec.ProcedureQueued)) == 1
    engine.observe(at(quiet_room(), 1005.0))
    assert len(kinds(tmp_path, rec.ProcedureCleared)) == 1


def test_a_condition_ended_by_a_step_of_the_procedure_did_not_clear_by_itself(tmp_path):
    # The step that stops the core ends dual control before the procedure's last step is done.
    engine = new_engine(tmp_path)
    for t in (1000.0, 1002.0):
        engine.observe(at(dual_control_room(), t))
    asyncio.run(engine.run_step("dual-stop", confirmed=True))
    engine.observe(at(quiet_room(), 1003.0))
    (cleared,) = kinds(tmp_path, rec.ProcedureCleared)
    assert not cleared.by_itself
    assert engine.procedures.status("dual").open  # its last step is still to do


def test_the_quiet_window_opens_when_its_first_step_starts_running(tmp_path):
    # Shutting the primary down takes its broker away while its core still stops: the window is
    # the run's own from the moment the step runs, not once it is done.
    from runbook_tui.engine.events import StepStatus

    away = dataclasses.replace(quiet_room(), dns=dns(("127.0.0.2",)))
    engine = new_engine(tmp_path)
    engine.set_status("stop-primary", StepStatus(StepState.RUNNING, "", (), 999.0))
    for t in (1000.0, 1001.0, 1002.0):
        engine.observe(at(away, t))
    assert engine.procedures.status("away") is None


def test_a_resumed_run_does_not_queue_again_a_procedure_raised_from_the_venue(tmp_path):
    engine = new_engine(tmp_path)
    engine.procedures.queue("dual", "raised on room1's row")
    engine.journal.close()
    resumed, _notes = RunEngine.resume(tmp_path / "run.jsonl", load_checklist(tmp_path / "run.yaml"), Sees(),
                                       RunConfig(tmp_path))
    for t in (1000.0, 1002.0, 1004.0):
        resumed.observe(at(dual_control_room(), t))
    assert len(kinds(tmp_path, rec.ProcedureQueued)) == 1


WAITS = """\
checklist: {id: procs, name: Procedures, revision: "q2"}
variables:
  room: {description: The room.}
procedures:
  - id: dual
    title: Dual control in {{room}}
    trigger: {when: dual_control_standby_promoted, holds_for_s: 1}
    steps:
      - {id: dual-stop, title: Stop the primary's core, type: confirm}
      - {id: dual-ended, title: The primary no longer dispatches, type: wait, condition: primary_not_dispatching}
"""


def test_an_opened_procedures_wait_step_is_ticked_by_the_live_room_as_the_checklists_are(tmp_path):
    checklist = load_checklist(write(tmp_path, procedures=WAITS))
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(), tmp_path / "run.jsonl", RunConfig(tmp_path))
    for t in (1000.0, 1001.0):
        engine.observe(at(dual_control_room(), t))
    engine.procedures.open("dual")
    engine.mark_done("dual-stop", confirmed=True)
    engine.observe(at(quiet_room(), 1002.0))  # the primary's core stopped: what the wait waits for
    assert engine.statuses["dual-ended"].state is StepState.DONE
    assert [(r.step, r.condition) for r in kinds(tmp_path, rec.EvidenceSeen)] == [("dual-ended", "primary_not_dispatching")]
    assert engine.procedures.status("dual").worked_at is not None
    (cleared,) = kinds(tmp_path, rec.ProcedureCleared)
    assert not cleared.by_itself


def test_a_procedure_only_queued_is_not_worked_by_the_room_its_condition_clearing_by_itself(tmp_path):
    checklist = load_checklist(write(tmp_path, procedures=WAITS))
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(), tmp_path / "run.jsonl", RunConfig(tmp_path))
    for t in (1000.0, 1001.0):
        engine.observe(at(dual_control_room(), t))
    engine.observe(at(quiet_room(), 1002.0))
    assert engine.statuses["dual-ended"].state is StepState.PENDING and engine.procedures.status("dual").open
    (cleared,) = kinds(tmp_path, rec.ProcedureCleared)
    assert cleared.by_itself
    engine.procedures.open("dual")  # opened later: its wait ticks on the next look, as the room stands
    engine.observe(at(quiet_room(), 1003.0))
    assert engine.statuses["dual-ended"].state is StepState.DONE


def test_the_report_keeps_each_procedures_records_under_its_own_heading_when_two_are_open_at_once(tmp_path):
    engine = new_engine(tmp_path)
    engine.mark_done("stop-primary", confirmed=True)
    engine.procedures.queue("dual", "raised on room1's row")
    engine.procedures.queue("back", "raised on room1's row")  # queued second, worked first
    engine.procedures.open("back")
    engine.mark_done("back-confirm", confirmed=True)
    engine.procedures.open("dual")
    engine.procedures.dismiss("dual", "drill of the report")
    section = render_report(tmp_path / "run.jsonl").split("## Non-normal procedures")[1].split("\n## ")[0]
    dual = section.split("(`dual`)")[1].split("\n### ")[0]
    back = section.split("(`back`)")[1].split("\n### ")[0]
    assert "opened by" in dual and "dismissed by" in dual and "back-confirm" not in dual, dual
    assert "opened by" in back and "worked: `back-confirm` done" in back and "worked to its end" in back, back
    assert "dismissed" not in back, back


def test_a_condition_ended_while_the_operator_runs_a_wait_of_the_procedure_did_not_clear_by_itself(tmp_path):
    # The resolver's record is corrected in another terminal while the procedure's wait waits for
    # it: the condition ends before the wait's next look passes the step.
    checklist = load_checklist(write(tmp_path, procedures=WAITS))
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(), tmp_path / "run.jsonl", RunConfig(tmp_path))
    for t in (1000.0, 1001.0):
        engine.observe(at(dual_control_room(), t))

    async def waiting_while_it_ends() -> None:
        task = asyncio.create_task(engine.run_step("dual-ended", confirmed=True))
        while engine.running_step != "dual-ended":
            await asyncio.sleep(0.01)
        engine.observe(at(quiet_room(), 1002.0))
        engine.cancel()
        await task

    asyncio.run(waiting_while_it_ends())
    (cleared,) = kinds(tmp_path, rec.ProcedureCleared)
    assert not cleared.by_itself


def test_dual_control_during_the_shipped_failback_queues_its_procedure(tmp_path):
    # Seen: only the promotion named procedures; in a failback dual control raised the alarm and
    # no procedure said what to do.
    checklist = load_checklist(REPO / "checklists" / "failback.yaml")
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(), tmp_path / "run.jsonl", RunConfig(tmp_path))
    for t in (1000.0, 1001.0, 1002.0):
        engine.observe(at(dual_control_room(), t))
    assert [p.id for p in engine.procedures.open_ones()] == ["dual-control-primary"]
    assert engine.outcome().verdict == "incomplete"


def test_a_procedure_steps_evidence_lapsed_when_it_was_worked_is_said_to_hold_again(tmp_path):
    lapsing = WAITS.replace("type: confirm}", "type: confirm}\n      - {id: dual-standby-up, title: The standby stays up, "
                                              "type: wait, condition: standby_stack_running}")
    checklist = load_checklist(write(tmp_path, procedures=lapsing))
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(), tmp_path / "run.jsonl", RunConfig(tmp_path))
    for t in (1000.0, 1001.0):
        engine.observe(at(dual_control_room(), t))
    engine.procedures.open("dual")
    engine.observe(at(dual_control_room(), 1002.0))
    assert engine.statuses["dual-standby-up"].state is StepState.DONE  # on evidence, once opened
    standby_down = dataclasses.replace(dual_control_room(), stacks=(stack("primary", dispatch=True),
                                                                    stack("standby", core="exited", others="exited")))
    engine.observe(at(standby_down, time.time() + 1))
    assert "dual-standby-up" in engine.lapses
    engine.mark_done("dual-stop", confirmed=True)
    both_down = dataclasses.replace(quiet_room(), stacks=(stack("primary", core="exited", others="exited"),
                                                          stack("standby", core="exited", others="exited")))
    engine.observe(at(both_down, time.time() + 2))  # the primary stopped: worked, the standby still down
    assert engine.procedures.status("dual").worked_at is not None and "dual-standby-up" in engine.lapses
    engine.observe(at(quiet_room(), time.time() + 3))  # the standby up again
    assert "dual-standby-up" not in engine.lapses
    assert [r.step for r in kinds(tmp_path, rec.ConditionRestored)] == ["dual-standby-up"]
