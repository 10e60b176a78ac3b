"""A step the engine ticks on evidence reaches the screen as a typed event (StepSensed), not as
words the UI searches for: the run's screen says it, once for ticks that come together."""

from __future__ import annotations

import pytest

from runbook_tui.engine import records as rec
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import StepState
from runbook_tui.session import Session
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import ConfirmRun
from runbook_tui.ui.messages import RoomObserved
from tests.conftest import REPO, settings_without_dns
from tests.observations import room, stack
from tests.ui.helpers import notices, selected, wait_until


@pytest.mark.asyncio
async def test_a_step_ticked_on_evidence_is_said_on_screen(tmp_path):
    (tmp_path / "infra").mkdir()
    promotion = Session(settings_without_dns(tmp_path, lab=True), "room1",
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


@pytest.mark.asyncio
async def test_a_step_ticked_on_evidence_while_its_confirmation_is_open_is_not_run_again(tmp_path):
    # Seen in a lab run: the room's evidence ticked a procedure's wait while the operator was
    # confirming r on it; the confirmed run then recorded it done a second time.
    (tmp_path / "infra").mkdir()
    promotion = Session(settings_without_dns(tmp_path, lab=True), "room1",
                        REPO / "checklists" / "promotion.yaml")
    app = RunbookApp(promotion, live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        # The run's cursor is first put on the first step to do: moved after that, not before.
        await wait_until(pilot, lambda: app.engine is not None and selected(app) is not None)
        app.run_screen.goto_step("stop-primary")
        await wait_until(pilot, lambda: app.run_screen.selected == "stop-primary")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmRun) and app.screen.focused is not None)
        app.post_message(RoomObserved(room([stack("primary", core="exited", others="exited"), stack("standby")])))
        await wait_until(pilot, lambda: app.engine.status("stop-primary").state is StepState.DONE)
        await pilot.press(*"room1", "enter")
        await wait_until(pilot, lambda: any("while you were confirming" in n for n in notices(app)))
        await pilot.pause(0.3)
        records = read_journal(app.engine.journal.path).records
        mine = [r for r in records if r.get("step") == "stop-primary"]
        assert [r["state"] for r in mine if r["kind"] == rec.StepStateRecord.KIND] == ["done"], mine
        assert not [r for r in mine if r["kind"] == rec.Confirmed.KIND], mine
        assert app.engine.running_step is None
        said = next(n for n in notices(app) if "while you were confirming" in n)
        assert "Shut the primary down" in said and "not run" in said
