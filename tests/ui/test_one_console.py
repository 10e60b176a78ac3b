"""One console acts on a room, in the app: a room another console holds opens nothing (no
question, no run, nothing abandoned), a resume that is refused never becomes a new run, and a
run named on the command line opens without the question.

The other console's hold is a second hold taken in this process: a hold is one open file's
lock, so the app's own is refused by it exactly as by another process's (the two-process case
is tests/unit/engine/test_one_console.py, and tests/lab/test_71_one_console.py in terminals).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook_tui.engine.events import EngineRefusal
from runbook_tui.engine.journal import Journal, read_journal
from runbook_tui.engine.room_hold import RoomHeld, hold_room, room_holder
from runbook_tui.session import SessionOpener
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import ResumeDialog
from tests.conftest import settings_without_dns
from tests.ui.test_app import CHECKLIST, session, wait_until


def journals(root: Path) -> list[Path]:
    return sorted((root / ".runbook" / "runs").glob("room9-*.jsonl"))


async def unfinished_run(root: Path) -> Path:
    """A run left unfinished (its console dropped), with a step done."""
    first = RunbookApp(session(root), live=False, resume=False)
    async with first.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: first.engine is not None)
        first.engine.journal.append("step_state", step="safe", state="done", reason="")
    return first.engine.journal.path


@pytest.mark.asyncio
@pytest.mark.parametrize("resume", [None, True, False])
@pytest.mark.parametrize("opener", [False, True], ids=["session", "opener"])
async def test_a_room_held_by_another_console_opens_nothing(tmp_path: Path, resume, opener):
    older = await unfinished_run(tmp_path)
    before = older.read_bytes()
    other = hold_room(tmp_path / ".runbook" / "runs", "room9", "olga")
    try:
        other.set_journal(older)
        given = session(tmp_path)
        if opener:  # as the command line hands it, opened after the first frame
            given = SessionOpener(given.settings, "room9", CHECKLIST)
        app = RunbookApp(given, live=False, resume=resume)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.open_error is not None)
            await pilot.pause()
            assert not any(isinstance(s, ResumeDialog) for s in app.screen_stack)  # no question to answer
        assert isinstance(app.open_error, RoomHeld) and app.engine is None
        said = str(app.open_error)
        assert "room9 is held by another console: olga (" in said and older.name in said
        assert journals(tmp_path) == [older] and older.read_bytes() == before  # no new run, nothing abandoned
        assert room_holder(tmp_path / ".runbook" / "runs", "room9").operator == "olga"  # still the other's
    finally:
        other.release()


@pytest.mark.asyncio
@pytest.mark.parametrize("resume", [True, None], ids=["--resume", "the question"])
async def test_a_refused_resume_is_said_and_never_becomes_a_new_run(tmp_path: Path, resume):
    # Seen: a second console asked to resume a run in use said so, then opened a new run of the
    # room without asking. Here the run is held by its journal's own lock (a console of an
    # earlier version, which held no room).
    older = await unfinished_run(tmp_path)
    busy = Journal(older)
    try:
        app = RunbookApp(session(tmp_path), live=False, resume=resume)
        async with app.run_test(size=(120, 40)) as pilot:
            if resume is None:
                await wait_until(pilot, lambda: isinstance(app.screen, ResumeDialog))
                await pilot.press("enter")  # "Resume it"
            await wait_until(pilot, lambda: app.open_error is not None)
        assert isinstance(app.open_error, EngineRefusal) and "in use by another runbook-tui process" in str(app.open_error)
        assert app.engine is None and journals(tmp_path) == [older]
    finally:
        busy.close()
    assert room_holder(tmp_path / ".runbook" / "runs", "room9") is None  # the app let the room go


@pytest.mark.asyncio
async def test_a_run_named_on_the_command_line_opens_without_the_question(tmp_path: Path):
    older = await unfinished_run(tmp_path)
    newer = older.with_name("room9-ui-steps-29990101T000000.jsonl")  # a newer unfinished run, offered first
    newer.write_bytes(older.read_bytes())
    app = RunbookApp(SessionOpener(settings_without_dns(tmp_path, lab=True), "room9",
                                   CHECKLIST), live=False, resume=older)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        assert not any(isinstance(s, ResumeDialog) for s in app.screen_stack)
        assert app.engine.journal.path == older and app.engine.status("safe").state.value == "done"
        assert room_holder(tmp_path / ".runbook" / "runs", "room9").journal == str(older)
    assert read_journal(older).records[-1]["kind"] == "run_resumed"
    assert read_journal(newer).records == read_journal(older).records[:-1]  # the newer one left as it was


@pytest.mark.asyncio
async def test_the_question_names_the_older_unfinished_runs_it_does_not_offer(tmp_path: Path):
    older = await unfinished_run(tmp_path)
    newer = older.with_name("room9-ui-steps-29990101T000000.jsonl")
    newer.write_bytes(older.read_bytes())
    app = RunbookApp(session(tmp_path), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeDialog))
        said = app.screen.description
        assert said.startswith(newer.name) and f"Older unfinished run, not offered here: {older.name}." in said
        assert "runbook-tui --resume JOURNAL" in said
