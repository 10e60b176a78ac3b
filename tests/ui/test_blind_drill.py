"""A blind drill: the trainee's screens say DRILL and never the scenario until the drill ends
(seen on a drill walk: the header said `DRILL <scenario>` all drill long, on the console and on
the phone). A drill that is not blind names its scenario, as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from runbook_tui.engine.floor import floor_state
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import StepState
from runbook_tui.lab.faults import FAULTS
from runbook_tui.session import Session
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import HelpScreen, ResumeDialog
from runbook_tui.ui.floor_app import FloorApp
from tests.conftest import REPO, settings_without_dns
from tests.ui.helpers import notices, selected, wait_until

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "ui-steps.yaml"
SCENARIO = "flapping-primary"


def drill(root: Path, blind: bool) -> Session:
    (root / "infra").mkdir(parents=True, exist_ok=True)
    settings = settings_without_dns(root, lab=True)
    return Session(settings, "room9", CHECKLIST, drill=SCENARIO, operator="ana", blind=blind)


def gives_away(text: str) -> bool:
    return SCENARIO in text or FAULTS[SCENARIO].summary in text or "crash-loop" in text


def captures(app: RunbookApp) -> str:
    """What the trainee can see: the screen as exported, the title, and the notices."""
    return "\n".join([app.export_screenshot(), app.title, app.sub_title, *notices(app)])


@pytest.mark.asyncio
async def test_no_capture_of_the_trainees_screens_names_the_scenario_before_the_drill_ends(tmp_path: Path):
    session = drill(tmp_path, blind=True)
    seen: list[str] = []
    app = RunbookApp(session, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        seen.append(captures(app))  # the first frame
        await wait_until(pilot, lambda: selected(app) == "hello")
        seen.append(captures(app))
        assert "DRILL" in app.title
        await pilot.press("r")
        seen.append(captures(app))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.engine.status("hello").state is StepState.DONE)
        seen.append(captures(app))
        await pilot.press("F")  # the trainer's key: refused in a drill, saying so
        await pilot.pause(0.2)
        seen.append(captures(app))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        seen.append(captures(app))
        await pilot.press("escape")
        journal = app.engine.journal.path
    seen.append(session.farewell())  # what the terminal shows once the TUI closes
    # The phone at the room: the floor view's state and its page.
    state = floor_state(journal)
    assert state.drill == "" and not gives_away(repr(state.drill))
    floor = FloorApp(session.settings.runs_dir, "room9")
    async with floor.run_test(size=(44, 40)) as pilot:
        await wait_until(pilot, lambda: "Say hello" in "\n".join(str(w.render()) for w in floor.query(Static)))
        page = floor.export_screenshot()
        assert "DRILL" in page
        seen.append(page)
    # Opened again: the resume question is the trainee's screen too.
    again = RunbookApp(drill(tmp_path, blind=True), live=False, resume=None)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(again.screen, ResumeDialog))
        seen.append(captures(again))
        await pilot.press("enter")
        await wait_until(pilot, lambda: again.engine is not None and selected(again) is not None)
        seen.append(captures(again))
        assert "DRILL" in again.title  # a resumed blind drill stays blind
    # Reopened with `--drill SCENARIO` but without --blind: once the run is resumed its journal
    # decides, and the header says DRILL only (what was typed before it is the typist's own).
    third = RunbookApp(drill(tmp_path, blind=False), live=False, resume=True)
    async with third.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: third.engine is not None and selected(third) is not None)
        assert third.title.endswith("DRILL") and third.session.blind
        third.engine.finish()
        report = render_report(third.engine.journal.path)
    for i, text in enumerate(seen):
        assert not gives_away(text), f"capture {i} names the scenario"
    # Once it has ended, the report names it for the debrief.
    assert f"- Scenario: {SCENARIO} (blind" in report


@pytest.mark.asyncio
async def test_a_drill_that_is_not_blind_names_its_scenario(tmp_path: Path):
    app = RunbookApp(drill(tmp_path, blind=False), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello")
        assert f"DRILL {SCENARIO}" in app.title
        assert gives_away(app.export_screenshot())  # what the blind test looks for is there to see
        journal = app.engine.journal.path
    assert floor_state(journal).drill == SCENARIO


@pytest.mark.asyncio
async def test_e_in_a_blind_drill_writes_no_report_before_the_run_is_complete(tmp_path: Path):
    # Seen: e mid-drill wrote a report naming the scenario, the fault and the drill's history.
    for blind in (True, False):
        await _export_mid_drill(tmp_path / ("blind" if blind else "named"), blind)


async def _export_mid_drill(root: Path, blind: bool) -> None:
    app = RunbookApp(drill(root, blind=blind), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello")
        journal = app.engine.journal.path
        report = journal.with_name(journal.stem + "-report.md")
        await pilot.press("e")
        if blind:
            await wait_until(pilot, lambda: any("once the run is complete" in n for n in notices(app)))
            await pilot.pause(0.3)
            assert not report.exists() and not gives_away(captures(app))
        else:  # a drill that is not blind exports as any run does
            await wait_until(pilot, report.exists)
            assert gives_away(report.read_text())


def test_the_drill_command_is_blind_with_a_trainee_unless_told_otherwise():
    import argparse

    from runbook_tui.cli.drill import add_drill_command, blind_wanted, drill_options

    parser = argparse.ArgumentParser()
    add_drill_command(parser.add_subparsers(dest="command"))

    def blind(*argv: str) -> bool:
        return blind_wanted(parser.parse_args(["drill", "room1", "--scenario", SCENARIO, *argv]))

    assert blind("--trainee", "ana") and not blind()  # a trainee's drill is blind; a trainer trying one out sees it
    assert not blind("--trainee", "ana", "--no-blind") and blind("--blind")
    # The steps the scenario's fault fails reach the run (its report excuses their first failure).
    assert drill_options("controller-never-acks", True) == {"blind": True, "drill_symptoms": ("smoke-test",)}
