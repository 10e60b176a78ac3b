"""A promotion run that sees dual control and then a quiet room: the console, the floor view, a
resumed console and the report agree on every step (the check after every test replays the
journal this test writes). Seen: "Bring up the primary" lapsed on the quiet room, then "Shut the
primary down", which supersedes it, turned done on the same look; the console dropped the lapse
only at its next look, so a journal ending there replayed as "no longer holds" on the floor view
and in the report, but not in a resumed console."""

from __future__ import annotations

import pytest

from runbook_tui.engine.journal import read_journal
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.messages import RoomObserved
from tests.observations import dual_control_room, quiet_room
from tests.ui.helpers import promotion_on_site, wait_until


@pytest.mark.asyncio
async def test_dual_control_then_a_quiet_room_is_told_alike(tmp_path):
    session = promotion_on_site(tmp_path, "room1", journal_dir=tmp_path / "runs")
    app = RunbookApp(session, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and app.run_screen is not None)
        app.post_message(RoomObserved(dual_control_room()))
        await pilot.pause(0.5)
        app.post_message(RoomObserved(quiet_room()))
        await wait_until(pilot, lambda: app.engine.status("stop-primary").state.value == "done")
        assert "up-primary" not in app.engine.lapses
        kinds = [r["kind"] for r in read_journal(app.engine.journal.path).records]
        assert "condition_lapsed" in kinds and "lapse_superseded" in kinds, kinds
