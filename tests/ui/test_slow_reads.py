"""No read on the UI's event loop: while the app reads the room's journals, the run's journal,
the stacks' files for the watcher or the journal for the fault menu, keys act (q quits, ? opens
the help) and the screen stays live. Each read is bounded, but a journal near its cap took
seconds, the screen deaf meanwhile. Here each reader is made to take 2 s."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from runbook_tui.engine import journal as journal_module
from runbook_tui.live import watcher as watcher_module
from runbook_tui.session import Session
from runbook_tui.settings import Settings
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import HelpScreen
from tests.conftest import REPO
from tests.ui.test_app import wait_until

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "ui-steps.yaml"
SLOW_S = 2.0
ACTS_WITHIN_S = 1.0


def settings_of(root: Path) -> Settings:
    (root / "infra").mkdir(exist_ok=True)
    return Settings(stack_root=root, lab=True, journal_dir=root / "runs")


def an_unfinished_run(settings: Settings) -> Path:
    """A run with a step decided, left open: the next console reads its journal to offer it."""
    session = Session(settings, "room9", CHECKLIST)
    engine = session.start_engine()
    first = engine.checklist.steps()[0].id
    engine.skip(first, "left open for the next console")
    engine.journal.close()
    session.release()
    return engine.journal.path


@pytest.fixture
def slow_journal_reads(monkeypatch):
    original = journal_module.read_journal
    reads: list[float] = []

    def slow(path, *args, **kwargs):
        reads.append(time.monotonic())
        time.sleep(SLOW_S)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(journal_module, "read_journal", slow)
    return reads


async def quits_at_once(pilot, app: RunbookApp) -> float:
    pressed = time.monotonic()
    await pilot.press("q")
    await wait_until(pilot, lambda: not app.is_running, timeout=SLOW_S * 3)
    return time.monotonic() - pressed


@pytest.mark.asyncio
async def test_q_quits_while_the_rooms_unfinished_runs_are_read(tmp_path: Path, slow_journal_reads):
    settings = settings_of(tmp_path)
    an_unfinished_run(settings)
    app = RunbookApp(Session(settings, "room9", CHECKLIST), live=False)  # resume: asks, after reading the journals
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(slow_journal_reads), timeout=5)
        took = await quits_at_once(pilot, app)
    assert took < ACTS_WITHIN_S, took
    assert app.engine is None  # no run begun: the question never came


@pytest.mark.asyncio
async def test_a_key_acts_while_the_run_to_resume_is_read_and_then_the_run_opens_as_before(tmp_path: Path,
                                                                                         slow_journal_reads):
    settings = settings_of(tmp_path)
    journal = an_unfinished_run(settings)
    app = RunbookApp(Session(settings, "room9", CHECKLIST), live=False, resume=journal)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(slow_journal_reads), timeout=5)
        pressed = time.monotonic()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=SLOW_S * 3)
        assert time.monotonic() - pressed < ACTS_WITHIN_S
        assert app.engine is None  # still reading
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.engine is not None, timeout=SLOW_S * 4)
        await pilot.pause()
        assert app.engine.journal.path == journal  # that run, resumed
        assert app.engine.status(app.engine.checklist.steps()[0].id).state.value == "skipped"


@pytest.mark.asyncio
async def test_q_quits_while_the_watcher_first_looks_at_the_stacks_files(tmp_path: Path, monkeypatch):
    looking = threading.Event()

    def slow_look(site):
        looking.set()
        time.sleep(SLOW_S)
        raise RuntimeError("not reached by the assertions")  # the watcher is stopped by then

    # The real watcher, its first look made slow; its probes never start (it is stopped first).
    monkeypatch.setattr(watcher_module, "look_files", slow_look)
    app = RunbookApp(Session(settings_of(tmp_path), "room9", CHECKLIST), live=True, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, looking.is_set, timeout=5)
        took = await quits_at_once(pilot, app)
    assert took < ACTS_WITHIN_S, took
    assert app.watcher is not None and app.watcher._files_thread is None  # never started its probes


def test_a_watcher_stopped_during_its_first_look_never_starts_its_probes(tmp_path: Path, monkeypatch):
    def slow_look(site):
        time.sleep(0.5)
        return None

    monkeypatch.setattr(watcher_module, "look_files", slow_look)
    watcher = Session(settings_of(tmp_path), "room9", CHECKLIST).watcher()
    starting = threading.Thread(target=watcher.start)
    starting.start()
    time.sleep(0.1)
    watcher.stop()
    starting.join(timeout=5)
    assert watcher._files_thread is None and watcher.stopping.is_set()
    watcher.stop()  # twice is fine


@pytest.mark.asyncio
async def test_q_quits_while_the_fault_menu_reads_the_journal(tmp_path: Path, monkeypatch):
    app = RunbookApp(Session(settings_of(tmp_path), "room9", CHECKLIST), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None, timeout=5)
        await pilot.pause()
        reads: list[float] = []
        original = journal_module.read_journal

        def slow(path, *args, **kwargs):
            reads.append(time.monotonic())
            time.sleep(SLOW_S)
            return original(path, *args, **kwargs)

        monkeypatch.setattr(journal_module, "read_journal", slow)
        await pilot.press("F")
        await wait_until(pilot, lambda: bool(reads), timeout=5)
        took = await quits_at_once(pilot, app)
    assert took < ACTS_WITHIN_S, took
