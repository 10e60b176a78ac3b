"""How the TUI looks, at 80x24 and 120x40, in its main states (pytest-textual-snapshot).

The app runs steady (no clock, no elapsed time, no cursor blink) so the same state gives the
same picture. After a deliberate change of the look: pytest tests/ui/test_snapshots.py
--snapshot-update, then review the SVGs in tests/ui/__snapshots__/ like code.
"""

from __future__ import annotations

import pytest

from runbook_tui.engine.run import StepState
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import GuardRefusedDialog
from runbook_tui.ui.messages import RoomObserved
from tests.observations import dual_control_room
from tests.ui.helpers import confirm_run, laid_out, selected, wait_until
from tests.ui.test_app import select, session

SIZES = [(80, 24), (120, 40)]


async def idle(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.engine is not None and selected(app) == "hello"
                     and "Say hello" in str(app.run_screen.query_one("#step-text").render()))


async def running(pilot) -> None:
    app = pilot.app
    await select(pilot, app, "sleepy")
    await confirm_run(pilot, app)
    await wait_until(pilot, lambda: app.engine.status("sleepy").state is StepState.RUNNING
                     and app.run_screen.query_one("#step-output").line_count >= 1)
    if app.screen.has_class("narrow"):
        await pilot.press("2")
        # The tab underline slides to "2 Step": let it arrive, or a frame mid-way is captured.
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.3)


async def guard_refused(pilot) -> None:
    app = pilot.app
    await select(pilot, app, "guarded")
    await confirm_run(pilot, app)
    await wait_until(pilot, lambda: isinstance(app.screen, GuardRefusedDialog))
    await laid_out(pilot, app.run_screen)  # the banner behind the dialog: the pilot waits only for the dialog


async def dual_control(pilot) -> None:
    app = pilot.app
    await idle(pilot)
    app.post_message(RoomObserved(dual_control_room()))
    await wait_until(pilot, lambda: app.run_screen.query_one("#banner").display)


async def complete_except_deferred(pilot) -> None:
    app = pilot.app
    await idle(pilot)
    engine = app.engine
    await confirm_run(pilot, app)
    await wait_until(pilot, lambda: engine.status("hello").state is StepState.DONE)
    engine.choose("reach", "B")
    for step in ("danger", "guarded", "sleepy"):
        engine.skip(step, "not part of this drill")
    engine.defer("safe", "after the guests leave")
    await wait_until(pilot, lambda: app.run_screen.finished)
    app.run_screen.goto_step("safe")
    await pilot.pause()


STATES = {"idle": idle, "running": running, "guard_refused": guard_refused, "dual_control": dual_control,
          "complete_except_deferred": complete_except_deferred}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("state", list(STATES))
def test_looks(snap_compare, tmp_path, state, size):
    app = RunbookApp(session(tmp_path), live=False, resume=False, steady=True)
    assert snap_compare(app, terminal_size=size, run_before=STATES[state])
