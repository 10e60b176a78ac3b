"""Confirmations from the person at the room, through the engine: a step the room confirms
waits for them, each confirmation is journaled exactly once (by its id, also across a resume),
both names reach the record and the report, and the console goes on without the room only by
an override with a reason. The inbox is the folder the floor view writes to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.plan import render_plan
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.floor import (
    clean_name,
    floor_state,
    inbox_dir,
    read_confirmations,
    room_floor_state,
    send_confirmation,
)
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import EngineRefusal, RunConfig, RunEngine, StepState
from tests.conftest import REPO, settings_without_dns
from tests.observations import Unseen

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "floor-steps.yaml"


def start(tmp_path: Path) -> RunEngine:
    c = load_checklist(CHECKLIST)
    values = resolve_variables(c, {"room": "room9"}, tmp_path).values
    return RunEngine.start(c, values, Unseen(), tmp_path / "room9-floor-steps-1.jsonl", RunConfig(tmp_path, operator="olga"))


REFUSED: set[str] = set()


def take_inbox(engine: RunEngine) -> list[str]:
    """What the console does every second: read the inbox, give the engine what it has neither
    taken nor refused before (ui/app.py, _take_room_confirmations)."""
    said = []
    for c in read_confirmations(engine.journal.path, engine.room_confirmation_ids() | REFUSED):
        said.append(engine.receive_room_confirmation(c))
        if said[-1]:
            REFUSED.add(c.id)
    return said


def test_a_step_the_room_confirms_waits_for_them_then_carries_both_names(tmp_path: Path):
    engine = start(tmp_path)
    with pytest.raises(EngineRefusal, match="confirmed by the person at the room first"):
        engine.mark_done("room-safe", typed_room="room9")
    # Nor does a reason alone pass it: only an override goes on without the room.
    for decide in (engine.skip, engine.defer):
        with pytest.raises(EngineRefusal, match="Override it"):
            decide("room-safe", "no time")
    assert engine.status("room-safe").state is StepState.PENDING
    # The room confirms what the run has reached: not before "prepare" is done.
    send_confirmation(engine.journal.path, "room-safe", "Early Bird")
    assert take_inbox(engine) == ["room-safe is not reached yet: Prepare still open"]
    asyncio.run(engine.run_step("prepare", confirmed=True))
    send_confirmation(engine.journal.path, "room-safe", "Rui <b>[red]Costa[/red]</b>")
    assert take_inbox(engine) == [""]
    # A second person's confirmation of the same step is not taken: the first one stands.
    send_confirmation(engine.journal.path, "room-safe", "Bea Beta")
    assert take_inbox(engine) == ["room-safe is already confirmed at the room by Rui bredCostaredb"]
    assert "confirmed at the room by Rui bredCostaredb at" in "\n".join(engine.preview("room-safe").lines)
    assert take_inbox(engine) == []  # taken once: not read again
    done = engine.mark_done("room-safe", typed_room="room9")
    assert done.state is StepState.DONE
    assert done.reason == "confirmed at the room by Rui bredCostaredb, then by olga"  # no markup survives
    assert any("confirmed at the room by Rui bredCostaredb at" in e for e in done.evidence)
    records = read_journal(engine.journal.path).records
    assert [r["name"] for r in records if r["kind"] == "room_confirmation"] == ["Rui bredCostaredb"]
    engine.journal.close()
    report = render_report(engine.journal.path)
    assert "confirmed at the room by Rui bredCostaredb, then by olga" in report


def test_a_confirmation_is_journaled_once_across_a_resume_and_never_for_a_decided_step(tmp_path: Path):
    engine = start(tmp_path)
    asyncio.run(engine.run_step("prepare", confirmed=True))
    engine.override("room-safe", typed_room="room9", reason="checked on camera")
    first = send_confirmation(engine.journal.path, "reacts", "Ana")
    assert take_inbox(engine) == [""]
    engine.journal.close()
    again, _notes = RunEngine.resume(engine.journal.path, load_checklist(CHECKLIST), Unseen(), RunConfig(tmp_path))
    assert again.room_confirmations["reacts"].name == "Ana" and first.id in again.room_confirmation_ids()
    assert take_inbox(again) == []  # the file is still there; the resumed run does not take it twice
    assert again.receive_room_confirmation(first) == "already taken"
    # A step the console already decided is not confirmed after the fact, and nothing is journaled.
    send_confirmation(again.journal.path, "room-safe", "Ana")
    assert take_inbox(again) == ["room-safe is already overridden"]
    # Nor is a step the room does not confirm.
    send_confirmation(again.journal.path, "console-only", "Ana")
    assert "not a step the room confirms" in take_inbox(again)[0]
    records = read_journal(again.journal.path).records
    assert [r["step"] for r in records if r["kind"] == "room_confirmation"] == ["reacts"]
    again.journal.close()
    report = render_report(again.journal.path)
    assert "checked on camera" in report


def test_the_inbox_takes_only_whole_confirmations_with_a_name(tmp_path: Path):
    journal = tmp_path / "room9-x.jsonl"
    with pytest.raises(ValueError, match="a name is needed"):
        send_confirmation(journal, "room-safe", "  <>[]  ")
    inbox = inbox_dir(journal)
    inbox.mkdir()
    (inbox / ".half.tmp").write_text('{"id": "half"')  # a write cut short: never renamed into place
    (inbox / "forged.json").write_text('{"id": "other", "step": "room-safe", "name": "X", "at": 1}')  # id and file disagree
    (inbox / "junk.json").write_text("not json")
    assert read_confirmations(journal) == []
    assert clean_name("  José   d'Ávila-Smith\x1b[31m ") == "José d'Ávila-Smith31m"


def test_the_floor_state_shows_the_run_without_commands_or_outputs(tmp_path: Path):
    engine = start(tmp_path)
    asyncio.run(engine.run_step("prepare", confirmed=True))
    state = floor_state(engine.journal.path)
    assert room_floor_state(tmp_path, "room9") == state  # the room's open run, read once
    assert [(s.number, s.id, s.state, s.confirm_at_room) for s in state.steps] == [
        (1, "prepare", "done", False), (2, "room-safe", "pending", True), (3, "reacts", "pending", True),
        (4, "console-only", "pending", False)]
    assert state.operator == "olga" and not state.ended
    text = repr(state)
    assert "SECRET-COMMAND-WORD" not in text and "echo" not in text and "prepared for" not in text
    engine.override("room-safe", typed_room="room9", reason="x")
    engine.override("reacts", typed_room="room9", reason="x")
    engine.mark_done("console-only", confirmed=True)
    engine.finish()
    assert floor_state(engine.journal.path).ended.startswith("finished: complete")


def test_the_plan_says_who_confirms_each_step():
    plan = render_plan(load_checklist(REPO / "checklists" / "promotion.yaml"), {"room": "room1"}, REPO)
    safe = next(line for line in plan.splitlines() if "Put the room in a safe state" in line)
    assert "confirmed by the person at the room (floor view), then the operator" in safe
    reacts = next(line for line in plan.splitlines() if "Confirm the device/controller reacted" in line)
    assert "confirmed by the person at the room (floor view), then the operator" in reacts
    stop = next(line for line in plan.splitlines() if "Shut the primary down" in line and line.lstrip().startswith("[ ]"))
    assert "confirmed by the operator" in stop and "at the room" not in stop


def test_the_validator_knows_who_confirms_at_the_room(tmp_path: Path):
    from runbook_tui.checklist.loader import ChecklistInvalid

    bad = CHECKLIST.read_text().replace('command: "echo prepared', 'confirm_at_room: true, command: "echo prepared')
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(ChecklistInvalid) as refused:
        load_checklist(path)
    error = refused.value.errors[0]
    assert error.field == "sections[0].steps[0].confirm_at_room" and "does not apply to a command step" in error.message
    assert error.line == 9


def test_a_trainer_watching_a_drill_sees_it_is_one(tmp_path: Path):
    c = load_checklist(CHECKLIST)
    values = resolve_variables(c, {"room": "room9"}, tmp_path).values
    engine = RunEngine.start(c, values, Unseen(), tmp_path / "room9-floor-steps-2.jsonl",
                             RunConfig(tmp_path, operator="ana", drill="flapping-primary"))
    state = floor_state(engine.journal.path)
    assert state.drill == "flapping-primary" and state.operator == "ana"


def test_the_consoles_last_words_say_a_floor_view_still_serves(tmp_path: Path):
    import json
    import subprocess
    import sys

    from runbook_tui.session import Session

    (tmp_path / "infra").mkdir()
    session = Session(settings_without_dns(tmp_path), "room9", CHECKLIST)
    session.start_engine()
    assert "floor view" not in session.farewell()
    # A process whose command line says "floor", as the server's does, recorded for room9.
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "floor"])
    import time

    deadline = time.monotonic() + 10  # until it has exec'd, /proc shows the parent's command line
    while b"floor" not in Path(f"/proc/{server.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        runs = session.settings.runs_dir
        (runs / "floor-view-room9.json").write_text(json.dumps({"pid": server.pid, "room": "room9", "url": "http://x/?token=t",
                                                                 "started": 1.0}))
        said = session.farewell()
        assert "The floor view of room9 still serves" in said and "floor room9 --close" in said and "token" not in said
    finally:
        server.kill()
        server.wait()
    assert "floor view" not in session.farewell()  # gone: the stale file is not believed


def test_the_phone_names_a_setting_but_never_shows_its_value(tmp_path: Path):
    # Seen on the phone: "running core started with CORE_DISPATCH_ENABLED=true" (the README says it
    # shows no variables). The console and the journal keep the value; the phone names the setting.
    from runbook_tui.engine.floor import without_values
    from tests.observations import quiet_room

    path = tmp_path / "enable.yaml"
    path.write_text("""\
checklist: {id: enable, name: Enable, revision: "e1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Enable
    steps:
      - {id: enable, title: Enable dispatch on the standby, type: wait, condition: standby_core_dispatch_enabled, timeout_s: 1}
""")
    c = load_checklist(path)
    engine = RunEngine.start(c, resolve_variables(c, {"room": "room1"}, tmp_path).values, Unseen(),
                             tmp_path / "room1-enable-1.jsonl", RunConfig(tmp_path))
    engine.observe(quiet_room())
    assert "CORE_DISPATCH_ENABLED=true" in engine.status("enable").evidence[0]  # the console's, and the journal's
    step = floor_state(engine.journal.path).step("enable")
    assert step.state == "done" and "CORE_DISPATCH_ENABLED=(not shown)" in step.detail and "=true" not in step.detail
    assert without_values("standby .env MQTT_USERNAME=sentient, CORE_VERSION=1.4.2; port 1883 (CORE_ROLE=standby)") == \
        "standby .env MQTT_USERNAME=(not shown), CORE_VERSION=(not shown); port 1883 (CORE_ROLE=(not shown))"
