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
