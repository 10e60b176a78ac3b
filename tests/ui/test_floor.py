"""The floor view (its Textual app, driven with Pilot) and the console taking what it sends.
The browser in front of it is tests/lab's (textual-serve and Chromium); here the app alone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.floor import read_confirmations
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine, StepState
from runbook_tui.observe.model import RoomObservation
from runbook_tui.session import Session
from runbook_tui.settings import Settings
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.floor_app import FloorApp
from tests.conftest import REPO

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "floor-steps.yaml"


class Unseen:
    def look(self, parts=None) -> RoomObservation:
        return RoomObservation("room9", "mqtt.room9.sentientengine.ai", ())


def console_run(runs: Path) -> RunEngine:
    c = load_checklist(CHECKLIST)
    values = resolve_variables(c, {"room": "room9"}, runs).values
    runs.mkdir(parents=True, exist_ok=True)
    return RunEngine.start(c, values, Unseen(), runs / "room9-floor-steps-20261202T100000.jsonl", RunConfig(runs, operator="olga"))


def shown(app) -> str:
    return "\n".join(str(w.render()) for w in app.query(Static))


async def wait_until(pilot, predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await pilot.pause(0.05)


@pytest.mark.asyncio
async def test_the_floor_view_follows_the_run_and_confirms_only_the_rooms_steps_by_name(tmp_path: Path):
    engine = console_run(tmp_path)
    app = FloorApp(tmp_path, "room9")
    async with app.run_test(size=(44, 40)) as pilot:  # a phone's width
        await wait_until(pilot, lambda: "Put the room in a safe state" in shown(app))
        # Nothing to confirm before the run reaches it ("the device reacted" before any smoke test is nothing).
        assert [b.id for b in app.query(Button)] == [] and "once the run reaches it" in shown(app)
        assert "echo" not in shown(app) and "SECRET-COMMAND-WORD" not in shown(app)  # no commands
        assert "The console is not open on this run" in shown(app)  # no console has said so yet
        # The console runs a step: the floor shows it (it polls the journal every 0.5 s).
        await asyncio.to_thread(lambda: asyncio.run(engine.run_step("prepare", confirmed=True)))
        await wait_until(pilot, lambda: "✓ 1. Prepare" in shown(app), 3)
        assert [b.id for b in app.query(Button)] == ["confirm-room-safe"]  # the room's step the run is at, only
        # Without a name: not sent.
        app.query_one("#confirm-room-safe", Button).press()
        await wait_until(pilot, lambda: "a name is needed" in shown(app))
        assert read_confirmations(engine.journal.path) == []
        app.query_one("#name", Input).value = "Rui Costa"
        app.query_one("#confirm-room-safe", Button).press()
        await wait_until(pilot, lambda: "waiting for the console" in shown(app))
        assert [(c.step, c.name) for c in read_confirmations(engine.journal.path)] == [("room-safe", "Rui Costa")]
        assert [b.id for b in app.query(Button)] == []  # sent once
        # The console takes it; the floor says so (and that a console is open).
        from runbook_tui.engine.floor import console_alive

        console_alive(engine.journal.path)
        assert engine.receive_room_confirmation(read_confirmations(engine.journal.path)[0]) == ""
        await wait_until(pilot, lambda: "confirmed at the room by Rui Costa" in shown(app), 3)
        assert "waiting for the console" not in shown(app) and "The console is open on this run" in shown(app)


@pytest.mark.asyncio
async def test_the_console_takes_a_confirmation_from_the_room_once_and_then_the_operator_confirms(tmp_path: Path):
    (tmp_path / "infra").mkdir()
    session = Session(Settings(stack_root=tmp_path, resolvers=(("127.0.0.1", 15399),), lab=True), "room9", CHECKLIST)
    app = RunbookApp(session, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and app.selected == "prepare")
        await pilot.press("r", "enter")  # the run reaches the room's step
        await wait_until(pilot, lambda: app.engine.status("prepare").state is StepState.DONE)
        app.goto_step("room-safe")
        await pilot.pause()
        assert "Waits for the person at the room" in str(app.query_one("#step-text").render())
        await pilot.press("d")
        assert app.engine.status("room-safe").state is StepState.PENDING
        from runbook_tui.engine.floor import send_confirmation

        send_confirmation(app.engine.journal.path, "room-safe", "Rui Costa")
        await wait_until(pilot, lambda: "room-safe" in app.engine.room_confirmations, 5)
        assert "Confirmed at the room by Rui Costa" in str(app.query_one("#step-text").render())
        await pilot.press("d", *"room9", "enter")
        await wait_until(pilot, lambda: app.engine.status("room-safe").state is StepState.DONE)
        await pilot.pause(1.5)  # another poll of the inbox: the file is still there, and not taken twice
        records = read_journal(app.engine.journal.path).records
        assert [r["name"] for r in records if r["kind"] == "room_confirmation"] == ["Rui Costa"]
        assert "confirmed at the room by Rui Costa, then by" in app.engine.status("room-safe").reason


@pytest.mark.asyncio
async def test_on_a_long_checklist_the_floor_view_scrolls_to_where_the_run_is(tmp_path: Path):
    # Seen on the promotion at a phone's size: the room's button was below the fold, under
    # seven finished steps and their evidence.
    c = load_checklist(REPO / "checklists" / "promotion.yaml")
    values = resolve_variables(c, {"room": "room9"}, tmp_path).values
    engine = RunEngine.start(c, values, Unseen(), tmp_path / "room9-promotion-20261202T100000.jsonl",
                             RunConfig(tmp_path, operator="olga"))
    engine.choose("controller_reach", "B")
    for step in ("create-dirs", "passwd-primary", "passwd-standby", "up-primary", "up-standby"):
        engine.override(step, typed_room="room9", reason="set up long ago, " + "with a long reason " * 3)
    engine.mark_done("edit-env", confirmed=True)
    app = FloorApp(tmp_path, "room9")
    async with app.run_test(size=(43, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.query("#confirm-room-safe")))
        await pilot.pause(0.3)
        steps = app.query_one("#steps")
        button = app.query_one("#confirm-room-safe", Button)
        assert steps.scroll_y > 0 and button.region.y < app.size.height  # in sight without scrolling by hand
        # A redraw (the console decided another step) keeps the place: seen, the view jumped back to the top.
        at = steps.scroll_y
        engine.skip("arm-critical", "not needed")
        await wait_until(pilot, lambda: "–" in str(app.query_one("#step-arm-critical", Static).render()))
        await pilot.pause(0.3)
        assert app.query_one("#steps").scroll_y == at
