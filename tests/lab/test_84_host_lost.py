"""The day the primary's host dies, on the lab: a room whose primary lives on the lab's own
engine (`lab up --primary-on-lab-engine`); the engine is stopped with its containers, as a host
that loses power. Seen: with the primary's engine unreachable the only way on was "Run despite
the guard" three times. Here the promotion ends complete with the host fenced at the room: no
override, no step without evidence, the report saying so. Then the host powers on again: its
old core comes back by its restart policy with dispatch enabled, dual control is raised, and
the step the run offers (shut the primary down, on its own engine) ends it."""

from __future__ import annotations

import asyncio
import time

import pytest

from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import GuardRefused, StepState
from runbook_tui.lab.engine import LabEngine
from runbook_tui.session import Session
from runbook_tui.settings import lab_defaults
from tests.conftest import REPO
from tests.lab.rooms import confirmed_at_room

ROOM = "room11"


@pytest.fixture(scope="module")
def primary_on_lab_engine(lab):
    with lab.extra_room(ROOM, "--primary-on-lab-engine"):
        yield lab
        LabEngine(lab.root / ".lab").start()  # down tears the room down on its engine: it must answer


def until(predicate, timeout: float, what: str, engine=None) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, what
        if engine is not None:
            engine.reconcile()
        time.sleep(0.2)
    return time.monotonic() - started


def test_a_lost_primary_host_is_fenced_at_the_room_and_its_return_is_caught(primary_on_lab_engine, monkeypatch):
    lab = primary_on_lab_engine
    for key, value in lab.env().items():
        monkeypatch.setenv(key, value)
    settings = lab_defaults().for_room(ROOM)
    assert settings.docker_hosts.get("primary", "").startswith("unix://") and "standby" not in settings.docker_hosts
    session = Session(settings, ROOM, REPO / "checklists" / "promotion.yaml")
    engine = session.start_engine()
    try:
        engine.reconcile()
        engine.mark_done("edit-env", confirmed=True)
        engine.choose("controller_reach", "B")
        confirmed_at_room(engine, "room-safe")
        engine.mark_done("room-safe", typed_room=ROOM)

        # The host dies: its engine stops, and its containers with it.
        LabEngine(lab.root / ".lab").stop()
        until(lambda: engine.check("primary_host_unreachable").holds, 30, "the primary host is seen unreachable")
        # Unreachable is not stopped: the guard still refuses.
        with pytest.raises(GuardRefused) as refused:
            asyncio.run(engine.run_step("enable-dispatch", typed_room=ROOM))
        assert "Docker not reachable" in refused.value.failures[0].detail or "unreachable" in refused.value.failures[0].detail

        # The fence, confirmed by name at the room (the floor view's inbox), then by the operator.
        confirmed_at_room(engine, "fence-primary", "Rui")
        engine.mark_done("fence-primary", typed_room=ROOM)
        until(lambda: engine.status("stop-primary").state is StepState.DONE, 10, "the stop turns done on the fence",
              engine)
        assert "primary host fenced at" in engine.status("stop-primary").evidence[0]
        for step in ("disarm-primary", "standby-up", "enable-dispatch", "recreate-core", "dns-repoint",
                     "controllers-reconnected", "smoke-test"):
            status = asyncio.run(engine.run_step(step, typed_room=ROOM, confirmed=True))
            assert status.state is StepState.DONE, (step, status)
        assert any("guard primary_not_dispatching: yes: primary host fenced at" in e
                   for e in engine.status("enable-dispatch").evidence)
        confirmed_at_room(engine, "device-reacts")
        engine.mark_done("device-reacts", confirmed=True)
        for step in ("arm-critical", "recreate-core-armed"):
            engine.skip(step, "not needed in this test")
        assert engine.finish() == "complete"
        assert engine.outcome().without_evidence == ()

        # The host powers on: its dockerd starts the old core again, as it was (dispatch enabled).
        LabEngine(lab.root / ".lab").start()
        took = until(lambda: any(a.kind == "dual_control" for a in engine.active_alarms), 60,
                     "dual control is raised when the old primary core comes back", engine)
        assert "stop-primary" in engine.lapses  # the run offers the step that ends it
        stopped = asyncio.run(engine.run_step("stop-primary", typed_room=ROOM))
        assert stopped.state is StepState.DONE, stopped
        until(lambda: not engine.active_alarms, 30, "the alarm clears once the primary is down", engine)
        journal = engine.journal.path
    finally:
        engine.journal.close()
        session.release()
    records = read_journal(journal).records
    assert not [r for r in records if r["kind"] == "override"]
    assert [r["by"] for r in records if r["kind"] == "fenced"] == ["Rui at the room"]
    started = next(r for r in records if r["kind"] == "command_started" and r["step"] == "stop-primary")
    assert started["engine"] == f"the primary's engine {settings.docker_hosts['primary']}"
    assert [r["kind"] for r in records if r["kind"] in ("alarm_raised", "alarm_cleared")] == ["alarm_raised", "alarm_cleared"]
    assert "- Primary host lost, fenced by Rui at the room at " in render_report(journal)
    print(f"\ndual control raised {took:.1f} s after the lab's engine answered again (looks every 0.2 s)")
