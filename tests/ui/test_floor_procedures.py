"""The floor view shows a non-normal procedure the run queued to the person at the room when one
of its steps is theirs to confirm, and the console takes their confirmation of it (the floor's
Textual app driven with Pilot; the console's engine on a scratch run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.floor import read_confirmations
from runbook_tui.engine.run import RunConfig, RunEngine
from runbook_tui.ui.floor_app import FloorApp
from tests.conftest import REPO
from tests.observations import Unseen
from tests.ui.helpers import wait_until


def shown(app) -> str:
    return "\n".join(str(w.render()) for w in app.query(Static))


def promotion_run(runs: Path) -> RunEngine:
    c = load_checklist(REPO / "checklists" / "promotion.yaml")
    values = resolve_variables(c, {"room": "room9"}, runs).values
    return RunEngine.start(c, values, Unseen(), runs / "room9-promotion-20261207T100000.jsonl", RunConfig(runs, operator="olga"))


@pytest.mark.asyncio
async def test_a_queued_procedure_with_a_step_for_the_room_is_on_the_phone_and_its_confirmation_is_taken(tmp_path: Path):
    engine = promotion_run(tmp_path)
    app = FloorApp(tmp_path, "room9")
    async with app.run_test(size=(44, 40)) as pilot:  # a phone's width
        await wait_until(pilot, lambda: "Put the room in a safe state" in shown(app) or "room9" in shown(app))
        assert "NON-NORMAL" not in shown(app)
        # Dual control has no step for the room: not on the phone.
        engine.procedures.queue("dual-control-primary", "both cores dispatch", source="venue")
        # Controllers lost has one (the controllers' power and network, checked at the room).
        engine.procedures.queue("controllers-lost", "no controller online on the active broker for 30 s")
        await wait_until(pilot, lambda: "NON-NORMAL PROCEDURE" in shown(app))
        said = shown(app)
        assert "No controller online on the active broker" in said and "for 30 s" in said
        assert "Dual control" not in said
        assert "D2. The controllers are powered and on the room's network" in said
        assert "once the run reaches it" in said and not app.query("#confirm-lost-controllers-checked")
        # The console passes the procedure's first step: the room's is reached.
        engine.skip("lost-dns-checked", "DNS seen right on the console")
        await wait_until(pilot, lambda: bool(app.query("#confirm-lost-controllers-checked")))
        assert str(app.query_one("#confirm-lost-controllers-checked", Button).label) == "I confirm step D2"  # its letter
        app.query_one("#name", Input).value = "Rui Costa"
        app.query_one("#confirm-lost-controllers-checked", Button).press()
        await wait_until(pilot, lambda: "waiting for the console" in shown(app))
        confirmations = read_confirmations(engine.journal.path)
        assert [(c.step, c.name) for c in confirmations] == [("lost-controllers-checked", "Rui Costa")]
        assert engine.receive_room_confirmation(confirmations[0]) == ""  # a step of an open procedure: taken
        await wait_until(pilot, lambda: "confirmed at the room by Rui Costa" in shown(app))
        # Dismissed at the console: off the phone.
        engine.procedures.dismiss("controllers-lost", "controllers back after a switch reboot")
        await wait_until(pilot, lambda: "NON-NORMAL" not in shown(app))


def test_the_console_refuses_a_room_confirmation_of_a_procedure_not_queued(tmp_path: Path):
    from runbook_tui.engine.floor import send_confirmation

    engine = promotion_run(tmp_path)
    why = engine.receive_room_confirmation(send_confirmation(engine.journal.path, "lost-controllers-checked", "Rui"))
    assert "not a step the room confirms in this run" in why
