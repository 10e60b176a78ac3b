"""A site's own keys: the [keys] table of the settings rebinds the TUI's keys by binding id."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runbook_tui.engine.states import StepState
from runbook_tui.session import Session
from runbook_tui.settings import KEY_IDS, SettingsError, load_settings
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import ConfirmRun, HelpScreen
from runbook_tui.ui.run_screen import RunScreen
from tests.ui.helpers import selected, wait_until
from tests.ui.test_app import CHECKLIST, session

SITE = """\
stack_root = "{root}"
lab = false

[dns]
resolvers = ["10.0.10.1"]

[keys]
{keys}
"""


def site(tmp_path: Path, keys: str) -> Path:
    (tmp_path / "site" / "infra").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "runbook-tui.toml"
    path.write_text(SITE.replace("{root}", str(tmp_path / "site")).replace("{keys}", keys))
    return path


def test_every_key_the_tui_binds_can_be_rebound_by_its_id_and_no_other():
    ids = {b.id for b in RunScreen.BINDINGS + RunbookApp.BINDINGS}  # type: ignore[operator]
    assert None not in ids and ids == KEY_IDS


def test_a_site_rebinds_keys_by_id(tmp_path: Path):
    settings = load_settings(site(tmp_path, 'run = "g"\nskip = "ctrl+k,K"'))
    assert settings.keymap == {"run": "g", "skip": "ctrl+k,K"}


@pytest.mark.parametrize("keys, words", [
    ('runn = "g"', ":8: keys.runn: no such key to rebind (one of: acknowledge, cancel_step"),
    ("run = 7", ':8: keys.run: expected a key as Textual names it, e.g. "g"'),
    ('run = "g h"', ":8: keys.run: expected a key as Textual names it"),
])
def test_a_key_that_cannot_be_bound_is_named_with_its_line(tmp_path: Path, keys: str, words: str):
    with pytest.raises(SettingsError) as error:
        load_settings(site(tmp_path, keys))
    assert words in str(error.value)


@pytest.mark.asyncio
async def test_a_rebound_key_acts_the_old_one_does_not_and_help_says_so(tmp_path):
    plain = session(tmp_path)
    app = RunbookApp(Session(dataclasses.replace(plain.settings, keymap={"run": "g"}), "room9", CHECKLIST), live=False,
                     resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: selected(app) == "hello")
        await pilot.press("r")
        await pilot.pause()
        assert app.screen is app.run_screen  # r no longer runs
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmRun))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.engine.status("hello").state is StepState.DONE)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen) and "g            run (this site's keys)" in app.screen.text
