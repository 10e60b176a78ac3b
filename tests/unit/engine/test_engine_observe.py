"""RunEngine.observe on hand-built observations: steps ticked on evidence, lapses journaled
and restored, acknowledged with a reason, alarms raised and cleared, and all of it rebuilt
by a resumed engine from the journal alone. No Docker, broker or DNS: the engine is given
the observations (tests/observations.py), and its one-shot look is a stand-in that sees
nothing, so nothing here reaches out."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import AlarmChanged, EngineRefusal, LapseChanged, RunConfig, RunEngine, StepState
from runbook_tui.observe.model import RoomObservation
from runbook_tui.observe.status import parse_core_status
from runbook_tui.rules.outcome import AlarmSpan
from tests.observations import broker, dns, dual_control_room, quiet_room, room, stack, status

CHECKLIST = """\
checklist: {id: observe-steps, name: Observe steps, revision: "o1"}
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
"""
UNSEEN = RoomObservation("room1", "mqtt.room1.sentientengine.ai", ())  # no part looked at


class Sees:
    """Stands in for the one-shot look (resume reconciles with one): returns what it is given."""

    def __init__(self, obs: RoomObservation = UNSEEN) -> None:
        self.obs = obs
        self.looks = 0

    def look(self, parts=None) -> RoomObservation:
        self.looks += 1
        return self.obs


def new_engine(tmp_path: Path, events: list | None = None) -> RunEngine:
    path = tmp_path / "observe-steps.yaml"
    path.write_text(CHECKLIST)
    checklist = load_checklist(path)
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    return RunEngine.start(checklist, values, Sees(), tmp_path / "run.jsonl", RunConfig(tmp_path),
                           on_event=events.append if events is not None else None)


def resume(tmp_path: Path, engine: RunEngine, sees: Sees | None = None) -> tuple[RunEngine, list[str]]:
    engine.journal.close()  # one writer per journal
    return RunEngine.resume(tmp_path / "run.jsonl", load_checklist(tmp_path / "observe-steps.yaml"), sees or Sees(),
                            RunConfig(tmp_path))


def records(tmp_path: Path, kind: str | None = None) -> list[dict]:
    return [r for r in read_journal(tmp_path / "run.jsonl").records if kind is None or r["kind"] == kind]


def primary_up_again() -> RoomObservation:
    """The primary's stack running again (dispatch off), the standby dispatching, the name on the standby."""
    on = status(online=True, dispatch_enabled=True, role="standby")
    off = status(online=True, dispatch_enabled=False, role="primary")
    return room([stack("primary", dispatch=False), stack("standby", dispatch=True)],
                [broker("primary", off), broker("standby", on)], dns(("127.0.0.3",)), standby_dispatch=True)


def name_back_on_primary(primary_up: bool = False) -> RoomObservation:
    base = primary_up_again() if primary_up else quiet_room()
    return room(base.stacks, base.brokers, dns(("127.0.0.2",)), standby_dispatch=True)


def blind_room() -> RoomObservation:
    """Neither daemon answers and both cores' statuses are forged: nothing can be told of the cores."""
    forged = parse_core_status(b'{"online": "false", "dispatch_enabled": "false"}')
    return room([stack("primary", connected=False), stack("standby", connected=False)],
                [broker("primary", forged), broker("standby", forged)], dns(("127.0.0.3",)), standby_dispatch=True)


def hms(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def test_the_observations_say_what_the_tests_need():
    from runbook_tui.rules.conditions import evaluate

    assert evaluate("primary_stack_down", quiet_room()).holds
    assert evaluate("dns_points_to_standby", quiet_room()).holds
    assert not evaluate("primary_stack_down", primary_up_again()).holds and evaluate("primary_stack_down", primary_up_again()).seen
    assert not evaluate("dns_points_to_standby", name_back_on_primary()).holds
    assert not evaluate("primary_stack_down", blind_room()).seen


def test_a_step_done_on_evidence_lapses_and_is_restored(tmp_path: Path):
    events: list = []
    engine = new_engine(tmp_path, events)
    notes = engine.observe(quiet_room())
    assert engine.status("stop-primary").state is StepState.DONE and engine.status("repoint").state is StepState.DONE
    assert any(n.startswith("stop-primary: done on evidence") for n in notes)
    assert [r["condition"] for r in records(tmp_path, "evidence")] == ["primary_stack_down", "dns_points_to_standby"]
    assert engine.outcome().verdict == "complete"

    notes = engine.observe(primary_up_again())
    lapse = engine.lapses["stop-primary"]
    assert lapse.condition == "primary_stack_down" and "still live" in lapse.detail and not lapse.acknowledged
    assert set(engine.lapses) == {"stop-primary"}  # the name still points at the standby
    assert any(n.startswith("stop-primary: no longer holds") for n in notes)
    [lapsed] = records(tmp_path, "condition_lapsed")
    assert (lapsed["step"], lapsed["condition"], lapsed["detail"], lapsed["ts"]) == ("stop-primary", "primary_stack_down",
                                                                                     lapse.detail, lapse.since)
    assert "sentient-core running" in lapsed["observation"]["docker primary"]  # what the verdict was based on
    assert LapseChanged("stop-primary", lapse) in events
    outcome = engine.outcome()
    assert outcome.verdict == "incomplete" and outcome.open == ("stop-primary",) and outcome.lapsed == ("stop-primary",)
    assert engine.status("stop-primary").state is StepState.DONE  # done it was; it no longer holds

    count = len(records(tmp_path))
    engine.observe(primary_up_again())
    assert len(records(tmp_path)) == count  # journaled once per lapse, not on every tick

    notes = engine.observe(quiet_room())
    [restored] = records(tmp_path, "condition_restored")
    assert (restored["step"], restored["condition"]) == ("stop-primary", "primary_stack_down") and restored["lapsed_s"] >= 0
    assert restored["seq"] > lapsed["seq"]
    assert engine.lapses == {} and LapseChanged("stop-primary", None) in events
    assert any(n.startswith("stop-primary: holds again") for n in notes)
    assert engine.outcome().verdict == "complete"
    assert len(records(tmp_path, "step_state")) == 2  # neither step was decided anew


def test_acknowledging_a_lapse_needs_a_reason_and_is_journaled(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(quiet_room())
    engine.observe(primary_up_again())
    with pytest.raises(EngineRefusal, match="needs a reason"):
        engine.acknowledge_lapse("stop-primary", "  ")
    with pytest.raises(EngineRefusal, match="nothing to acknowledge"):
        engine.acknowledge_lapse("repoint", "its evidence holds")
    assert records(tmp_path, "lapse_acknowledged") == [] and engine.outcome().verdict == "incomplete"

    reason = "the primary was started again for a database dump, with dispatch off"
    engine.acknowledge_lapse("stop-primary", reason)
    [ack] = records(tmp_path, "lapse_acknowledged")
    assert (ack["step"], ack["condition"], ack["reason"], ack["operator"]) == ("stop-primary", "primary_stack_down", reason,
                                                                               engine.config.operator)
    assert engine.lapses["stop-primary"].acknowledged == reason  # still shown as not holding
    outcome = engine.outcome()
    assert outcome.verdict == "complete" and outcome.lapsed == () and outcome.finished


def test_an_observation_that_could_not_see_a_part_creates_no_lapse(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(quiet_room())
    count = len(records(tmp_path))
    base = quiet_room()
    docker_down = room([stack("primary", connected=False), stack("standby", connected=False)], base.brokers,
                       base.dns, standby_dispatch=True)
    no_docker = room([], base.brokers, base.dns, standby_dispatch=True)
    for obs in (docker_down, no_docker, blind_room(), UNSEEN):
        assert engine.observe(obs) == []
    assert engine.lapses == {} and len(records(tmp_path)) == count
    assert engine.outcome().verdict == "complete"
    # Seen clearly, the same room does lapse: the check above is not vacuous.
    engine.observe(primary_up_again())
    assert set(engine.lapses) == {"stop-primary"}


def test_a_pending_step_is_not_ticked_by_what_could_not_be_seen(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(blind_room())
    assert engine.status("stop-primary").state is StepState.PENDING
    assert engine.status("repoint").state is StepState.DONE  # DNS was seen, and points at the standby


def test_dual_control_raised_then_cleared_is_journaled_and_named_in_the_outcome(tmp_path: Path):
    events: list = []
    engine = new_engine(tmp_path, events)
    notes = engine.observe(dual_control_room())
    [raised] = records(tmp_path, "alarm_raised")
    assert raised["alarm"] == "dual_control" and "both" in raised["reason"]
    assert "sentient-core running" in raised["observation"]["docker primary"]
    assert any(n.startswith("alarm: dual_control") for n in notes)
    assert engine.alarm_spans == [AlarmSpan("dual_control", raised["ts"], None)]
    assert f"dual control since {hms(raised['ts'])}, still raised" in engine.outcome().text()
    assert AlarmChanged(engine.active_alarms[0], "dual_control") in events

    # What cannot show that it ended keeps it up: no clearing on forged statuses and an unanswering Docker.
    engine.observe(blind_room())
    assert records(tmp_path, "alarm_cleared") == [] and len(records(tmp_path, "alarm_raised")) == 1
    assert engine.active_alarms and engine.active_alarms[0].unconfirmed
    assert engine.alarm_spans[0].ended is None

    notes = engine.observe(quiet_room())
    [cleared] = records(tmp_path, "alarm_cleared")
    assert cleared["alarm"] == "dual_control" and cleared["seq"] > raised["seq"] and "docker primary" in cleared["observation"]
    assert "alarm cleared: dual_control" in notes
    assert engine.active_alarms == () and engine.alarm_spans == [AlarmSpan("dual_control", raised["ts"], cleared["ts"])]
    assert AlarmChanged(None, "dual_control") in events
    text = engine.outcome().text()
    assert re.fullmatch(rf"{engine.outcome().verdict}, with \d+ s of dual control at {hms(raised['ts'])}", text), text


def test_a_resumed_engine_restores_lapses_and_alarm_spans(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(quiet_room())
    engine.observe(dual_control_room())  # raised ...
    engine.observe(quiet_room())  # ... and cleared
    engine.observe(primary_up_again())
    engine.acknowledge_lapse("stop-primary", "started again for a dump")
    engine.observe(name_back_on_primary(primary_up=True))  # now the name lapses too, not acknowledged
    assert set(engine.lapses) == {"stop-primary", "repoint"} and engine.lapses["repoint"].condition == "dns_points_to_standby"
    assert engine.lapses["stop-primary"].acknowledged == "started again for a dump" and not engine.lapses["repoint"].acknowledged
    lapses, spans, outcome = dict(engine.lapses), list(engine.alarm_spans), engine.outcome()
    assert len(spans) == 1 and spans[0].ended is not None and outcome.verdict == "incomplete"

    sees = Sees()  # the reconcile at resume sees nothing: what follows is the journal's alone
    resumed, _notes = resume(tmp_path, engine, sees)
    assert sees.looks == 1
    assert resumed.lapses == lapses
    assert resumed.alarm_spans == spans
    assert resumed.outcome() == outcome and resumed.outcome().text() == outcome.text()
    assert {k: v.state for k, v in resumed.statuses.items()} == {k: v.state for k, v in engine.statuses.items()}
    # And the restored lapse still ends when its condition holds again.
    resumed.observe(quiet_room())
    assert resumed.lapses == {} and {r["step"] for r in records(tmp_path, "condition_restored")[-2:]} == {"stop-primary", "repoint"}
    assert resumed.outcome().verdict == "complete"


def raised_then_resumed(tmp_path: Path) -> RunEngine:
    engine = new_engine(tmp_path)
    engine.observe(dual_control_room())
    assert engine.active_alarms
    resumed, _ = resume(tmp_path, engine)
    assert resumed.alarm_spans == engine.alarm_spans and resumed.alarm_spans[0].ended is None
    return resumed


def test_an_alarm_raised_before_a_resume_is_cleared_after_it(tmp_path: Path):
    resumed = raised_then_resumed(tmp_path)
    resumed.observe(quiet_room())
    assert [r["alarm"] for r in records(tmp_path, "alarm_cleared")] == ["dual_control"]
    assert resumed.alarm_spans[0].ended is not None
    assert "still raised" not in resumed.outcome().text()


def test_an_alarm_still_up_after_a_resume_is_not_raised_twice(tmp_path: Path):
    resumed = raised_then_resumed(tmp_path)
    resumed.observe(dual_control_room())
    assert len(records(tmp_path, "alarm_raised")) == 1
    assert len(resumed.alarm_spans) == 1


def test_a_dns_answer_polled_before_the_step_was_proven_does_not_unprove_it(tmp_path: Path):
    # Seen by hand on a site: the wait step's own fresh look proved the name on the standby; a
    # DNS poll that had started just before, delivered a moment later, journaled a false lapse.
    engine = new_engine(tmp_path)
    stale = name_back_on_primary()  # its DNS part is stamped now, before the step is proven
    time.sleep(0.01)
    engine.observe(quiet_room())
    assert engine.status("repoint").state is StepState.DONE
    engine.observe(stale)
    assert "repoint" not in engine.lapses and records(tmp_path, "condition_lapsed") == []
    fresh = name_back_on_primary()
    assert fresh.dns.at > engine.status("repoint").finished
    engine.observe(fresh)
    assert "repoint" in engine.lapses
