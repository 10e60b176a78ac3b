"""The floor view (its Textual app, driven with Pilot) and the console taking what it sends.
The browser in front of it is tests/lab's (textual-serve and Chromium); here the app alone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Button, Input, Static

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.floor import read_confirmations
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine, StepState
from runbook_tui.session import Session
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.floor_app import FloorApp
from tests.conftest import REPO, settings_without_dns
from tests.observations import Unseen
from tests.ui.helpers import confirm_run, selected, wait_until

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "floor-steps.yaml"


def console_run(runs: Path) -> RunEngine:
    c = load_checklist(CHECKLIST)
    values = resolve_variables(c, {"room": "room9"}, runs).values
    runs.mkdir(parents=True, exist_ok=True)
    return RunEngine.start(c, values, Unseen(), runs / "room9-floor-steps-20261202T100000.jsonl", RunConfig(runs, operator="olga"))


def shown(app) -> str:
    return "\n".join(str(w.render()) for w in app.query(Static))


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
        await wait_until(pilot, lambda: "✓ 1. Prepare" in shown(app))
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
        await wait_until(pilot, lambda: "confirmed at the room by Rui Costa" in shown(app))
        assert "waiting for the console" not in shown(app) and "The console is open on this run" in shown(app)


@pytest.mark.asyncio
async def test_the_console_takes_a_confirmation_from_the_room_once_and_then_the_operator_confirms(tmp_path: Path):
    (tmp_path / "infra").mkdir()
    session = Session(settings_without_dns(tmp_path, lab=True), "room9", CHECKLIST)
    app = RunbookApp(session, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and selected(app) == "prepare")
        await confirm_run(pilot, app)  # the run reaches the room's step
        await wait_until(pilot, lambda: app.engine.status("prepare").state is StepState.DONE)
        app.run_screen.goto_step("room-safe")
        await pilot.pause()
        assert "Waits for the person at the room" in str(app.run_screen.query_one("#step-text").render())
        await pilot.press("d")
        assert app.engine.status("room-safe").state is StepState.PENDING
        from runbook_tui.engine.floor import send_confirmation

        send_confirmation(app.engine.journal.path, "room-safe", "Rui Costa")
        await wait_until(pilot, lambda: "room-safe" in app.engine.room_confirmations)
        assert "Confirmed at the room by Rui Costa" in str(app.run_screen.query_one("#step-text").render())
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
        steps = app.query_one("#steps")
        button = app.query_one("#confirm-room-safe", Button)
        # In sight without scrolling by hand (waited for: on a loaded machine the scroll came after 0.3 s).
        await wait_until(pilot, lambda: steps.scroll_y > 0 and button.region.y < app.size.height)
        # A redraw (the console decided another step) keeps the place: seen, the view jumped back to the top.
        at = steps.scroll_y
        engine.skip("arm-critical", "not needed")
        # query, not query_one: the page is rebuilt as the run changes, and for an instant has no such step
        await wait_until(pilot, lambda: any("–" in str(w.render()) for w in app.query("#step-arm-critical").results(Static)))
        await pilot.pause(0.3)
        assert app.query_one("#steps").scroll_y == at


def slow_down_redraws(monkeypatch) -> None:
    """The view's old steps linger 0.3 s before they are taken down, and its new ones stand 0.3 s
    before their mounting is done: what a loaded machine did around a redraw, widened, so that a
    test sees any state the phone shows meanwhile."""
    remove_children, mount_all = VerticalScroll.remove_children, VerticalScroll.mount_all

    async def slow_remove(self, *args, **kwargs):
        await asyncio.sleep(0.3)
        await remove_children(self, *args, **kwargs)

    async def slow_mount(self, widgets, *args, **kwargs):
        mounting = mount_all(self, widgets, *args, **kwargs)  # in the DOM from here
        await asyncio.sleep(0.3)
        await mounting

    monkeypatch.setattr(VerticalScroll, "remove_children", slow_remove)
    monkeypatch.setattr(VerticalScroll, "mount_all", slow_mount)


@pytest.mark.asyncio
@pytest.mark.parametrize("slow_redraw", [False, True])
async def test_a_new_run_of_the_room_starts_the_phone_with_nothing_sent(tmp_path: Path, monkeypatch, slow_redraw: bool):
    # Seen: after a new run of the room the phone kept the last run's "Sent as ...: waiting for
    # the console" and hid the confirm button until the page was reloaded. Seen in CI too: the new
    # run's button was there while the phone still said "Sent as" of the last run.
    if slow_redraw:
        slow_down_redraws(monkeypatch)
    engine = console_run(tmp_path)
    await engine.run_step("prepare", confirmed=True)
    app = FloorApp(tmp_path, "room9")
    async with app.run_test(size=(44, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app.query("#confirm-room-safe")))
        app.query_one("#name", Input).value = "Rui Costa"
        app.query_one("#confirm-room-safe", Button).press()
        await wait_until(pilot, lambda: "waiting for the console" in shown(app))
        # That run is left (the console starts another instead); a new run of the room reaches the same step.
        engine.journal.append("run_abandoned", reason="a new run was started instead")
        engine.journal.close()
        c = load_checklist(CHECKLIST)
        again = RunEngine.start(c, resolve_variables(c, {"room": "room9"}, tmp_path).values, Unseen(),
                                tmp_path / "room9-floor-steps-20261202T110000.jsonl", RunConfig(tmp_path, operator="olga"))
        await again.run_step("prepare", confirmed=True)
        await wait_until(pilot, lambda: app.state is not None and app.state.journal == again.journal.path)
        await wait_until(pilot, lambda: bool(app.query("#confirm-room-safe")))
        assert "waiting for the console" not in shown(app) and "Sent as" not in shown(app)


@pytest.mark.asyncio
@pytest.mark.parametrize("slow_redraw", [False, True])
async def test_a_second_persons_confirmation_is_refused_out_loud_and_leaves_the_inbox(tmp_path: Path, monkeypatch,
                                                                                     slow_redraw: bool):
    # Seen: two people confirmed the same step; the console took the first and refused the
    # second silently (the second phone kept "sent", its file stayed in the inbox).
    # Seen too, on a loaded machine: the refusal was said while the steps were being drawn again,
    # under the step's old "waiting for the console". slow_redraw widens that moment.
    from runbook_tui.engine.floor import console_alive, inbox_dir, send_confirmation

    if slow_redraw:
        slow_down_redraws(monkeypatch)
    engine = console_run(tmp_path)
    await engine.run_step("prepare", confirmed=True)
    app = FloorApp(tmp_path, "room9")
    async with app.run_test(size=(44, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app.query("#confirm-room-safe")))
        first = send_confirmation(engine.journal.path, "room-safe", "Ana")  # from another phone, a moment before
        app.query_one("#name", Input).value = "Bea Beta"
        app.query_one("#confirm-room-safe", Button).press()
        await wait_until(pilot, lambda: "waiting for the console" in shown(app))
        [mine] = [c for c in read_confirmations(engine.journal.path) if c.name == "Bea Beta"]
        console_alive(engine.journal.path)
        said = [engine.receive_room_confirmation(c) for c in read_confirmations(engine.journal.path)]
        assert said == ["", "room-safe is already confirmed at the room by Ana"]  # the console's words ...
        await wait_until(pilot, lambda: "Not taken" in shown(app))
        text = shown(app)
        assert "room-safe is already confirmed at the room by Ana" in text  # ... are the phone's
        assert "waiting for the console" not in text and "confirmed at the room by Ana" in text
        assert not (inbox_dir(engine.journal.path) / f"{mine.id}.json").exists()
        assert (inbox_dir(engine.journal.path) / f"{first.id}.json").exists()  # the one taken is left as it was
        assert [b.id for b in app.query(Button)] == []


@pytest.mark.asyncio
async def test_the_phone_shows_what_no_longer_holds_and_an_alarm_until_the_console_acknowledges_it(tmp_path: Path):
    from tests.observations import dual_control_room, quiet_room
    from tests.unit.engine import test_replay

    engine = test_replay.new_engine(tmp_path)
    engine.observe(quiet_room())
    engine.observe(dual_control_room())
    engine.observe(quiet_room())
    app = FloorApp(tmp_path, "room1")
    async with app.run_test(size=(44, 40)) as pilot:
        await wait_until(pilot, lambda: "Stop the primary" in shown(app))
        text = shown(app)
        assert "ALARM in this run: " in text and "dual control" in text and "not acknowledged" in text
        assert "incomplete" in text
        engine.acknowledge_alarms("stopped by hand")
        await wait_until(pilot, lambda: "ALARM" not in shown(app))
        engine.observe(test_replay.name_back_on_primary())
        await wait_until(pilot, lambda: "NO LONGER HOLDS" in shown(app))
        assert "⚠ 2. Point the broker name at the standby" in shown(app)
        assert "incomplete · 1 no longer holds" in shown(app)


def test_a_second_rooms_floor_view_says_who_holds_the_port_and_how_to_listen_elsewhere(tmp_path: Path):
    # Seen: w for a second room failed on the fixed port 8470 without saying which room held it.
    import json
    import socket
    import subprocess
    import sys

    from runbook_tui.ui.floor_server import serve

    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    port = held.getsockname()[1]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "floor"])
    try:
        deadline = time.monotonic() + 10  # until it has exec'd, /proc shows the parent's command line
        while b"floor" not in Path(f"/proc/{other.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (tmp_path / "floor-view-room1.json").write_text(json.dumps(
            {"pid": other.pid, "room": "room1", "url": "http://x/?token=t", "started": 1.0, "listen": ["127.0.0.1", port]}))
        said: list[str] = []
        assert serve(tmp_path, "room2", "127.0.0.1", port, say=said.append) == 1
        [line] = said  # one line: the console's w shows the last line said
        assert f"cannot listen on 127.0.0.1:{port}" in line and f"the floor view of room1 serves there, pid {other.pid}" in line
        assert "runbook-tui floor room2 --listen 127.0.0.1:" in line and "token" not in line
    finally:
        other.kill()
        other.wait()
        held.close()


@pytest.mark.asyncio
async def test_a_poll_as_the_page_is_taken_down_draws_nothing_and_raises_nothing(tmp_path: Path):
    # Seen with seven test workers: "No nodes match '#foot'", a poll that fired while the page's
    # widgets were being taken down at its end. Here the poll comes once they are gone.
    c = load_checklist(REPO / "checklists" / "promotion.yaml")
    values = resolve_variables(c, {"room": "room9"}, tmp_path).values
    RunEngine.start(c, values, Unseen(), tmp_path / "room9-promotion-20261202T100000.jsonl", RunConfig(tmp_path, operator="olga"))
    app = FloorApp(tmp_path, "room9")
    async with app.run_test(size=(43, 30)) as pilot:
        await wait_until(pilot, lambda: app.state is not None)
    assert not app.query("#foot")  # taken down
    await app.refresh_state()  # the late poll: nothing to draw on, and no error
