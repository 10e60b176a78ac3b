"""The TUI's behaviour, driven with Textual's Pilot: keys in, screen and journal out.

Pure UI behaviour, so the probes are left out (live=False) and their messages are posted by
hand where a test needs them; the engine is the real one, on local steps in a scratch root.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Static, Tabs

from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import StepState
from runbook_tui.mqtt_contract import Topics
from runbook_tui.probes.mqtt_probe import BrokerState, Message, MqttBatch, MqttSnapshot
from runbook_tui.session import Session
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import AskReason, ChooseOption, ConfirmRun, GuardRefusedDialog, HelpScreen, QuitDialog, ResumeDialog
from runbook_tui.ui.messages import MqttBatchArrived, RoomObserved
from tests.conftest import REPO, settings_without_dns
from tests.observations import dual_control_room, quiet_room, status
from tests.ui.helpers import action_name, confirm_run, footer_keys, notices, selected, wait_until

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "ui-steps.yaml"


def session(root: Path) -> Session:
    (root / "infra").mkdir(parents=True, exist_ok=True)
    return Session(settings_without_dns(root, lab=True), "room9", CHECKLIST)


def state(app: RunbookApp, step: str) -> StepState:
    return app.engine.status(step).state


async def select(pilot, app: RunbookApp, step: str) -> None:
    # After the app's own first selection (the first pending step), then ours.
    await wait_until(pilot, lambda: app.engine is not None and selected(app) is not None)
    app.run_screen.goto_step(step)
    await pilot.pause()
    assert selected(app) == step


async def start_sleepy(pilot, app: RunbookApp) -> None:
    """A step whose command runs long enough to act while it runs."""
    await select(pilot, app, "sleepy")
    await confirm_run(pilot, app)
    await wait_until(pilot, lambda: state(app, "sleepy") is StepState.RUNNING)


@pytest.mark.asyncio
async def test_opens_on_the_checklist_with_the_first_pending_step(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello" and "Say hello" in str(app.run_screen.query_one("#step-text").render()))
        text = str(app.run_screen.query_one("#step-text").render())
        assert "Say hello" in text and "$ echo hello from room9" in text
        assert "room9" in app.title and "LAB" in app.title


@pytest.mark.asyncio
async def test_run_asks_first_then_runs_and_shows_output(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello")
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmRun)
        assert state(app, "hello") is StepState.PENDING  # nothing ran yet
        await pilot.press("escape")
        assert state(app, "hello") is StepState.PENDING
        await pilot.press("r")
        await pilot.press("enter")
        await wait_until(pilot, lambda: state(app, "hello") is StepState.DONE)
        await select(pilot, app, "hello")
        output = "\n".join(app.run_screen.query_one("#step-output").lines)
        assert "hello from room9" in output


@pytest.mark.asyncio
async def test_destructive_step_needs_the_room_typed(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, app, "danger")
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmRun)
        body = str(app.screen.query_one(".dialog-body Static").render())
        assert "$ echo destroyed" in body and "affects: room9-primary: everything" in body
        assert "out of order: not done yet before it: Say hello; Decide" in body  # the runbook's order, said
        await pilot.press("enter")  # empty: refused
        assert "Type the room id (room9) first" in str(app.screen.query_one("#dialog-error").render())
        await pilot.press(*"room1", "enter")  # the wrong room: refused, and said so in the dialog
        assert "room1 is not the room id (room9). Nothing was run." in str(app.screen.query_one("#dialog-error").render())
        assert isinstance(app.screen, ConfirmRun) and state(app, "danger") is StepState.PENDING
        app.screen.query_one("#typed-room").value = ""
        await pilot.press(*"room9", "enter")
        await wait_until(pilot, lambda: state(app, "danger") is StepState.DONE)
        # The wrong id is journaled (a drill counts it as a mistake); the empty attempt and the value are not.
        wrong = [r for r in read_journal(app.engine.journal.path).records if r["kind"] == "wrong_room_id"]
        assert [r["step"] for r in wrong] == ["danger"] and "room1" not in str(wrong)


@pytest.mark.asyncio
async def test_skip_defer_and_override_take_reasons(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, app, "hello")
        await pilot.press("s")
        assert isinstance(app.screen, AskReason)
        await pilot.press("enter")  # no reason: stays open
        assert isinstance(app.screen, AskReason)
        await pilot.press(*"not needed", "enter")
        await wait_until(pilot, lambda: state(app, "hello") is StepState.SKIPPED)
        await select(pilot, app, "safe")
        await pilot.press("f", *"after the guests leave", "enter")
        await wait_until(pilot, lambda: state(app, "safe") is StepState.DEFERRED)
        await select(pilot, app, "sleepy")
        await pilot.press("o", *"checked by hand", "enter")
        assert isinstance(app.screen, AskReason)  # the room id is still missing
        await pilot.press(*"room9", "enter")
        await wait_until(pilot, lambda: state(app, "sleepy") is StepState.OVERRIDDEN)
        records = read_journal(app.engine.journal.path).records
        assert any(r["kind"] == "override" and r["reason"] == "checked by hand" for r in records)


@pytest.mark.asyncio
async def test_choice_changes_the_steps_and_warns(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, app, "decide")
        await pilot.press("r")
        await pilot.press("up", "enter")  # B is highlighted; up selects A
        await wait_until(pilot, lambda: app.engine.choices["reach"] == "A")
        assert state(app, "decide") is StepState.DONE
        labels = [str(node.label) for node in app.run_screen.query_one("#checklist").root.children[0].children]
        assert any("Only with A" in label and "not used" not in label for label in labels)


@pytest.mark.asyncio
async def test_guard_refusal_shows_what_was_sensed_and_raises_the_banner(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, app, "guarded")
        await confirm_run(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, GuardRefusedDialog))
        assert app.run_screen.query_one("#banner").display
        assert "GUARD REFUSED 4. Guarded step:" in str(app.run_screen.query_one("#banner").render())
        assert state(app, "guarded") is StepState.PENDING
        await pilot.press("escape")
        assert state(app, "guarded") is StepState.PENDING


@pytest.mark.asyncio
async def test_dual_control_alarm_shows_the_banner(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        assert not app.run_screen.query_one("#banner").display
        app.post_message(RoomObserved(dual_control_room()))
        await wait_until(pilot, lambda: app.run_screen.query_one("#banner").display)
        assert "DUAL CONTROL" in str(app.run_screen.query_one("#banner").render())
        # Part of the record, not only of the screen: journaled, and in the header until acknowledged.
        kinds = [r["kind"] for r in read_journal(app.engine.journal.path).records]
        assert "alarm_raised" in kinds
        app.post_message(RoomObserved(quiet_room()))
        await wait_until(pilot, lambda: not app.engine.active_alarms)
        assert "alarm_cleared" in [r["kind"] for r in read_journal(app.engine.journal.path).records]
        assert "ALARM IN THIS RUN" in str(app.run_screen.query_one("#banner").render())
        assert "dual control" in app.sub_title and "a: ack" in app.sub_title
        await pilot.press("a")  # acknowledging an alarm says what was done about it
        await wait_until(pilot, lambda: isinstance(app.screen, AskReason))
        await pilot.press(*"stopped the primary core", "enter")
        await wait_until(pilot, lambda: not app.run_screen.query_one("#banner").display)
        assert "a: ack" not in app.sub_title and "alarm_acknowledged" in [r["kind"] for r in read_journal(app.engine.journal.path).records]


@pytest.mark.asyncio
async def test_messages_the_broker_dropped_are_said_beside_its_count(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        note = app.run_screen.query_one("#mqtt-note")
        for dropped in (0, 35209):
            snap = MqttSnapshot((BrokerState("primary", "127.0.0.2:1883", True, None, 64793, 1, None, dropped),),
                                (), (), (), 0, 0.0)
            app.post_message(MqttBatchArrived(MqttBatch((), 0, snap)))
            await wait_until(pilot, lambda d=dropped: "64793 messages" in str(note.render()) and (not d or "DROPPED" in str(note.render())))
            assert ("the broker DROPPED 35209 for a subscriber that fell behind" in str(note.render())) == bool(dropped)


@pytest.mark.asyncio
async def test_mqtt_pause_and_filter(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        snap = MqttSnapshot((), (), (), (), None, 0, 0.0)

        def batch(*topics):
            return MqttBatchArrived(MqttBatch(tuple(Message("standby", t, b'{"id": "x"}', False, 0.0, 11) for t in topics), 0, snap))

        log = app.run_screen.query_one("#traffic")
        app.post_message(batch("core/status", "rooms/room9/devices/sim1/ack"))
        await wait_until(pilot, lambda: log.line_count >= 2)
        await wait_until(pilot, lambda: "pause" in footer_keys(app) and "resume_traffic" not in footer_keys(app))
        await pilot.press("p")
        app.post_message(batch("core/dispatch"))
        await pilot.pause(0.2)
        assert log.line_count == 2 and app.run_screen.query_one("#live").held == 1
        await wait_until(pilot, lambda: "resume_traffic" in footer_keys(app) and "pause" not in footer_keys(app))
        await pilot.press("p")  # the same key resumes
        await wait_until(pilot, lambda: "pause" in footer_keys(app))
        assert not app.run_screen.query_one("#live").paused and log.line_count == 3  # the held message is shown
        await pilot.press("slash", *"ack", "enter")
        app.post_message(batch("core/status", "rooms/room9/devices/sim1/ack"))
        await pilot.pause(0.2)
        assert "sim1/ack" in log.lines[-1] and not any("core/status" in line for line in log.lines[3:])
        assert Topics().status == "core/status"
        # Esc leaves the filter box as its hint says; the filter stays, and keys reach the app again.
        await pilot.press("slash", *"zzz")
        box = app.run_screen.query_one("#mqtt-filter")
        assert box.display and box.has_focus
        await pilot.press("escape")
        assert not box.display and not box.has_focus and app.run_screen.query_one("#live").filter == "ack"
        await pilot.press("p")  # an app key, not text in the box
        assert app.run_screen.query_one("#live").paused and "p" not in box.value


@pytest.mark.asyncio
async def test_quit_while_a_command_runs_asks_first(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_sleepy(pilot, app)
        await pilot.press("q")
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("enter")  # "Stay" has the focus
        assert state(app, "sleepy") is StepState.RUNNING
        await pilot.press("ctrl+q")  # Textual's own quit key asks too
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("enter")
        assert state(app, "sleepy") is StepState.RUNNING and app.return_code is None
        await pilot.press("x")  # cancel the command
        await wait_until(pilot, lambda: state(app, "sleepy") is StepState.FAILED)
        assert "cancelled by the operator" in app.engine.status("sleepy").reason


@pytest.mark.asyncio
async def test_the_quit_question_follows_a_command_that_ends_while_it_is_open(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_sleepy(pilot, app)
        await pilot.press("q")
        dialog = app.screen
        assert isinstance(dialog, QuitDialog)
        assert "Sleep a while is still running" in str(dialog.query_one("#quit-title").render())
        app.engine.cancel()  # the command ends by itself while the operator reads
        await wait_until(pilot, lambda: "Sleep a while has finished" in str(dialog.query_one("#quit-title").render()))
        assert "Nothing is running now" in str(dialog.query_one("#quit-text").render())
        await pilot.press("tab", "enter")  # the second button, now plain "Quit"
        await wait_until(pilot, lambda: app.return_code is not None)
    assert state(app, "sleepy") is StepState.FAILED


@pytest.mark.asyncio
async def test_a_run_opened_and_closed_before_any_step_changed_is_not_offered(tmp_path):
    first_session = session(tmp_path)
    first = RunbookApp(first_session, live=False, resume=False)
    async with first.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: first.engine is not None)
    assert first_session.unfinished() is None and "Resume:" not in first_session.farewell()


@pytest.mark.asyncio
async def test_an_unfinished_run_is_offered_for_resuming(tmp_path):
    first_session = session(tmp_path)
    first = RunbookApp(first_session, live=False, resume=False)
    async with first.run_test(size=(120, 40)) as pilot:
        await select(pilot, first, "safe")
        await pilot.press("d", "enter")
        await wait_until(pilot, lambda: state(first, "safe") is StepState.DONE)
    # What the terminal shows on the way out: where the record is, and that this run can be resumed.
    farewell = first_session.farewell()
    assert f"Journal: {first.engine.journal.path}" in farewell and "runbook-tui report " in farewell
    assert "Resume it with:\n  runbook-tui --room room9" in farewell
    # The command is a line of its own: pasted whole, it runs (no note after it).
    line = farewell.split("Resume it with:\n")[1].splitlines()[0].strip()
    assert line.startswith("runbook-tui ") and line.endswith(" --resume")
    # The console dropped: no run_finished. Starting again offers the journal.
    again = RunbookApp(session(tmp_path), live=False)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(again.screen, ResumeDialog))
        await pilot.press("enter")
        await wait_until(pilot, lambda: again.engine is not None)
        assert state(again, "safe") is StepState.DONE
        assert again.engine.journal.path == first.engine.journal.path


@pytest.mark.asyncio
async def test_a_run_not_resumed_is_abandoned_in_its_own_journal(tmp_path):
    # Seen on a site: "Start a new run" left the earlier journal unfinished, with no word of it.
    first = RunbookApp(session(tmp_path), live=False, resume=False)
    async with first.run_test(size=(120, 40)) as pilot:
        await select(pilot, first, "safe")
        await pilot.press("d", "enter")
        await wait_until(pilot, lambda: state(first, "safe") is StepState.DONE)
    second_session = session(tmp_path)
    second = RunbookApp(second_session, live=False)
    async with second.run_test(size=(120, 40)) as pilot:
        # The button laid out before it is clicked: under load a click on a dialog just pushed
        # could land before its first layout and miss (seen: no new run within 10 s).
        await wait_until(pilot, lambda: isinstance(second.screen, ResumeDialog)
                         and bool(second.screen.query("#new")) and second.screen.query_one("#new").region.width > 0)
        await pilot.pause()
        await pilot.click("#new")
        await wait_until(pilot, lambda: second.engine is not None)
        assert second.engine.journal.path != first.engine.journal.path
    old = read_journal(first.engine.journal.path).records
    assert old[-1]["kind"] == "run_abandoned" and second.engine.journal.path.name in old[-1]["reason"]
    assert "**abandoned**" in render_report(first.engine.journal.path)
    assert second_session.unfinished() is None or second_session.unfinished().journal != first.engine.journal.path


@pytest.mark.asyncio
async def test_export_writes_the_report_and_the_printable_checklist(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await pilot.press("e")
        stem = app.engine.journal.path.with_suffix("")
        report, paper = Path(f"{stem}-report.md"), Path(f"{stem}-checklist.txt")
        await wait_until(pilot, lambda: report.exists() and paper.exists())
        assert report.read_text().startswith("# After-action report: UI steps (u1)")
        assert "$ echo hello from room9" in paper.read_text()


@pytest.mark.asyncio
@pytest.mark.parametrize("width, height", [(80, 24), (120, 40)])
async def test_the_footer_shows_help_and_quit_at_every_size_and_cancel_only_while_something_runs(tmp_path, width, height):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(width, height)) as pilot:
        await select(pilot, app, "sleepy")
        await pilot.pause(0.2)
        shown = footer_keys(app)
        for action in ("run", "mark_done", "skip", "defer", "override", "help", "quit_app"):
            assert action in shown, (action, shown)
        assert "cancel_step" not in shown
        if width >= 120:
            assert {"pause", "export"} <= set(shown)
        await confirm_run(pilot, app)
        await wait_until(pilot, lambda: state(app, "sleepy") is StepState.RUNNING)
        await wait_until(pilot, lambda: "cancel_step" in footer_keys(app))
        shown = footer_keys(app)
        for action in ("cancel_step", "help", "quit_app"):
            assert action in shown, (action, shown)
        await pilot.press("x")
        await wait_until(pilot, lambda: state(app, "sleepy") is StepState.FAILED)
        await wait_until(pilot, lambda: "cancel_step" not in footer_keys(app))


@pytest.mark.asyncio
async def test_the_footer_keeps_its_keys_while_the_cursor_moves_and_rebuilds_when_they_change(tmp_path):
    # Each rebuild mounts and restyles every key: during a traffic flood that is what makes the
    # operator's keys wait. Moving within the checklist changes none of the keys shown.
    from textual.widgets._footer import FooterKey

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, app, "sleepy")
        await wait_until(pilot, lambda: "run" in footer_keys(app))
        before = {id(key) for key in app.screen.query(FooterKey)}
        for key in ("down", "down", "up", "up"):
            await pilot.press(key)
            await pilot.pause()
        app.refresh_bindings()  # what each tick and pane change does
        await pilot.pause(0.1)
        assert {id(key) for key in app.screen.query(FooterKey)} == before
        await start_sleepy(pilot, app)  # a running step adds the cancel key
        await wait_until(pilot, lambda: "cancel_step" in footer_keys(app))
        assert {id(key) for key in app.screen.query(FooterKey)} != before
        await pilot.press("x")
        await wait_until(pilot, lambda: "cancel_step" not in footer_keys(app))


@pytest.mark.asyncio
async def test_the_pane_tabs_are_made_when_the_screen_turns_narrow_on_the_pane_chosen_meanwhile(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        assert not app.run_screen.query("#pane-tabs")  # a wide screen shows all three panes: no tabs to draw
        await pilot.press("2")
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: bool(app.run_screen.query("#pane-tabs")) and app.screen.has_class("narrow"))
        await pilot.pause()
        tabs = app.run_screen.query_one("#pane-tabs", Tabs)
        assert tabs.display and tabs.active == "pane-step" and app.run_screen.query_one("#step").display
        await pilot.press("3")
        assert tabs.active == "pane-live" and app.run_screen.query_one("#live").display and not app.run_screen.query_one("#step").display
        await pilot.click("#pane-checklist")
        await wait_until(pilot, lambda: app.screen.pane == "checklist")
        assert app.run_screen.query_one("#checklist").display and not app.run_screen.query_one("#live").display

    # A pane key between the tabs' making and their mount: the key wins, not the pane they were made on.
    app = RunbookApp(session(tmp_path / "again"), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await pilot.resize_terminal(80, 24)
        app.run_screen.apply_layout()  # made on the checklist pane, mounting
        app.run_screen.action_pane("live")
        await wait_until(pilot, lambda: app.run_screen.query_one("#pane-tabs", Tabs).active == "pane-live")
        await pilot.pause(0.1)
        assert app.screen.pane == "live" and app.run_screen.query_one("#pane-tabs", Tabs).active == "pane-live"
        assert app.run_screen.query_one("#live").display and not app.run_screen.query_one("#checklist").display


@pytest.mark.asyncio
async def test_help_and_narrow_layout(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        assert app.screen.has_class("narrow")
        assert app.run_screen.query_one("#checklist").display and not app.run_screen.query_one("#right").display
        await pilot.press("3")
        assert app.run_screen.query_one("#live").display and not app.run_screen.query_one("#checklist").display
        await pilot.press("2")
        assert app.run_screen.query_one("#step").display and not app.run_screen.query_one("#live").display
        assert app.run_screen.query_one("#step-info").has_focus  # the step's text: PageDown scrolls it
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        # Resized while a dialog is on top: the panes catch up once it closes.
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.screen.has_class("narrow"), timeout=3)
        assert app.run_screen.query_one("#checklist").display and app.run_screen.query_one("#live").display
        # And back, narrow under the dialog: the tabs and one pane once it closes.
        await pilot.press("question_mark")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.crash_error is None and isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.has_class("narrow"), timeout=3)
        assert app.run_screen.query_one("#pane-tabs", Tabs).display and app.run_screen.query_one("#pane-tabs", Tabs).active == "pane-step"
        assert app.run_screen.query_one("#step").display and not app.run_screen.query_one("#checklist").display


@pytest.mark.asyncio
async def test_the_trainer_key_offers_the_drill_faults(tmp_path):
    from runbook_tui.ui.dialogs import ChooseOption

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await pilot.press("F")
        assert isinstance(app.screen, ChooseOption)
        labels = [str(app.screen.query_one("#options").get_option_at_index(i).prompt) for i in range(6)]
        assert any("flapping-primary" in label for label in labels)
        assert not any("(in:" in label for label in labels)  # nothing injected yet
        await pilot.press("escape")
        assert not isinstance(app.screen, ChooseOption)


@pytest.mark.asyncio
async def test_the_trainer_sees_which_faults_are_already_in(tmp_path):
    from runbook_tui.ui.dialogs import ChooseOption

    root = tmp_path
    (root / "infra").mkdir()
    # The trainer's own session in the lab (in a drill, F is not the trainee's: see the test below).
    trainer = Session(settings_without_dns(root, lab=True), "room9", CHECKLIST)
    app = RunbookApp(trainer, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        app.engine.journal.append("fault_injected", fault="controller-never-acks", effect="sim1 stops acking")
        await pilot.press("F")
        assert isinstance(app.screen, ChooseOption)
        labels = {str(app.screen.query_one("#options").get_option_at_index(i).prompt).split(":", 1)[0]:
                  str(app.screen.query_one("#options").get_option_at_index(i).prompt) for i in range(6)}
        assert "(in: injected " in labels["controller-never-acks"]
        assert "(in:" not in labels["standby-drift"]


@pytest.mark.asyncio
@pytest.mark.frames
async def test_the_mouse_selects_runs_and_confirms(tmp_path):
    from textual.widgets import Tree
    from textual.widgets._footer import FooterKey

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello")
        tree = app.run_screen.query_one("#checklist", Tree)
        node = next(n for n in tree.root.children[0].children if n.data == "safe")
        # A click on the step's line selects it (the tree's border takes the first row and column).
        assert await pilot.click("#checklist", offset=(4, node.line - int(tree.scroll_y) + 1))
        await wait_until(pilot, lambda: selected(app) == "safe")
        done_key = next(k for k in app.run_screen.query(FooterKey) if action_name(k.action) == "mark_done")
        assert await pilot.click(done_key)
        assert isinstance(app.screen, ConfirmRun)
        assert await pilot.click("#ok")
        await wait_until(pilot, lambda: state(app, "safe") is StepState.DONE)
        await pilot.click(next(k for k in app.run_screen.query(FooterKey) if action_name(k.action) == "help"))
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        # The live panel's tabs answer a click too.
        assert await pilot.click("#live-tabs Tab#--content-tab-tab-dns")
        await wait_until(pilot, lambda: app.run_screen.query_one("#live-tabs").active == "tab-dns")


@pytest.mark.asyncio
async def test_hostile_names_from_the_broker_are_shown_as_text_not_markup(tmp_path):
    from runbook_tui.probes.flows import Flow

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        flows = (Flow("[/]flow-0001-abcdef", "[/]door", "[bold]OPEN", (("dispatch", "primary", 1.0), ("command", "primary", 1.1)),
                      "timeout: no ack from [/]door"),
                 Flow("flow-test-0002", "sim1", "SET", (("dispatch", "primary", 2.0),), "complete"))
        snap = MqttSnapshot((BrokerState("primary", "127.0.0.2:1883", True, None, 2, 1, None),), (),
                            (("primary", status(online=True, dispatch_enabled=True, version="[/]8")),), flows, 0, 0.0)
        app.post_message(MqttBatchArrived(MqttBatch((Message("primary", "core/[/]x", b"[/]", False, 0.0, 3),), 0, snap)))
        table = app.run_screen.query_one("#flows")
        await wait_until(pilot, lambda: table.row_count == 2)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")  # the Flows tab, drawn
        await pilot.pause(0.2)
        cells = [str(c) for c in table.get_row_at(0)]
        assert cells[:3] == ["flow-…t-0002", "sim1", "SET"]
        cells = [str(c) for c in table.get_row_at(1)]
        assert cells[0] == "[/]fl…abcdef" and cells[1] == "[/]door" and cells[2] == "[bold]OPEN"
        assert app.is_running and app.return_code is None


@pytest.mark.asyncio
async def test_a_flows_verdict_is_drawn_whole_when_it_comes_after_the_dispatch(tmp_path):
    # Seen once in CI (a drill's controller that never acks): the Flows tab said "timeou".
    from runbook_tui.probes.flows import Flow

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")  # the Flows tab
        table = app.run_screen.query_one("#flows")
        for n, result in enumerate((None, "timeout: no ack from device")):
            flows = (Flow("ec886abcdef9707c3", "sim1", "SET", (("dispatch", "primary", 1.0),), result),)
            snap = MqttSnapshot((BrokerState("primary", "127.0.0.2:1883", True, None, 2, 1, None),), (), (), flows, 0, 0.0)
            app.post_message(MqttBatchArrived(MqttBatch((Message("primary", "x", b"y", False, float(n), 3),), 0, snap)))
            shown = result or "…"
            await wait_until(pilot, lambda shown=shown: table.row_count == 1 and str(table.get_row_at(0)[3]) == shown)
            await pilot.pause()
            assert shown in table.render_line(1).text


@pytest.mark.asyncio
async def test_a_resumed_drill_stays_a_drill_of_the_same_trainee(tmp_path):
    drill = session(tmp_path)
    drill.drill, drill.config.drill, drill.config.operator = "standby-drift", "standby-drift", "ana"
    first = RunbookApp(drill, live=False, resume=False)
    async with first.run_test(size=(120, 40)) as pilot:
        await select(pilot, first, "safe")
        await pilot.press("d", "enter")
        await wait_until(pilot, lambda: state(first, "safe") is StepState.DONE)
    again = RunbookApp(session(tmp_path), live=False)  # plain `runbook-tui`, as after a dropped session
    async with again.run_test(size=(120, 40)) as pilot:
        # Waited for whole: on a loaded machine the dialog was current before its words were composed.
        await wait_until(pilot, lambda: isinstance(again.screen, ResumeDialog) and any(
            "Drill standby-drift, trainee ana." in str(w.render()) for w in again.screen.query(Static)))
        await pilot.press("enter")
        await wait_until(pilot, lambda: again.engine is not None and "DRILL standby-drift" in again.title)
        assert again.engine.config.operator == "ana"


@pytest.mark.asyncio
async def test_j_and_k_move_through_the_steps_like_the_arrows(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello")
        await pilot.press("j")
        await wait_until(pilot, lambda: selected(app) == "decide")
        await pilot.press("k")
        await wait_until(pilot, lambda: selected(app) == "hello")



@pytest.mark.asyncio
async def test_the_command_palette_lists_the_steps_before_anything_is_typed(tmp_path):
    from textual.command import CommandList, CommandPalette

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and selected(app) == "hello")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))

        def offered() -> list[str]:
            options = app.screen.query_one(CommandList)
            return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

        await wait_until(pilot, lambda: any("Go to step: Room is safe" in o for o in offered()))
        listed = offered()
        assert listed[0].startswith("Run the selected step")  # the runbook's entries first
        theme = next(i for i, o in enumerate(listed) if o.startswith("Theme"))
        assert theme > max(i for i, o in enumerate(listed) if o.startswith("Go to step"))  # Textual's own after them
        target = next(i for i, o in enumerate(offered()) if "Go to step: Room is safe" in o)
        app.screen.query_one(CommandList).highlighted = target
        await pilot.press("enter")
        await wait_until(pilot, lambda: selected(app) == "safe")


@pytest.mark.asyncio
async def test_running_a_decided_step_again_says_so_in_the_confirmation(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello")
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmRun) and not app.screen.query("#already")  # the first time: no note
        await pilot.press("enter")
        await wait_until(pilot, lambda: state(app, "hello") is StepState.DONE)
        await select(pilot, app, "hello")
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmRun)
        note = str(app.screen.query_one("#already").render())
        assert note.startswith("Already done at ") and "running it again repeats it" in note
        await pilot.press("escape")


@pytest.mark.asyncio
async def test_messages_name_steps_as_the_checklist_numbers_them_not_by_id(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and selected(app) == "hello")
        # Option B is the default, so "Only with A" has no number and the steps after it move up.
        assert app.run_screen.step_name("hello") == "1. Say hello"
        assert app.run_screen.steps_named(["hello", "safe"]) == "1. Say hello; 6. Room is safe"
        assert app.run_screen.steps_named(["hello", "danger", "safe"]) == "steps 1, 3 and 6"
        await select(pilot, app, "sleepy")
        await pilot.press("d")  # not an open-loop step: the warning names it
        await wait_until(pilot, lambda: any("5. Sleep a while turns done by running it" in n
                                            for n in notices(app)))


@pytest.mark.asyncio
async def test_the_containers_tab_says_when_the_standby_drifted_from_the_primary(tmp_path):
    from runbook_tui.observe.model import StackSnapshot
    from runbook_tui.stacks import shared_settings
    from runbook_tui.ui.live_view import LiveView

    def snapshot(role: str, env: dict[str, str]) -> StackSnapshot:
        return StackSnapshot(role, f"room9-{role}", True, None, (), (), (), time.time(), 1, shared_settings(env))

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        live = app.run_screen.query_one(LiveView)
        live.update_containers(snapshot("primary", {"CORE_VERSION": "8.0.0", "MQTT_PASSWORD": "pw-one-two"}))
        live.update_containers(snapshot("standby", {"CORE_VERSION": "8.0.0", "MQTT_PASSWORD": "pw-one-two"}))
        await pilot.pause()
        assert "differ" not in str(app.run_screen.query_one("#containers-note").render())
        live.update_containers(snapshot("standby", {"CORE_VERSION": "7.9.0", "MQTT_PASSWORD": "pw-three"}))
        await pilot.pause()
        note = str(app.run_screen.query_one("#containers-note").render())
        assert "the stacks' .env files differ (runbook 5)" in note and "CORE_VERSION primary 8.0.0 / standby 7.9.0" in note
        assert "MQTT_PASSWORD differs (values not shown)" in note and "pw-" not in note


@pytest.mark.asyncio
async def test_enter_on_a_step_in_the_checklist_runs_it_and_on_a_section_folds_it(tmp_path):
    from textual.widgets import Tree

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello")
        tree = app.run_screen.query_one("#checklist", Tree)
        assert tree.has_focus
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmRun)  # the confirmation first, as with r
        await pilot.press("enter")
        await wait_until(pilot, lambda: state(app, "hello") is StepState.DONE)
        tree.move_cursor(tree.root.children[0])  # the section heading
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not tree.root.children[0].is_expanded and not isinstance(app.screen, ConfirmRun)


@pytest.mark.asyncio
async def test_the_decision_cannot_change_once_steps_were_decided_under_it(tmp_path):
    from runbook_tui.engine.run import EngineRefusal
    from runbook_tui.ui.dialogs import ChooseOption

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        app.engine.choose("reach", "B")  # nothing decided under it yet: free to change
        app.engine.choose("reach", "A")
        app.engine.mark_done("only-a", confirmed=True)
        with pytest.raises(EngineRefusal, match="reach stays A: steps were already decided under it"):
            app.engine.choose("reach", "B")
        await select(pilot, app, "decide")
        await pilot.press("r")
        assert isinstance(app.screen, ChooseOption)
        app.screen.query_one("#options").highlighted = 1  # Option B
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("start a new run" in n for n in notices(app)))
        assert app.engine.choices["reach"] == "A" and state(app, "only-a") is StepState.DONE


def test_the_resume_line_is_a_command_that_reopens_the_same_run(tmp_path):
    # Seen on a site: "Resume: runbook-tui --room clockwork" left out --settings, so pasted as
    # printed it opened the lab instead of the site.
    import dataclasses
    import shlex

    plain = session(tmp_path)
    assert shlex.split(plain.resume_command()) == ["runbook-tui", "--room", "room9", "--checklist", str(CHECKLIST.resolve()),
                                                  "--resume"]
    site_file = tmp_path / "site.toml"
    site = Session(dataclasses.replace(plain.settings, source=site_file, checklist=CHECKLIST), "room9", CHECKLIST)
    assert shlex.split(site.resume_command()) == ["runbook-tui", "--settings", str(site_file.resolve()), "--room", "room9",
                                                 "--resume"]
    # Once its run began, the operator its journal names: the resumed console holds the room as
    # that operator (seen on a site walk: the venue said "✎ operator", the journal "opened by olga").
    named = Session(plain.settings, "room9", CHECKLIST, operator="olga")
    named.start_engine()
    try:
        assert shlex.split(named.resume_command())[-3:] == ["--operator", "olga", "--resume"]
    finally:
        named.engine.journal.close()
        named.release()


@pytest.mark.asyncio
async def test_a_goes_to_the_evidence_that_no_longer_holds_wherever_the_cursor_is(tmp_path):
    # Seen at 80x24: the header said "1 no longer holds", a on another step said "nothing to
    # acknowledge", and what was typed next went to the checklist as keys.
    from tests.observations import room, stack

    (tmp_path / "infra").mkdir()
    promotion = Session(settings_without_dns(tmp_path, lab=True), "room1",
                        REPO / "checklists" / "promotion.yaml")
    app = RunbookApp(promotion, live=False, resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        app.post_message(RoomObserved(room([stack("primary", core="exited", others="exited"), stack("standby")])))
        await wait_until(pilot, lambda: state(app, "stop-primary") is StepState.DONE)
        app.post_message(RoomObserved(room([stack("primary"), stack("standby")])))
        await wait_until(pilot, lambda: "stop-primary" in app.engine.lapses and "1 no longer holds" in app.sub_title)
        app.run_screen.goto_step("edit-env")
        await pilot.pause()
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AskReason))
        assert "Shut the primary down" in app.screen.title_text and selected(app) == "stop-primary"
        await pilot.press(*"started again on purpose", "enter")
        await wait_until(pilot, lambda: app.engine.lapses["stop-primary"].acknowledged == "started again on purpose")
        assert "no longer hold" not in app.sub_title


@pytest.mark.asyncio
async def test_notices_say_square_brackets_as_written_and_a_step_needing_an_unset_variable_does_not_open(tmp_path):
    # Seen on a site: "set it in the settings' [variables]" reached the screen as "settings'  or",
    # Textual's markup having taken "[variables]" for a tag.
    from rich.text import Text

    (tmp_path / "infra").mkdir()
    promotion = Session(settings_without_dns(tmp_path, lab=True), "room1",
                        REPO / "checklists" / "promotion.yaml")  # no smoke_device: not the lab's defaults
    app = RunbookApp(promotion, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await select(pilot, app, "smoke-test")
        await pilot.press("r")
        await wait_until(pilot, lambda: any("smoke_device" in n for n in notices(app)))
        said = next(Text.from_markup(n).plain for n in notices(app) if "smoke_device" in n)
        assert "the settings' [variables] or with --var NAME=VALUE" in said
        assert not isinstance(app.screen, ConfirmRun)


@pytest.mark.asyncio
async def test_a_drill_does_not_give_itself_away_to_the_trainee(tmp_path):
    # Seen: the Containers tab said "CORE_FAULT ... crashloop" and F listed the scenario as "in".
    import dataclasses

    from runbook_tui.stacks import drift, shared_settings

    assert drift(shared_settings({"CORE_FAULT": "crashloop", "ROOM_ID": "r"}), shared_settings({"ROOM_ID": "r"})) == []
    plain = session(tmp_path)
    drill = Session(dataclasses.replace(plain.settings, lab=True), "room9", CHECKLIST, drill="flapping-primary")
    app = RunbookApp(drill, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await pilot.press("F")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ChooseOption)  # no list of faults with "in" marks
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen) and "inject a drill fault" not in app.screen.text


@pytest.mark.asyncio
async def test_a_fault_injected_from_another_terminal_is_journaled_in_the_open_run_and_not_compared(tmp_path):
    # Seen: a fault injected with `lab fault` from a second terminal was not in the trainee's run;
    # the report blamed the failed smoke test on the trainee and still marked the run as the best.
    import dataclasses
    from types import SimpleNamespace

    from runbook_tui.lab.faults import log_fault

    plain = session(tmp_path)
    settings = dataclasses.replace(plain.settings, lab=True)
    lab = SimpleNamespace(stack_root=settings.stack_root)
    log_fault(lab, "room9", "flapping-primary", "the drill's own scenario, before the run", healed=False)
    drill = Session(settings, "room9", CHECKLIST, drill="flapping-primary")
    app = RunbookApp(drill, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        log_fault(lab, "room9", "controller-never-acks", "sim1 receives commands but never acks", healed=False)
        await wait_until(pilot, lambda: any(r["kind"] == "fault_injected" for r in read_journal(app.engine.journal.path).records))
        records = [r for r in read_journal(app.engine.journal.path).records if r["kind"] == "fault_injected"]
        assert [r["fault"] for r in records] == ["controller-never-acks"]  # not the scenario logged before the run
        app.engine.finish()
        report = render_report(app.engine.journal.path)
    assert "trainer injected controller-never-acks: sim1 receives commands but never acks" in report
    assert "Faults the trainer injected during the run: controller-never-acks" in report
    assert "Not compared: the trainer injected controller-never-acks" in report and "| best" not in report


@pytest.mark.asyncio
async def test_ticks_said_after_the_screen_is_taken_down_do_not_crash_the_closing_app(tmp_path):
    # Seen in CI: ticks on sensed evidence, then quit; their notice (0.8 s later) fired while the
    # screen was being taken down and looked for the checklist pane.
    from runbook_tui.engine.events import StepSensed
    from runbook_tui.ui.checklist_view import ChecklistView
    from runbook_tui.ui.messages import EngineEvent

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and selected(app) is not None)
        app.post_message(EngineEvent(StepSensed("hello", "seen")))
        await pilot.pause()
        await app.run_screen.query_one(ChecklistView).remove()  # as at quit, before the notice's timer
        await pilot.pause(1.2)
        assert app.crash_error is None and app.is_running
