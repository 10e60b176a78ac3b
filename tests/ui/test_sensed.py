"""A step the engine ticks on evidence reaches the screen as a typed event (StepSensed), not as
words the UI searches for: the run's screen says it, once for ticks that come together."""

from __future__ import annotations

import pytest

from runbook_tui.engine.run import StepState
from runbook_tui.session import Session
from runbook_tui.settings import Settings
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.messages import RoomObserved
from tests.conftest import REPO
from tests.observations import room, stack
from tests.ui.helpers import notices, wait_until


@pytest.mark.asyncio
async def test_a_step_ticked_on_evidence_is_said_on_screen(tmp_path):
    (tmp_path / "infra").mkdir()
    promotion = Session(Settings(stack_root=tmp_path, resolvers=(("127.0.0.1", 15399),), lab=True), "room1",
                        REPO / "checklists" / "promotion.yaml")
    app = RunbookApp(promotion, live=False, resume=False)
    events: list[object] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        forward = app.engine.emit
        app.engine.emit = lambda event: (events.append(event), forward(event))
        app.post_message(RoomObserved(room([stack("primary", core="exited", others="exited"), stack("standby")])))
        await wait_until(pilot, lambda: app.engine.status("stop-primary").state is StepState.DONE)
        sensed = [e for e in events if type(e).__name__ == "StepSensed"]
        assert "stop-primary" in [e.step_id for e in sensed]
        await wait_until(pilot, lambda: any("Done on sensed evidence" in n for n in notices(app)))
        said = next(n for n in notices(app) if "Done on sensed evidence" in n)
        assert "Shut the primary down" in said or "steps" in said  # by title (or numbers, for several)
