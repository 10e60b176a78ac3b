"""The trainer's F outside drills (seen on a drill walk: its notice showed twice for one fault,
and a fault already in could not be healed from it). The lab's own inject and heal are replaced
by a narrow stand-in that logs the fault as they do: what is tested is the screen's part."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.widgets import OptionList

from runbook_tui.engine import records as rec
from runbook_tui.engine.journal import read_journal
from runbook_tui.lab.faults import FAULTS, log_fault
from runbook_tui.session import Session
from runbook_tui.ui import trainer
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import ChooseOption
from tests.conftest import REPO, settings_without_dns
from tests.ui.helpers import notices, wait_until

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "ui-steps.yaml"
FAULT = "controller-never-acks"


def trainers_session(root: Path) -> Session:
    (root / "infra").mkdir(parents=True, exist_ok=True)
    return Session(settings_without_dns(root, lab=True), "room9", CHECKLIST)


@pytest.fixture
def lab_calls(monkeypatch, tmp_path: Path) -> list[tuple[str, bool]]:
    calls: list[tuple[str, bool]] = []

    def stand_in(screen, name: str, heal: bool = False) -> str:
        calls.append((name, heal))
        effect = "healed for the test" if heal else "made for the test"
        log_fault(SimpleNamespace(stack_root=screen.session.settings.stack_root), "room9", name, effect, healed=heal)
        return effect

    monkeypatch.setattr(trainer, "inject", stand_in)
    return calls


async def choose(pilot, app: RunbookApp, name: str) -> str:
    """F, then the fault NAME in the list; returns its label."""
    await pilot.press("F")
    await wait_until(pilot, lambda: isinstance(app.screen, ChooseOption))
    options = app.screen.query_one("#options", OptionList)
    index = list(FAULTS).index(name)
    label = str(options.get_option_at_index(index).prompt)
    options.highlighted = index
    await pilot.press("enter")
    return label


def kinds(app: RunbookApp, kind: type[rec.Record]) -> list[rec.Record]:
    return list(rec.of_kind(read_journal(app.engine.journal.path).records, kind))


@pytest.mark.asyncio
async def test_a_fault_injected_with_f_is_said_once_and_journaled_once(tmp_path: Path, lab_calls):
    app = RunbookApp(trainers_session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await choose(pilot, app, FAULT)
        await wait_until(pilot, lambda: len(kinds(app, rec.FaultInjected)) == 1)
        await pilot.pause(2.5)  # the fault log is read every second: time for a second notice to come
        said = [n for n in notices(app) if FAULT in n or "made for the test" in n]  # its name or its effect
        assert len(said) == 1 and "made for the test" in said[0], said
        assert len(kinds(app, rec.FaultInjected)) == 1 and lab_calls == [(FAULT, False)]
        # Its known symptom goes with it: the smoke test's first failure will be the fault's.
        assert list(kinds(app, rec.FaultInjected)[0].symptoms) == ["smoke-test"]


@pytest.mark.asyncio
async def test_f_on_a_fault_already_in_offers_to_heal_it(tmp_path: Path, lab_calls):
    app = RunbookApp(trainers_session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await choose(pilot, app, FAULT)
        await wait_until(pilot, lambda: len(kinds(app, rec.FaultInjected)) == 1)
        label = await choose(pilot, app, FAULT)
        assert "heal it" in label and "(in: injected " in label
        await wait_until(pilot, lambda: len(kinds(app, rec.FaultHealed)) == 1)
        assert lab_calls == [(FAULT, False), (FAULT, True)]
        # Healed: offered for injecting again.
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, ChooseOption))
        again = str(app.screen.query_one("#options", OptionList).get_option_at_index(list(FAULTS).index(FAULT)).prompt)
        assert "heal it" not in again and FAULTS[FAULT].summary in again
        await pilot.press("escape")
