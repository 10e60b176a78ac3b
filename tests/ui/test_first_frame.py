"""The screen comes first: opened from a SessionOpener (as the command line opens it), the app
draws its first frame before the checklist, the engine and the probes load (issue: fast under
pressure), then opens the run as before; a checklist that does not load still ends in the
command line's error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import TabbedContent
from textual.widgets._footer import FooterKey

from runbook_tui.checklist.loader import ChecklistInvalid
from runbook_tui.engine.run import StepState
from runbook_tui.session import Session, SessionOpener
from runbook_tui.settings import Settings
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.checklist_view import ChecklistView
from runbook_tui.ui.dialogs import HelpScreen
from tests.conftest import REPO
from tests.ui.helpers import action_name, confirm_run, notices, wait_until

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "ui-steps.yaml"

# What the first frame must not wait for: the engine and its events, the checklist's model and
# parser, the probes and their libraries, the live panel's tables, the dialogs, the run's screen and the pane tabs
# of a narrow screen (this one is wide).
NOT_IN_THE_FIRST_FRAME = ("runbook_tui.engine.run", "runbook_tui.engine.journal", "runbook_tui.engine.events",
                          "runbook_tui.checklist.model", "runbook_tui.checklist.loader", "yaml", "textual.widgets._tabs",
                          "runbook_tui.live.watcher", "runbook_tui.observe.observer", "paho", "docker", "dns",
                          "dotenv", "runbook_tui.ui.live_view", "runbook_tui.ui.dialogs", "runbook_tui.ui.run_screen",
                          "runbook_tui.ui.step_actions")

FIRST_FRAME = r"""
import json, sys
from pathlib import Path
from runbook_tui.session import SessionOpener
from runbook_tui.settings import Settings
from runbook_tui.ui.app import RunbookApp

class Watched(RunbookApp):
    def on_mount(self):  # Textual calls RunbookApp.on_mount after this one
        self.call_after_refresh(self.first_frame)

    def first_frame(self):
        from runbook_tui.ui.checklist_view import ChecklistView
        tree = self.query_one(ChecklistView)
        self.seen = {"modules": sorted(sys.modules), "tree": [str(n.label) for n in tree.root.children],
                     "waiting": str(self.query_one("#live").render())}

    def run_shown(self):
        super().run_shown()
        self.call_after_refresh(self.opened)

    def opened(self):
        self.seen["steps"] = len(self.engine.checklist.steps())
        self.seen["live"] = bool(self.run_screen.query("#live-tabs"))
        self.exit()

root = Path(sys.argv[1])
settings = Settings(stack_root=root, resolvers=(("127.0.0.1", 15399),), journal_dir=root / "runs", lab=False)
app = Watched(SessionOpener(settings, "room9", Path(sys.argv[2])), live=False, resume=False)
app.run(headless=True, size=(120, 40))
print(json.dumps(app.seen))
"""


def test_the_first_frame_is_drawn_before_the_engine_the_checklist_and_the_probes_load(tmp_path: Path):
    (tmp_path / "infra").mkdir()
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(tmp_path), str(CHECKLIST)], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.splitlines()[-1])
    loaded = [m for m in seen["modules"] if any(m == name or m.startswith(name + ".") for name in NOT_IN_THE_FIRST_FRAME)]
    assert loaded == []
    assert seen["tree"] == ["Opening the checklist…"] and "connecting" in seen["waiting"]
    # Then the run opens as before: the checklist's steps and the live panel.
    assert seen["steps"] > 3 and seen["live"]


@pytest.mark.asyncio
async def test_a_checklist_that_does_not_load_ends_the_app_and_leaves_the_error_to_the_command_line(tmp_path: Path):
    (tmp_path / "infra").mkdir()
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\nname: X\nrevision: v1\nsections:\n  - title: S\n    steps:\n      - id: a\n        type: nonsense\n")
    app = RunbookApp(SessionOpener(Settings(stack_root=tmp_path, lab=True), "room9", broken), live=False, resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 10
        while app.is_running and time.monotonic() < deadline:
            await pilot.pause(0.05)
    assert isinstance(app.open_error, ChecklistInvalid) and "broken.yaml" in str(app.open_error)
    assert app.return_code == 2 and app.engine is None


class HeldOpener(SessionOpener):
    """An opener whose reading waits until the test lets it go: the app stays between its
    first frame and the checklist's opening (pure UI)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.go = threading.Event()

    def open(self) -> Session:
        assert self.go.wait(30), "never let go"
        return super().open()


async def open_now(pilot, app: RunbookApp, opener: HeldOpener) -> None:
    """Lets the opening go on, and waits until it has (the run on screen, a question, or the end)."""
    opener.go.set()
    await wait_until(pilot, lambda: not isinstance(app.session, SessionOpener) or not app.is_running)
    await wait_until(pilot, lambda: app.run_screen is not None or len(app.screen_stack) > 1 or not app.is_running
                     or app.return_code is not None)


@pytest.mark.asyncio
async def test_keys_before_the_checklist_opens_wait_for_it_and_only_the_pane_and_tab_keys_are_replayed(tmp_path: Path):
    # In CI, `3 ] ]` typed as the first frame showed left the narrow screen on the live pane's
    # first tab: the tab keys came before the panel was there. They now wait for the run.
    (tmp_path / "infra").mkdir()
    opener = HeldOpener(Settings(stack_root=tmp_path, lab=True), "room9", CHECKLIST)
    app = RunbookApp(opener, live=False, resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        # Meanwhile the footer offers only what acts now.
        await wait_until(pilot, lambda: bool(app.query(FooterKey)))
        assert {key.action for key in app.query(FooterKey)} == {"help", "quit_app"}
        for key in ("p", "2", "pagedown", "j", "3", "right_square_bracket", "r", "d", "s", "f", "o", "a", "x", "e",
                    "enter", "slash", "right_square_bracket"):
            await pilot.press(key)
        assert app.is_running and app.crash_error is None and app.engine is None
        assert isinstance(app.session, SessionOpener) and app.screen.pane == "checklist"  # nothing acted yet
        await pilot.press("question_mark")  # the help screen acts at once: it needs only the settings
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert len(app.screen_stack) == 1
        await open_now(pilot, app, opener)
        await wait_until(pilot, lambda: not app.typing_ahead and app.screen.pane == "live")
        await pilot.pause()
        assert isinstance(app.session, Session) and app.engine is not None
        # The pane and tab keys, replayed in order: the step pane, then the live pane two tabs on.
        assert app.run_screen.query_one("#live-tabs", TabbedContent).active == "tab-mqtt"
        assert app.focused is not None and app.run_screen.query_one("#live-tabs") in app.focused.ancestors  # keys reach the tabs
        # The rest were not: the cursor on the first step still (pagedown, j), no dialog, no step
        # decided, no export begun, no filter; the notice names them as typed.
        assert app.run_screen.query_one(ChecklistView).selected_step == app.engine.checklist.steps()[0].id
        assert app.screen is app.run_screen and app.engine.running_step is None
        assert all(app.engine.status(s.id).state is StepState.PENDING for s in app.engine.checklist.steps())
        said = notices(app)
        assert not any("after-action report" in m or "paused" in m for m in said), said
        assert any("Not acted on" in m and "p, pagedown, j, r, d, s, f, o, a, x, e, enter, /" in m for m in said), said
        # All the footer's keys now, and keys act as always.
        await wait_until(pilot, lambda: "mark_done" in {action_name(key.action) for key in app.run_screen.query(FooterKey)})
        await pilot.press("1")
        assert app.screen.pane == "checklist"


@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["q", "ctrl+q"])
async def test_quitting_while_the_checklist_opens_begins_no_run(tmp_path: Path, key: str):
    # With --new-run, a run begun as the app closed would have abandoned the unfinished one.
    (tmp_path / "infra").mkdir()
    opener = HeldOpener(Settings(stack_root=tmp_path, lab=True, journal_dir=tmp_path / "runs"), "room9", CHECKLIST)
    app = RunbookApp(opener, live=False, resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(key)
        opener.go.set()  # the opening, still under way when the key came
        await wait_until(pilot, lambda: not app.is_running)
        assert app.engine is None
    assert not list(tmp_path.rglob("*.jsonl"))


@pytest.mark.asyncio
async def test_keys_before_a_resume_question_are_not_replayed_into_it(tmp_path: Path):
    (tmp_path / "infra").mkdir()
    settings = Settings(stack_root=tmp_path, lab=True, journal_dir=tmp_path / "runs")
    first = RunbookApp(SessionOpener(settings, "room9", CHECKLIST), live=False, resume=False)
    async with first.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: not first.typing_ahead)
        await confirm_run(pilot, first)  # the first step (echo) run: the run is worth resuming
        await wait_until(pilot, lambda: first.engine.status("hello").state is StepState.DONE, timeout=20)
    opener = HeldOpener(settings, "room9", CHECKLIST)
    app = RunbookApp(opener, live=False)  # resume: asks
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key in ("down", "tab", "enter"):
            await pilot.press(key)
        await open_now(pilot, app, opener)
        await wait_until(pilot, lambda: not app.typing_ahead)
        await pilot.pause()
        from runbook_tui.ui.dialogs import ResumeDialog
        assert isinstance(app.screen, ResumeDialog) and app.engine is None  # still asking: enter was not its answer
        said = notices(app)
        assert any("Not acted on" in m and "down, tab, enter" in m for m in said), said


@pytest.mark.asyncio
async def test_what_the_open_run_holds_is_kept_out_of_the_collectors_scans_and_given_back_at_the_end(tmp_path: Path):
    # The oldest generation's scans were the worst keypress latencies in an MQTT flood (bench.tui).
    import gc

    (tmp_path / "infra").mkdir()
    session = Session(Settings(stack_root=tmp_path, lab=True), "room9", CHECKLIST)
    app = RunbookApp(session, live=False, resume=False, freeze_gc=True)
    gc.unfreeze()  # what the test process froze for itself (tests/conftest.py) is not the app's; frozen again below
    try:
        await _the_app_freezes_and_gives_back(app, tmp_path)
    finally:
        gc.freeze()


async def _the_app_freezes_and_gives_back(app: RunbookApp, tmp_path: Path) -> None:
    import gc

    assert gc.get_freeze_count() == 0
    async with app.run_test(size=(80, 24)) as pilot:
        started = time.monotonic()
        while gc.get_freeze_count() == 0 and time.monotonic() < started + 10:
            await pilot.pause(0.05)
        # What the app was doing, should it not have frozen (seen once under heavy load).
        seen = (f"after {time.monotonic() - started:.1f} s: engine {app.engine!r}, screens {app.screen_stack}, "
                f"frozen {gc.get_freeze_count()}, notices {notices(app)}")
        assert app.engine is not None and gc.get_freeze_count() > 10_000, seen  # the modules, the widgets, the checklist, the engine
    assert gc.get_freeze_count() == 0  # an app opened after it (the venue's next room) starts clean
    # Under a test driver, unasked, nothing is frozen: many apps in one process.
    async with RunbookApp(Session(Settings(stack_root=tmp_path, lab=True), "room9", CHECKLIST), live=False,
                          resume=False).run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert gc.get_freeze_count() == 0
