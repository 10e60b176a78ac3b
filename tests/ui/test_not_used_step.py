"""A step the run's choice leaves out (shown "not used") opens no dialog: seen on a site walk,
"Mark done" was offered on "Acknowledge a core-only promotion (not used)", and the engine refused
it only once confirmed."""

from __future__ import annotations

import pytest

from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import _Dialog
from tests.ui.helpers import notices, promotion_on_site, selected, wait_until


@pytest.mark.asyncio
async def test_a_step_not_used_opens_no_dialog_and_says_why(tmp_path):
    app = RunbookApp(promotion_on_site(tmp_path, "room9"), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and selected(app) is not None)
        step = app.engine.checklist.step("core-only-warning")
        assert not step.applies(app.engine.choices)  # Option B, the v8 choice, leaves it out
        app.run_screen.goto_step("core-only-warning")
        await pilot.pause(0.3)
        assert selected(app) == "core-only-warning"
        for key in ("d", "r", "s", "o"):
            await pilot.press(key)
            await pilot.pause(0.3)
            assert not isinstance(app.screen, _Dialog), (key, app.screen)
        assert any("is not used with controller_reach=B" in n for n in notices(app)), notices(app)
        assert app.engine.status("core-only-warning").state.value == "pending"
