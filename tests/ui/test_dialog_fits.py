"""A risky step's confirmation keeps what must be seen on an 80x24 terminal: what runs, the box
for the room id and the Run / Cancel buttons. Seen on a site walk at 80x24: the arming steps'
confirmations drew their buttons below the screen (row 24 of 24)."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input

from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import ConfirmRun
from tests.ui.helpers import promotion_on_site, selected, wait_until


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_risky_confirmation_shows_its_box_and_buttons_on_screen(tmp_path, size):
    session = promotion_on_site(tmp_path, "room9")
    app = RunbookApp(session, live=False, resume=False)
    async with app.run_test(size=size) as pilot:
        # After the app's own first selection (the first pending step), then ours.
        await wait_until(pilot, lambda: app.engine is not None and selected(app) is not None)
        for step in ("recreate-core-armed", "stop-primary", "enable-dispatch"):
            app.run_screen.goto_step(step)
            await pilot.pause(0.3)
            assert selected(app) == step
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmRun))
            await pilot.pause(0.3)
            shown = [*app.screen.query(Button), *app.screen.query(Input)]
            assert {str(b.label) for b in app.screen.query(Button)} == {"Run", "Cancel"}
            for widget in shown:
                region = widget.region
                assert region.height > 0 and region.bottom <= size[1], (step, widget, region)
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmRun))


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_notices_said_while_a_risky_confirmation_is_open_wait_until_it_closes(tmp_path, size):
    # Seen at 80x24: two notices (a step done on evidence, an alarm) drew over Run, Cancel and the
    # box for the room id, where Textual puts notices (bottom right); moved to the top, they hid
    # the floor view's link. While a dialog is open they are not drawn; they show once it closes.
    from textual.widgets._toast import Toast

    def drawn() -> list:
        return [t for t in app.screen.query(Toast) if t.region.height and t.visible]

    session = promotion_on_site(tmp_path, "room9")
    app = RunbookApp(session, live=False, resume=False)
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and selected(app) is not None)
        app.run_screen.goto_step("stop-primary")
        await wait_until(pilot, lambda: selected(app) == "stop-primary")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmRun))
        app.notify("Done on sensed evidence: 5. Check the standby's broker answers (the standby's broker is up)")
        app.notify("ALARM: a dispatch with no ack from door7 (4 s)", severity="error")
        await wait_until(pilot, lambda: len(app.screen.query(Toast)) == 2)  # there, behind the dialog
        await pilot.pause(0.3)
        assert drawn() == []
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmRun))
        await wait_until(pilot, lambda: len(drawn()) == 2)
