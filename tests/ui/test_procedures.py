"""Non-normal procedures on the run's screen (narrow fake: observations built by hand, posted as
the watcher posts them; the real room is tests/lab/test_86_procedures_tui.py): the banner names
a queued procedure, n opens it as a section of the checklist pane, its steps are worked with
the step keys, N dismisses it with a reason, and a condition that cleared by itself is said."""

from __future__ import annotations

import dataclasses

import pytest

from runbook_tui.engine import records as rec
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import StepState
from runbook_tui.session import Session
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import AskReason
from runbook_tui.ui.messages import RoomObserved
from tests.conftest import REPO, settings_without_dns
from tests.observations import Unseen, broker, dns, dual_control_room, quiet_room, room, stack, status
from tests.ui.helpers import confirm_run, footer_keys, notices, selected, wait_until

PROCEDURE = "dual-control-primary"  # both cores dispatch and the standby's .env enables it
STEPS = ["dual-stop-primary-core", "dual-disarm-primary", "dual-control-ended"]


def promotion_app(tmp_path, keymap: dict[str, str] | None = None) -> RunbookApp:
    (tmp_path / "infra").mkdir(exist_ok=True)
    settings = settings_without_dns(tmp_path, lab=True, keymap=keymap or {})
    return RunbookApp(Session(settings, "room1", REPO / "checklists" / "promotion.yaml"), live=False, resume=False)


def banner(app: RunbookApp) -> str:
    shown = app.run_screen.banner
    return str(shown.render()) if shown.display else ""


def kinds(app: RunbookApp) -> list[str]:
    return [r["kind"] for r in read_journal(app.engine.journal.path).records]


async def queue_dual_control(pilot, app: RunbookApp) -> None:
    """Dual control seen for longer than the procedure's hold time, as two observations of the watcher."""
    await wait_until(pilot, lambda: app.engine is not None and app.run_screen.is_attached)
    for at in (1000.0, 1002.0):
        app.post_message(RoomObserved(dataclasses.replace(dual_control_room(), at=at)))
        await pilot.pause()
    # Wide, "NON-NORMAL PROCEDURE QUEUED: <title>"; at 80x24, "NON-NORMAL PROCEDURE (n opens, ...): <title> (queued)".
    await wait_until(pilot, lambda: "NON-NORMAL PROCEDURE" in banner(app) and "queued" in banner(app).lower())


async def queue_two_procedures(pilot, app: RunbookApp) -> None:
    """Dual control and resolvers that disagree, seen longer than either procedure's hold time:
    both procedures queued."""
    await wait_until(pilot, lambda: app.engine is not None and app.run_screen.is_attached)
    both = dataclasses.replace(dual_control_room(), dns=dns(("127.0.0.3",), ("127.0.0.2",)))
    for at in (1000.0, 1006.0, 1012.0):
        app.post_message(RoomObserved(dataclasses.replace(both, at=at)))
        await pilot.pause()
    await wait_until(pilot, lambda: len(app.engine.procedures.open_ones()) == 2)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_queued_procedure_is_named_in_the_banner_and_n_opens_it_in_the_checklist(tmp_path, size):
    app = promotion_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        assert "open_procedure" not in footer_keys(app)  # nothing queued: no key that does nothing
        await queue_dual_control(pilot, app)
        said = banner(app)
        assert "Dual control: stop the primary's core" in said, said
        # The key that opens it, first at 80x24 so that no cut can take it.
        assert ("(n opens it)" in said) if size == (120, 40) else any(
            line.startswith("⚠ NON-NORMAL PROCEDURE (n opens") for line in said.splitlines()), said
        await wait_until(pilot, lambda: "open_procedure" in footer_keys(app))  # leading the footer, at 80 columns too
        assert any("Non-normal procedure queued" in n or "n opens it" in n for n in notices(app))
        assert app.engine.procedures.status(PROCEDURE).opened_at is None
        await pilot.press("n")
        await wait_until(pilot, lambda: selected(app) == STEPS[0])
        assert PROCEDURE in app.run_screen.checklist.procedure_nodes
        assert "procedure_opened" in kinds(app)
        # A section of its own, above the checklist's, its steps numbered apart.
        top = app.run_screen.checklist.root.children[0]
        assert "NON-NORMAL OPEN" in str(top.label) and [c.data for c in top.children] == STEPS
        assert str(top.children[0].label).startswith("○ A1. Stop the primary's sentient-core")
        assert app.run_screen.step_name(STEPS[1]) == "A2. Disable dispatch in the primary's .env"
        dismiss = "(N dismisses it, with a reason)" if size == (120, 40) else "N dismisses)"
        assert "open, 0 of 3 steps passed" in banner(app) and dismiss in banner(app)
        # Worked with the step keys: each skipped with a reason, the cursor moving on within the procedure.
        for n, step in enumerate(STEPS, 1):
            await wait_until(pilot, lambda step=step: selected(app) == step)
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, AskReason))
            await pilot.press(*"seen done by hand", "enter")
            await wait_until(pilot, lambda step=step: app.engine.status(step).state is StepState.SKIPPED)
            if n < len(STEPS):  # the banner's count follows each step (seen on a site walk: 0 of 3 after one passed)
                await wait_until(pilot, lambda n=n: f"open, {n} of 3 steps passed" in banner(app))
        await wait_until(pilot, lambda: app.engine.procedures.status(PROCEDURE).worked_at is not None)
        assert "NON-NORMAL" not in banner(app)
        assert "NON-NORMAL worked" in str(app.run_screen.checklist.root.children[0].label)
        assert "procedure_worked" in kinds(app)
        await wait_until(pilot, lambda: "open_procedure" not in footer_keys(app))
        assert any("worked to its end" in n for n in notices(app))
        # A new episode queues it again: its section says so at once (seen: "worked" until n was pressed).
        for obs in (dataclasses.replace(quiet_room(), at=1010.0), *(dataclasses.replace(dual_control_room(), at=t)
                                                                    for t in (1012.0, 1014.0))):
            app.post_message(RoomObserved(obs))
            await pilot.pause()
        await wait_until(pilot, lambda: "NON-NORMAL QUEUED" in str(app.run_screen.checklist.root.children[0].label))


@pytest.mark.asyncio
async def test_dismissing_a_procedure_asks_for_a_reason_and_lets_the_run_end_complete_without_it(tmp_path):
    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_dual_control(pilot, app)
        assert app.engine.outcome().procedures_open == (PROCEDURE,)
        assert "procedure open" in app.sub_title or "procedures open" in app.sub_title
        await pilot.press("N")
        await wait_until(pilot, lambda: isinstance(app.screen, AskReason))
        await pilot.press("enter")  # no reason: refused, still asking
        assert isinstance(app.screen, AskReason)
        assert app.engine.procedures.status(PROCEDURE).dismissed_at is None
        await pilot.press(*"drill of the alarm only", "enter")
        await wait_until(pilot, lambda: app.engine.procedures.status(PROCEDURE).dismissed_at is not None)
        assert app.engine.procedures.status(PROCEDURE).dismissed_reason == "drill of the alarm only"
        assert app.engine.outcome().procedures_open == ()
        assert "NON-NORMAL" not in banner(app)
        assert "procedure_dismissed" in kinds(app)


@pytest.mark.asyncio
async def test_a_condition_that_cleared_by_itself_is_said_in_the_banner(tmp_path):
    app = promotion_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await queue_dual_control(pilot, app)
        # The standby's core stopped dispatching by itself: the primary dispatches alone.
        on = status(online=True, dispatch_enabled=True, critical_armed=False, role="x", version="8.0.0")
        off = status(online=True, dispatch_enabled=False, critical_armed=False, role="x", version="8.0.0")
        alone = room([stack("primary", dispatch=True), stack("standby", dispatch=False)],
                     [broker("primary", on), broker("standby", off)], dns(("127.0.0.3",)), standby_dispatch=True, at=1004.0)
        app.post_message(RoomObserved(alone))
        await wait_until(pilot, lambda: "cleared by itself" in banner(app))
        said = banner(app)
        assert "Dual control: stop the primary's core" in said and "(n opens, N dismisses)" in said  # 80x24's words
        assert any("cleared by itself" in n for n in notices(app))
        assert app.engine.procedures.status(PROCEDURE).open  # still to be worked or dismissed
        assert rec.ProcedureCleared.KIND in kinds(app)


@pytest.mark.asyncio
async def test_a_condition_that_cleared_after_a_step_was_worked_is_not_said_cleared_by_itself(tmp_path):
    # Seen walking the lab: the banner said "cleared by itself" after the operator had run the
    # procedure's steps that ended it, while the journal's record said by_itself false.
    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_dual_control(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: selected(app) == STEPS[0])
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, AskReason))
        await pilot.press(*"done by hand", "enter")
        await wait_until(pilot, lambda: app.engine.status(STEPS[0]).state is StepState.SKIPPED)
        on = status(online=True, dispatch_enabled=True, critical_armed=False, role="x", version="8.0.0")
        off = status(online=True, dispatch_enabled=False, critical_armed=False, role="x", version="8.0.0")
        alone = room([stack("primary", dispatch=True), stack("standby", dispatch=False)],
                     [broker("primary", on), broker("standby", off)], dns(("127.0.0.3",)), standby_dispatch=True, at=1004.0)
        app.post_message(RoomObserved(alone))
        await wait_until(pilot, lambda: "its condition cleared at" in banner(app))
        assert "by itself" not in banner(app) and "1 of 3 steps passed" in banner(app)
        cleared = [r for r in read_journal(app.engine.journal.path).records if r["kind"] == rec.ProcedureCleared.KIND]
        assert cleared and cleared[-1]["by_itself"] is False


@pytest.mark.asyncio
async def test_the_open_key_follows_the_sites_keymap_in_the_banner(tmp_path):
    app = promotion_app(tmp_path, keymap={"open_procedure": "ctrl+o"})
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_dual_control(pilot, app)
        assert "(ctrl+o opens it)" in banner(app)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: selected(app) == STEPS[0])


@pytest.mark.asyncio
async def test_a_run_opened_from_the_venue_on_a_raised_procedure_opens_on_it(tmp_path):
    (tmp_path / "infra").mkdir(exist_ok=True)
    settings = settings_without_dns(tmp_path, lab=True)
    app = RunbookApp(Session(settings, "room1", REPO / "checklists" / "promotion.yaml"), live=False, resume=False,
                     procedure=(PROCEDURE, "cores of room1-primary and room1-standby both run with dispatch enabled"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: selected(app) == STEPS[0])
        status = app.engine.procedures.status(PROCEDURE)
        assert status.source == "venue" and status.opened_at is not None
        assert "cores of room1-primary" in status.detail
        assert "open, 0 of 3 steps passed" in banner(app)
        assert kinds(app).count("procedure_queued") == 1 and "procedure_opened" in kinds(app)
        # The run's own trigger then sees the condition hold: the procedure the venue queued is that episode.
        for at in (1000.0, 1002.0):
            app.post_message(RoomObserved(dataclasses.replace(dual_control_room(), at=at)))
            await pilot.pause()
        await pilot.pause(0.3)
        assert kinds(app).count("procedure_queued") == 1, kinds(app)
        assert app.engine.procedures.status(PROCEDURE).opened_at is not None and "QUEUED" not in banner(app)


@pytest.mark.asyncio
async def test_a_procedures_condition_that_holds_throughout_is_said_when_it_stops_holding_and_again(tmp_path):
    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_dual_control(pilot, app)  # its procedure holds "the standby's stack stays up" throughout
        await pilot.press("n")
        await wait_until(pilot, lambda: selected(app) == STEPS[0])
        on = status(online=True, dispatch_enabled=True, critical_armed=False, role="x", version="8.0.0")
        down = room([stack("primary", dispatch=True), stack("standby", core="exited", others="exited")],
                    [broker("primary", on)], dns(("127.0.0.3",)), standby_dispatch=True, at=1004.0)
        app.post_message(RoomObserved(down))
        await wait_until(pilot, lambda: "NO LONGER HOLDS THROUGHOUT: standby_stack_running" in banner(app))
        assert "(at A1. Stop the primary's sentient-core" in banner(app)  # the step the operator is at
        assert any("No longer holds throughout" in str(n.title) for n in app._notifications)
        app.post_message(RoomObserved(dataclasses.replace(dual_control_room(), at=1006.0)))
        await wait_until(pilot, lambda: "NO LONGER HOLDS THROUGHOUT" not in banner(app))
        assert "hold_breached" in kinds(app) and "hold_restored" in kinds(app)


@pytest.mark.asyncio
async def test_the_palette_offers_an_open_procedure_first(tmp_path):
    from runbook_tui.ui.commands import StepCommands

    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and app.run_screen.is_attached)
        provider = StepCommands(app.run_screen)
        assert not any("non-normal" in text for text, _ in provider._entries())
        await queue_dual_control(pilot, app)
        entries = provider._entries()
        assert entries[0][0] == "Open the non-normal procedure: Dual control: stop the primary's core (the standby is promoted)"
        assert entries[1][0] == "Dismiss the open non-normal procedure (with a reason)"
        entries[0][1]()
        await wait_until(pilot, lambda: selected(app) == STEPS[0])


@pytest.mark.asyncio
async def test_a_resumed_run_shows_its_open_procedure_as_it_was_left(tmp_path):
    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_dual_control(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: selected(app) == STEPS[0])
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, AskReason))
        await pilot.press(*"done by hand", "enter")
        await wait_until(pilot, lambda: app.engine.status(STEPS[0]).state is StepState.SKIPPED)
        await pilot.press("q")
    settings = settings_without_dns(tmp_path, lab=True)
    session = Session(settings, "room1", REPO / "checklists" / "promotion.yaml")
    # The resumed console looks at a room it cannot see: what it shows is the journal's. (With the
    # real look, a lab room1 up on the machine, or not, decided whether dual control had ended.)
    session.observer = Unseen("room1")
    again = RunbookApp(session, live=False, resume=True)
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: again.run_screen is not None and again.run_screen.is_attached)
        await pilot.pause()
        assert PROCEDURE in again.run_screen.checklist.procedure_nodes
        assert "open, 1 of 3 steps passed" in banner(again)
        assert str(again.run_screen.checklist.root.children[0].children[0].label).startswith("↷ A1.")


@pytest.mark.asyncio
async def test_at_80x24_an_alarm_and_two_procedures_take_a_line_each_not_five(tmp_path):
    # Seen at 80x24: dual control's alarm and two queued procedures wrapped to five lines of
    # banner over the checklist. Narrow, each reason is one line (cut), the procedures one line together.
    app = promotion_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await queue_two_procedures(pilot, app)
        await wait_until(pilot, lambda: "NON-NORMAL 2 PROCEDURES" in banner(app))
        shown = app.run_screen.banner
        assert shown.region.height == 2, banner(app)  # the alarm's line and the procedures' line
        said = banner(app)
        assert "PROCEDURES (n opens, N dismisses): Dual control" in said and "resolvers disagree" in said
        # The alarm first, whatever came first (seen on a site walk: the procedures' line above it).
        assert said.splitlines()[0].startswith("⚠ DUAL CONTROL"), said
        # Wide again, each is said whole, as before.
        await pilot.resize_terminal(140, 40)
        await wait_until(pilot, lambda: "NON-NORMAL PROCEDURE QUEUED" in banner(app))
        assert "NON-NORMAL 2 PROCEDURES" not in banner(app)
        # Both opened: each numbered with its letter as on paper (seen after a resume: both were N1, N2, ...).
        await pilot.press("n")
        await wait_until(pilot, lambda: len(app.run_screen.checklist.procedure_nodes) == 1)
        await pilot.press("n")
        await wait_until(pilot, lambda: len(app.run_screen.checklist.procedure_nodes) == 2)
        assert app.run_screen.step_name(STEPS[0]).startswith("A1. ")
        assert app.run_screen.step_name("disagree-fixed").startswith("G1. ")


@pytest.mark.asyncio
async def test_n_twice_before_the_screen_is_redrawn_opens_both_procedures(tmp_path):
    # Seen under load: the second `n` came before the refresh that moved the cursor into the first
    # procedure, so it found none under the cursor and opened the first again; the second stayed queued.
    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_two_procedures(pilot, app)
        app.run_screen.action_open_procedure()  # two presses handled in one turn of the loop
        app.run_screen.action_open_procedure()
        await pilot.pause()
        assert len(app.run_screen.checklist.procedure_nodes) == 2
        assert all(p.opened_at is not None for p in app.engine.procedures.open_ones())


@pytest.mark.asyncio
async def test_a_resumed_run_keeps_an_alarm_not_yet_acknowledged_in_the_banner(tmp_path):
    # Seen on a site walk: after a resume the header said "⚠ dual control 23 s (a: ack)" and the
    # banner said nothing until a new alarm came.
    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_dual_control(pilot, app)
        app.post_message(RoomObserved(dataclasses.replace(quiet_room(), at=1005.0)))  # it ended, not acknowledged
        await wait_until(pilot, lambda: "ALARM IN THIS RUN" in banner(app))
        await pilot.press("q")
    settings = settings_without_dns(tmp_path, lab=True)
    session = Session(settings, "room1", REPO / "checklists" / "promotion.yaml")
    session.observer = Unseen("room1")
    again = RunbookApp(session, live=False, resume=True)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: again.run_screen is not None and again.run_screen.is_attached)
        await wait_until(pilot, lambda: "ALARM IN THIS RUN" in banner(again) and "(a acknowledges)" in banner(again))


@pytest.mark.asyncio
async def test_r_while_a_wait_waits_says_the_wait_can_be_cancelled_without_losing_it(tmp_path):
    # Seen on a site walk: a procedure's wait that another fault kept from holding held the other
    # procedure's step back, and "is running: wait for it" did not say a wait loses nothing by x.
    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_dual_control(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: selected(app) == STEPS[0])
        app.run_screen.goto_step(STEPS[2])  # "The primary no longer dispatches": a wait
        await wait_until(pilot, lambda: selected(app) == STEPS[2])
        await confirm_run(pilot, app)  # the wait's confirmation: it starts watching
        await wait_until(pilot, lambda: app.engine.running_step == STEPS[2])
        app.run_screen.goto_step(STEPS[0])
        await wait_until(pilot, lambda: selected(app) == STEPS[0])
        await pilot.press("r")
        await wait_until(pilot, lambda: any("is waiting for the room. x cancels the wait" in n for n in notices(app)))
        assert app.engine.running_step == STEPS[2] and app.engine.status(STEPS[0]).state is StepState.PENDING


@pytest.mark.asyncio
async def test_the_cursor_goes_to_a_step_of_a_section_just_added_before_the_tree_is_redrawn(tmp_path):
    # Seen in a lab run: n opened the procedure (journaled) and the cursor stayed where it was:
    # the section's new nodes had no line yet when the cursor was moved onto the first one.
    app = promotion_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await queue_dual_control(pilot, app)
        engine, checklist = app.engine, app.run_screen.checklist
        status = engine.procedures.status(PROCEDURE)
        checklist.show_procedure(engine.checklist.procedure(PROCEDURE), status, engine.values,
                                 engine.checklist.procedure_letter(PROCEDURE))
        checklist.select_step(STEPS[0])  # no redraw in between
        assert selected(app) == STEPS[0]
