"""One console acts on a room: two real consoles (tmux) on the lab's room1 promotion.

Seen before: a second console asked to resume the run the first one held said it was in use,
then opened a new run of the room without asking; both then acted on the standby, each journal
held half the story, and the older run could no longer be reopened. Here the second console is
refused, whichever way it asks (the question, --resume, --new-run), naming the first console's
operator, pid and run; no new run is started and nothing is written in the first's journal. Once
the first console is closed, `--resume JOURNAL` reopens its run (the room and checklist are the
journal's).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook_tui.engine.journal import read_journal

ROOM = "room1"
SOCKET = f"runbook-one-console-{os.getpid()}"
TUI = Path(sys.executable).parent / "runbook-tui"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True).stdout


def open_console(session: str, cwd: Path, env: dict[str, str], args: str) -> None:
    """A terminal of its own (120x40) running runbook-tui; its exit status is said after it."""
    exported = " ".join(f"{k}={v}" for k, v in env.items())
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40",
         f"cd {cwd} && env -u COLUMNS -u LINES {exported} {TUI} {args}; echo EXIT=$?; sleep 3600")
    tmux("resize-window", "-t", session, "-x", "120", "-y", "40")


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-J", "-t", session)  # -J: a wrapped line is one line


def wait_screen(session: str, *texts: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        shown = screen(session)
        if all(t in shown for t in texts):
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{[t for t in texts if t not in shown]!r} not on {session} after {timeout}s:\n{shown}")
        time.sleep(0.3)


def keys(session: str, *sequence: str) -> None:
    for key in sequence:
        if len(key) > 1 and key not in ("Enter", "Escape", "C-p"):
            tmux("send-keys", "-t", session, "-l", key)
        else:
            tmux("send-keys", "-t", session, key)
        time.sleep(0.4)


def runs(root: Path) -> list[Path]:
    return sorted((root / ".runbook" / "runs").glob(f"{ROOM}-promotion-*.jsonl"))


def state_of(journal: Path, step: str) -> str | None:
    states = [r["state"] for r in read_journal(journal).records if r["kind"] == "step_state" and r["step"] == step]
    return states[-1] if states else None


@pytest.fixture
def consoles(lab):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run 'bash infra/host/setup.sh'")
    try:
        yield lab
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)


def test_a_second_console_is_refused_and_the_run_reopens_by_name(consoles):
    lab = consoles
    root, env = lab.root, lab.env()
    open_console("first", root, env, f"--room {ROOM} --new-run --operator olga")
    wait_screen("first", f"runbook-tui · {ROOM} · LAB", "Done on sensed evidence", timeout=90)
    journal = runs(root)[-1]
    # The first console acts: a step decided, in its journal.
    keys("first", "C-p")
    wait_screen("first", "Search for commands", timeout=10)
    keys("first", "Go to step: Edit both .env files", "Enter")
    time.sleep(0.5)
    keys("first", "d")
    wait_screen("first", "Enter confirms, Esc cancels", timeout=10)
    keys("first", "Enter")
    deadline = time.monotonic() + 30
    while state_of(journal, "edit-env") != "done":
        assert time.monotonic() < deadline, screen("first")
        time.sleep(0.3)
    before, records = runs(root), read_journal(journal).records

    # The second console, each way it can ask: refused, naming the first; no run of the room opens.
    for n, args in enumerate(("", "--resume", "--new-run")):
        name = f"second-{n}"
        open_console(name, root, env, f"--room {ROOM} --operator ben {args}")
        shown = wait_screen(name, "EXIT=", timeout=60)
        assert "EXIT=75" in shown, shown
        holder = json.loads((root / ".runbook" / "runs" / f"{ROOM}.console.lock").read_text())
        assert holder["operator"] == "olga" and holder["journal"] == str(journal)
        assert f"{ROOM} is held by another console: olga (" in shown and f"pid {holder['pid']}" in shown, shown
        assert f"run {journal.name}" in shown and f"--resume {journal}" in shown, shown
        assert "An unfinished run was found" not in shown  # no question: nothing to answer
        tmux("kill-session", "-t", name)
    assert runs(root) == before  # no new run of the room
    assert read_journal(journal).records == records  # nothing written in the first's run, nothing abandoned

    # The first console closes; its run reopens by name, without --room or --checklist.
    keys("first", "q")
    wait_screen("first", "EXIT=0", "This run is not finished", timeout=30)
    open_console("reopened", root, env, f"--resume {journal} --operator ben")
    wait_screen("reopened", f"runbook-tui · {ROOM} · LAB", "Edit both .env files", timeout=90)
    deadline = time.monotonic() + 30
    while read_journal(journal).records[-1]["kind"] == records[-1]["kind"] and len(read_journal(journal).records) == len(records):
        assert time.monotonic() < deadline, screen("reopened")
        time.sleep(0.3)
    assert runs(root) == before
    kinds = [r["kind"] for r in read_journal(journal).records]
    assert kinds[len(records):].count("run_resumed") == 1 and state_of(journal, "edit-env") == "done"
    holder = json.loads((root / ".runbook" / "runs" / f"{ROOM}.console.lock").read_text())
    assert holder["operator"] == "ben" and holder["journal"] == str(journal)
    keys("reopened", "q")
    shown = wait_screen("reopened", "EXIT=", timeout=30)
    assert re.search(r"EXIT=0\b", shown), shown
