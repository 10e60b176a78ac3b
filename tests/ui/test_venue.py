"""The venue view as the operator uses it (narrow fake: rows fed in from hand-built
observations; the real looks are tests/lab/test_68_venue.py)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, OptionList, Static

from runbook_tui.rules.venue import venue_row
from runbook_tui.settings import Settings
from runbook_tui.ui.dialogs import ChecklistChooser, HelpScreen
from runbook_tui.ui.venue import VenueApp, VenueChoice
from tests.conftest import REPO
from tests.observations import dns, dual_control_room, quiet_room
from tests.ui.helpers import notices, wait_until
from tests.unit.test_37_readiness import promoted_room, ready_room

ROOMS = ["clockwork", "vault", "room1"]


def settings(tmp_path: Path) -> Settings:
    (tmp_path / "infra").mkdir(exist_ok=True)
    shutil.copytree(REPO / "checklists", tmp_path / "checklists", dirs_exist_ok=True)
    return Settings(stack_root=tmp_path, lab=False, checklist=tmp_path / "checklists" / "promotion.yaml",
                    journal_dir=tmp_path / "runs")


def cell(app: VenueApp, room: str, column: str) -> str:
    return str(app.query_one(DataTable).get_cell(room, column))


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_row_per_room_with_what_its_look_said(tmp_path, size):
    app = VenueApp(settings(tmp_path), ROOMS, live=False)
    async with app.run_test(size=size) as pilot:
        assert [cell(app, r, "room") for r in ROOMS] == ROOMS
        assert cell(app, "vault", "active") == "looking…"
        app.show_row("clockwork", venue_row(ready_room()))
        app.show_row("vault", venue_row(dual_control_room()))
        app.show_row("room1", None, "DockerException: Error while fetching server API version")
        await pilot.pause()
        assert cell(app, "clockwork", "active") == "primary" and cell(app, "clockwork", "standby") == "ready"
        assert cell(app, "vault", "active") == "BOTH" and cell(app, "vault", "alarm") == "DUAL CONTROL"
        assert cell(app, "room1", "active") == "look failed"
        detail = str(app.query_one("#venue-room", Static).render())
        assert "clockwork" in detail and "ok   same core version" in detail  # the first row is selected
        await pilot.press("down", "down")
        assert "the look failed: DockerException" in str(app.query_one("#venue-room", Static).render())
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")


def screen_lines(app: VenueApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def split_dns_rooms():
    """Rooms whose resolvers disagree, as in an incident: one repointed and one not, three ways
    (one answer an address of neither stack), and in dual control."""
    return {"clockwork": dataclasses.replace(promoted_room(), dns=dns(("127.0.0.3",), ("127.0.0.2",))),
            "vault": dataclasses.replace(ready_room(), dns=dns(("127.0.0.2",), ("127.0.0.3",), ("10.9.9.8", "10.9.9.9"))),
            "room1": dataclasses.replace(dual_control_room(), dns=dns(("127.0.0.3",), ("127.0.0.2",)))}


@pytest.mark.asyncio
async def test_resolvers_that_disagree_leave_the_alarm_and_the_standby_on_a_120_column_screen(tmp_path):
    # Seen: each resolver's answer in the DNS cell and "resolvers disagree, DNS not on primary"
    # pushed the Alarm and Standby columns off a 120-column screen.
    app = VenueApp(settings(tmp_path), ROOMS, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for name, obs in split_dns_rooms().items():
            app.show_row(name, venue_row(obs))
        await pilot.pause()
        table = app.query_one(DataTable)
        widths = sum(column.get_render_width(table) for column in table.columns.values())
        assert widths <= table.scrollable_content_region.width, [
            (str(c.label), c.get_render_width(table)) for c in table.columns.values()]
        lines = screen_lines(app)
        header = next(line for line in lines if "Room" in line and "Standby" in line)
        assert "Alarm" in header
        for name in ROOMS:
            line = next(line for line in lines if f"│ {name} " in line)
            for column in ("dns", "alarm", "standby"):
                assert cell(app, name, column) in line, (column, line)
        assert cell(app, "clockwork", "dns") == "1 standby, 1 primary"
        assert cell(app, "clockwork", "alarm") == "DNS split"
        assert cell(app, "vault", "dns") == "split 3 ways"
        assert cell(app, "room1", "alarm") == "DUAL CONTROL, DNS split"
        # The pane says what each resolver answered and the alarm in full.
        detail = str(app.query_one("#venue-room", Static).render())
        assert "DNS 127.0.0.1:5353: standby" in detail and "DNS 127.0.0.1:5354: primary" in detail
        assert "resolvers disagree on mqtt.room1.sentientengine.ai" in detail
        await pilot.press("down")
        detail = str(app.query_one("#venue-room", Static).render())
        assert "DNS 127.0.0.1:5355: unknown 10.9.9.8, 10.9.9.9" in detail


@pytest.mark.asyncio
async def test_at_80_columns_a_room_whose_resolvers_disagree_still_shows_its_alarm_and_readiness(tmp_path):
    app = VenueApp(settings(tmp_path), ["clockwork"], live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_row("clockwork", venue_row(split_dns_rooms()["clockwork"]))
        await pilot.pause()
        line = next(line for line in screen_lines(app) if "│ clockwork " in line)
        # The alarm in full, and the readiness from its first word (the pane has it all).
        assert "  DNS split  ready" in line, line


@pytest.mark.asyncio
async def test_what_a_room_says_reaches_the_screen_as_text_never_as_terminal_codes_or_markup(tmp_path):
    app = VenueApp(settings(tmp_path), ROOMS, live=False)
    hostile = dataclasses.replace(quiet_room(), broker_name="mqtt.[b]x[/b].\x1b]2;PWNED\x1b\\")
    async with app.run_test(size=(120, 40)) as pilot:
        app.show_row("clockwork", venue_row(dataclasses.replace(hostile, dns=dns(("127.0.0.3",), ("127.0.0.2",)))))
        await pilot.pause()
        assert cell(app, "clockwork", "alarm") == "DNS split"
        detail = str(app.query_one("#venue-room", Static).render())
        assert "\x1b" not in detail and "mqtt.[b]x[/b].\ufffd]2;PWNED" in detail  # as it came, the escape replaced


@pytest.mark.asyncio
async def test_enter_offers_the_rooms_checklists_and_its_unfinished_run(tmp_path):
    s = settings(tmp_path)
    from runbook_tui.session import Session

    # An unfinished failback run of vault: one step changed, never ended.
    session = Session(s, "vault", s.checklist.parent / "failback.yaml", variables={"smoke_device": "door1"})
    engine = session.start_engine()
    engine.journal.append("step_state", step=engine.checklist.steps()[0].id, state="done")
    engine.journal.close()
    app = VenueApp(s, ROOMS, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "enter")
        assert isinstance(app.screen, ChecklistChooser) and app.screen.room == "vault"
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert labels[0].startswith("Warm Standby Promotion (Manual) v8") and "no unfinished run" in labels[0]
        assert "unfinished run from" in labels[1] and "1 step passed" in labels[1]
        await pilot.press("escape")
        assert not isinstance(app.screen, ChecklistChooser)
        await pilot.press("enter", "down", "enter")
    assert app.return_value == VenueChoice("vault", s.checklist.parent / "failback.yaml")


@pytest.mark.asyncio
async def test_a_sites_room_help_lists_no_lab_key(tmp_path):
    # Seen on a site: the room's help listed "F trainer: inject a drill fault (lab only)".
    from runbook_tui.session import Session
    from runbook_tui.ui.app import RunbookApp

    s = settings(tmp_path)
    for lab, shown in ((False, False), (True, True)):
        s = dataclasses.replace(s, lab=lab)
        app = RunbookApp(Session(s, "vault", s.checklist, variables={"smoke_device": "door1"}), live=False, resume=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert ("inject a drill fault" in app.screen.text) is shown
            assert f"settings {s.described_as}" in app.screen.text
            await pilot.press("escape")


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_procedure_whose_trigger_fires_on_a_room_is_raised_on_its_row_and_enter_opens_its_run_on_it(tmp_path, size):
    import asyncio

    app = VenueApp(settings(tmp_path), ROOMS, live=False)
    async with app.run_test(size=size) as pilot:
        # The looks come on the watcher's threads: dual control on vault, seen on two looks 2 s apart
        # (the procedure's hold time is 1 s), clockwork quiet.
        for at in (1000.0, 1002.0):
            await asyncio.to_thread(app.room_looked, "vault", dataclasses.replace(dual_control_room(), at=at), "")
            await asyncio.to_thread(app.room_looked, "clockwork", dataclasses.replace(ready_room(), at=at), "")
            await pilot.pause()
        await pilot.pause()
        assert cell(app, "vault", "alarm") == "⚑ Dual control"
        assert cell(app, "clockwork", "alarm") == "-"
        line = next(line for line in screen_lines(app) if "│ vault " in line)
        assert "⚑ Dual control" in line, line  # on screen, at 80 columns too
        assert any("Non-normal procedure" in str(n.title) for n in app._notifications)
        await pilot.press("down")
        detail = str(app.query_one("#venue-room", Static).render())
        assert "NON-NORMAL PROCEDURE since" in detail and "Dual control: stop the primary's core" in detail
        assert "Enter opens the room's run on it" in detail and "Enter opens the room's checklists" not in detail
        await pilot.press("enter")
        await pilot.pause()
    choice = app.return_value
    assert choice == VenueChoice("vault", app.settings.for_room("vault").checklist, "dual-control-primary", choice.detail)
    assert choice.detail  # what the trigger saw, journaled with the procedure the run queues


@pytest.mark.asyncio
async def test_a_raised_procedure_goes_from_the_row_when_its_condition_clears(tmp_path):
    import asyncio

    app = VenueApp(settings(tmp_path), ["vault"], live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for at in (1000.0, 1002.0):
            await asyncio.to_thread(app.room_looked, "vault", dataclasses.replace(dual_control_room(), at=at), "")
        await pilot.pause()
        assert cell(app, "vault", "alarm") == "⚑ Dual control"
        await asyncio.to_thread(app.room_looked, "vault", dataclasses.replace(quiet_room(), at=1007.0), "")
        await pilot.pause()
        assert cell(app, "vault", "alarm") == "-"
        await pilot.press("enter")  # no procedure raised: the room's checklists, as before
        assert isinstance(app.screen, ChecklistChooser)


@pytest.mark.asyncio
async def test_a_room_open_on_another_console_says_whose_and_enter_does_not_open_it(tmp_path):
    # Seen: the venue could not tell that another console held a room; Enter closed the venue to
    # open it, and the one-console rule then refused it from the command line.
    import asyncio
    import time

    from runbook_tui.engine.room_hold import hold_room

    s = settings(tmp_path)
    app = VenueApp(s, ROOMS, live=False)
    held = hold_room(s.for_room("vault").runs_dir, "vault", operator="Rui Costa")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await asyncio.to_thread(app.room_looked, "vault", dataclasses.replace(ready_room(), at=time.time()), "")
            await asyncio.to_thread(app.room_looked, "clockwork", dataclasses.replace(ready_room(), at=time.time()), "")
            await pilot.pause()
            assert cell(app, "vault", "room") == "vault ✎ Rui Costa" and cell(app, "clockwork", "room") == "clockwork"
            await pilot.press("down")
            detail = str(app.query_one("#venue-room", Static).render())
            assert "open on another console: Rui Costa (" in detail
            await pilot.press("enter")
            await pilot.pause()
            assert app.return_value is None and not isinstance(app.screen, ChecklistChooser)
            assert any("vault is open on another console: Rui Costa" in n for n in notices(app))
            held.release()  # that console closed: the next look lets the room be opened here
            await asyncio.to_thread(app.room_looked, "vault", dataclasses.replace(ready_room(), at=time.time()), "")
            await pilot.pause()
            assert cell(app, "vault", "room") == "vault"
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ChecklistChooser))
    finally:
        held.release()


@pytest.mark.asyncio
async def test_enter_on_a_raised_procedure_offers_an_unfinished_run_of_another_checklist_first(tmp_path):
    # Seen on a site walk: mid-failback, with no console open, the row raised "the primary came
    # back after the promotion" and Enter opened a new promotion run over the unfinished failback.
    import asyncio

    from runbook_tui.session import Session

    s = settings(tmp_path)
    session = Session(s, "vault", s.checklist.parent / "failback.yaml", variables={"smoke_device": "door1"})
    engine = session.start_engine()
    engine.journal.append("step_state", step=engine.checklist.steps()[0].id, state="done")
    engine.journal.close()
    session.release()
    app = VenueApp(s, ROOMS, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for at in (1000.0, 1002.0):
            await asyncio.to_thread(app.room_looked, "vault", dataclasses.replace(dual_control_room(), at=at), "")
            await pilot.pause()
        await wait_until(pilot, lambda: cell(app, "vault", "alarm") == "⚑ Dual control")
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistChooser))
        assert app.return_value is None  # nothing opened over the failback
        assert any("an unfinished Demotion / Failback run waits" in n for n in notices(app)), notices(app)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("Failback" in label and "unfinished run from" in label for label in labels), labels


@pytest.mark.asyncio
async def test_a_room_open_on_another_console_raises_no_procedure_on_its_row_until_it_is_let_go(tmp_path):
    # Seen on a site walk: with a failback open on another console, the row raised the
    # promotion's "the primary came back after the promotion"; that console queues its own.
    import asyncio
    import time

    from runbook_tui.engine.room_hold import hold_room

    s = settings(tmp_path)
    app = VenueApp(s, ROOMS, live=False)
    held = hold_room(s.for_room("vault").runs_dir, "vault", operator="Rui Costa")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            now = time.time()
            for at in (now, now + 2):
                await asyncio.to_thread(app.room_looked, "vault", dataclasses.replace(dual_control_room(), at=at), "")
                await pilot.pause()
            await wait_until(pilot, lambda: cell(app, "vault", "room") == "vault ✎ Rui Costa")
            assert cell(app, "vault", "alarm") == "DUAL CONTROL" and not app.raised.get("vault")
            assert not any("Non-normal procedure" in n or "Enter on its row opens it" in n for n in notices(app))
            held.release()
            await asyncio.to_thread(app.room_looked, "vault", dataclasses.replace(dual_control_room(), at=now + 4), "")
            await wait_until(pilot, lambda: cell(app, "vault", "alarm") == "⚑ Dual control")
    finally:
        held.release()
