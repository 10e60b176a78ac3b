"""The TUI opens the real promotion checklist on a site with no fence command of its own.
Seen: the step the site has no command for was skipped as the run started, and the engine's
event for it reached the app before its run was on screen: "runbook-tui stopped on an internal
error (AttributeError)" on every room without a fence command, lab rooms included."""

from __future__ import annotations

import pytest

from runbook_tui.engine.events import StepState
from runbook_tui.ui.app import RunbookApp
from tests.ui.helpers import promotion_on_site, wait_until


@pytest.mark.asyncio
async def test_the_promotion_opens_on_a_site_without_a_fence_command(tmp_path):
    session = promotion_on_site(tmp_path, "room9")
    app = RunbookApp(session, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and app.run_screen is not None)
        await pilot.pause(0.5)
        assert app.is_running and app.return_code is None
        skipped = app.engine.status("fence-primary-command")
        assert skipped.state is StepState.SKIPPED and "fence" in skipped.reason, skipped
        await pilot.press("down", "down")
        await pilot.pause()
        assert app.is_running
