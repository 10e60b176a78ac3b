"""One replay of the journal: the console (live, and after a resume), the floor view and the
report tell the same run the same way. The run is a real RunEngine's, driven with hand-built
observations (tests/observations.py): it finishes, then a step's evidence lapses and holds
again while dual control is raised, cleared and acknowledged, a step is overridden, and a
second step's evidence lapses and stays lapsed."""

from __future__ import annotations

import re
import time
from pathlib import Path

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.model import StepType
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine import replay as replay_module
from runbook_tui.engine.floor import FloorState, floor_state
from runbook_tui.engine.journal import read_journal, read_run
from runbook_tui.engine.replay import plan_from_checklist, replay
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import ACTING_TYPES, RunConfig, RunEngine, StepState
from runbook_tui.observe.model import RoomObservation
from tests.observations import dual_control_room, quiet_room, room
from tests.unit.engine.test_engine_observe import name_back_on_primary, primary_up_again  # noqa: F401 - used by UI tests too

CHECKLIST = """\
checklist: {id: replay-steps, name: Replay steps, revision: "r1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Promote
    steps:
      - {id: stop-primary, title: Stop the primary, type: command, risk: destructive,
         command: "true", done_when: primary_stack_down}
      - {id: repoint, title: Point the broker name at the standby, type: wait, condition: dns_points_to_standby,
         timeout_s: 1}
      - {id: controllers, title: Controllers on the standby, type: confirm}
"""
UNSEEN = RoomObservation("room1", "mqtt.room1.sentientengine.ai", ())


class Sees:
    def look(self, parts=None) -> RoomObservation:
        return UNSEEN


def new_engine(tmp_path: Path) -> RunEngine:
    path = tmp_path / "replay-steps.yaml"
    path.write_text(CHECKLIST)
    checklist = load_checklist(path)
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    return RunEngine.start(checklist, values, Sees(), tmp_path / "room1-replay-steps-1.jsonl", RunConfig(tmp_path, operator="olga"))


def console(engine: RunEngine) -> dict:
    """What the console shows: each step's state and whether its evidence no longer holds (and
    was acknowledged), the alarms raised and kept until acknowledged, the outcome."""
    outcome = engine.outcome()
    return {
        "steps": {s.id: (engine.status(s.id).state.value, _lapse(engine.lapses.get(s.id), engine.status(s.id).state.value))
                  for s in engine.applicable_steps()},
        "alarms raised": tuple(a.kind for a in engine.active_alarms),
        "alarm kept until acknowledged": bool(engine.alarms_unacknowledged),
        "verdict": outcome.verdict,
        "lapsed": outcome.lapsed,
        # The console declares the run finished once (run_finished); finished it stays while its outcome says so.
        "finished": outcome.finished and any(r["kind"] == "run_finished" for r in read_journal(engine.journal.path).records),
    }


def _lapse(lapse, state: str) -> str:
    if lapse is None or state != "done":
        return ""
    return "acknowledged" if lapse.acknowledged else "no longer holds"


def floor(state: FloorState) -> dict:
    """What the phone shows, in the same terms."""
    return {
        "steps": {s.id: (s.state, "" if not s.lapse else "acknowledged" if "(acknowledged:" in s.lapse else "no longer holds")
                  for s in state.steps},
        "alarms raised": tuple(a.split(":")[0].replace(" ", "_") for a in state.alarms if not a.startswith("in this run")),
        "alarm kept until acknowledged": bool(state.alarms),
        "verdict": state.outcome.split(" ")[0] if not state.outcome.startswith("complete") else
        re.match(r"complete( except deferred items)?", state.outcome).group(0),
        "lapsed": tuple(s.id for s in state.steps if s.lapse and "(acknowledged:" not in s.lapse),
        "finished": state.ended.startswith("finished"),
    }


def report(text: str, engine: RunEngine) -> dict:
    """What the after-action report says, in the same terms."""
    rows = {}
    for s in engine.applicable_steps():
        row = next(line for line in text.splitlines() if f"(`{s.id}`)" in line and line.startswith("| "))
        cell = row.split(" | ")[1]
        rows[s.id] = (cell.split(",")[0], "acknowledged" if "(acknowledged)" in cell else
                      "no longer holds" if "no longer holds" in cell else "")
    outcome = re.search(r"- (?:Outcome|So far): \*\*(?!not finished)(.*?)\*\*", text)
    lapsed = re.search(r"- Evidence no longer holding at the end: (.*)", text)
    alarms = text.split("## Alarms", 1)[1].split("##", 1)[0]
    return {
        "steps": rows,
        "alarms raised": tuple(k.replace(" ", "_") for k in re.findall(r"- \S+ (.+?):.*still raised at the end", alarms)),
        "alarm kept until acknowledged": None,  # the report lists every alarm and every acknowledgement
        "verdict": re.match(r"incomplete|complete( except deferred items)?|nothing was done", outcome.group(1)).group(0)
        if outcome else None,
        "lapsed": tuple(lapsed.group(1).split(", ")) if lapsed else (),
        "finished": bool(re.search(r"- Finished: \d", text)),
    }


def agree(engine: RunEngine) -> dict:
    """The console, the phone and the report say the same; returns what they say."""
    said = console(engine)
    assert floor(floor_state(engine.journal.path)) == said
    written = report(render_report(engine.journal.path), engine)
    assert written == {**said, "alarm kept until acknowledged": None}
    return said


def test_the_console_the_phone_and_the_report_tell_the_same_run(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(quiet_room())  # both steps done on evidence
    engine.override("controllers", typed_room="room1", reason="seen on the venue's camera")
    assert agree(engine)["verdict"] == "complete"
    first_finish = time.time()
    engine.finish()
    assert agree(engine)["finished"]

    # Dual control: the primary is back with dispatch on (its evidence lapses), then gone again.
    engine.observe(dual_control_room())
    said = agree(engine)
    assert said["alarms raised"] == ("dual_control",) and said["steps"]["stop-primary"] == ("done", "no longer holds")
    assert said["verdict"] == "incomplete" and not said["finished"]  # seen: the phone said "finished: complete"
    engine.observe(quiet_room())  # cleared, and the lapse restored
    said = agree(engine)
    assert said["alarms raised"] == () and said["alarm kept until acknowledged"]  # seen: the phone dropped it
    assert said["steps"]["stop-primary"] == ("done", "") and said["verdict"] == "complete"
    engine.acknowledge_alarms("the primary was stopped again; dispatch checked by hand")
    assert not agree(engine)["alarm kept until acknowledged"]

    # The name points back at the primary: that lapse stays.
    engine.observe(name_back_on_primary())
    said = agree(engine)
    assert said["steps"]["repoint"] == ("done", "no longer holds") and said["lapsed"] == ("repoint",)
    assert said["verdict"] == "incomplete"
    state = floor_state(engine.journal.path)
    assert not state.ended and "it was finished at" in state.outcome
    assert "incomplete · 1 no longer holds · 1 step without evidence (3)" in state.outcome
    text = render_report(engine.journal.path)
    assert "then reopened: not finished at the end of the journal" in text
    assert "**incomplete with 1 step without evidence (controllers), with " in text

    # A console resumed from the journal says the same as the one that wrote it.
    before = console(engine)
    engine.journal.close()
    resumed, _notes = RunEngine.resume(engine.journal.path, load_checklist(tmp_path / "replay-steps.yaml"), Sees(),
                                       RunConfig(tmp_path))
    assert console(resumed) == before and resumed.outcome() == engine.outcome()
    assert resumed.lapses == engine.lapses and resumed.alarm_spans == engine.alarm_spans
    assert agree(resumed) == before

    # It holds again: finished again, and the report's "Finished" is this finish, not the first.
    time.sleep(1.1)  # the report says seconds
    resumed.observe(quiet_room())
    assert agree(resumed)["finished"]
    [*_, restored] = [r for r in read_journal(resumed.journal.path).records if r["kind"] == "condition_restored"]
    finished = re.search(r"- Finished: (\S+ \S+)", render_report(resumed.journal.path)).group(1)
    assert finished == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(restored["ts"]))
    assert finished != time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(first_finish))
    assert read_run(resumed.journal.path).finished_at == restored["ts"]


def test_the_replay_takes_the_last_finish_and_the_last_words(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(quiet_room())
    engine.override("controllers", typed_room="room1", reason="camera")
    engine.finish()
    engine.observe(primary_up_again())  # lapses after the finish
    engine.acknowledge_lapse("stop-primary", "started again for a dump")
    engine.finish()  # declared again: the replay keeps the last
    records = read_journal(engine.journal.path).records
    declared = [r for r in records if r["kind"] == "run_finished"]
    run = replay(records, plan_from_checklist(engine.checklist))
    assert len(declared) == 2 and run.declared.at == declared[-1]["ts"] and run.finished_at == declared[-1]["ts"]
    assert run.outcome == engine.outcome() and run.lapses == engine.lapses


def test_a_journal_whose_checklist_is_gone_is_still_replayed_from_the_journal_alone(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(quiet_room())
    engine.observe(room(quiet_room().stacks, quiet_room().brokers, None))
    (tmp_path / "replay-steps.yaml").unlink()
    state = floor_state(engine.journal.path)
    assert [(s.id, s.state) for s in state.steps] == [("stop-primary", "done"), ("repoint", "done"),
                                                      ("controllers", "pending")]
    assert state.outcome == "incomplete"


def test_the_replays_acting_steps_are_the_engines():
    # One definition: the engine judges its outcome by the replay's rules, with the replay's types.
    assert ACTING_TYPES is replay_module.ACTING_TYPES
    assert {StepType.COMMAND, StepType.ENV_EDIT, StepType.DISPATCH_SMOKE} == set(ACTING_TYPES)
    assert StepState.DONE.value == "done"


def test_the_plan_the_journal_says_serves_as_well_as_the_checklists(tmp_path: Path):
    # A journal whose run_started says which steps act and which supersede others is replayed
    # from the journal alone, as the checklist would have it: "shut the primary down" ends
    # "bring up the primary" on purpose, and that holds nothing open.
    from tests.conftest import REPO

    c = load_checklist(REPO / "checklists" / "promotion.yaml")
    engine = RunEngine.start(c, resolve_variables(c, {"room": "room1"}, tmp_path).values, Sees(),
                             tmp_path / "room1-promotion-1.jsonl", RunConfig(tmp_path))
    engine.override("stop-primary", typed_room="room1", reason="stopped by hand")
    records = read_journal(engine.journal.path).records
    by_id = {s.id: s for s in c.steps()}
    for s in records[0]["steps"]:
        s["acting"], s["supersedes"] = by_id[s["id"]].type in ACTING_TYPES, list(by_id[s["id"]].supersedes)
    from_journal = replay(records)
    assert from_journal.superseded() == engine.superseded() == {"up-primary": "stop-primary"}
    assert from_journal.outcome == engine.outcome() == replay(records, plan_from_checklist(c)).outcome
