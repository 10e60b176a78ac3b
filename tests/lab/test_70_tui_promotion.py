"""A whole promotion in the real TUI, in tmux, with keystrokes only, against the lab, in a room on
two engines: its standby on the lab's own second engine (`lab up --two-engines`), as a venue's
standby on a host of its own. Every command names its engine, and each stack's containers change
only on its own engine.

The operator's way: the command palette to go to a step, r / d to act, the room id typed for
risky steps. The test reads the screen tmux captures and the run's journal.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook_tui.engine.floor import send_confirmation
from runbook_tui.engine.journal import read_journal

ROOM = "room5"
SESSION = "runbook-e2e"

# Each terminal the tests open gets a tmux server of its own (a private socket). With one shared
# server, closing a test's only session makes that server exit, and the next test's new-session
# could reach it while it was exiting ("server exited unexpectedly", seen once in CI).
_SOCKETS = (f"runbook-e2e-{os.getpid()}-{n}" for n in itertools.count())
_socket = next(_SOCKETS)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", _socket, *args], capture_output=True, text=True, check=True).stdout


def open_terminal(cwd: Path, command: str) -> None:
    """A fresh tmux server with one 120x40 session running the command in cwd."""
    global _socket
    _socket = next(_SOCKETS)
    tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", f"cd {cwd} && env -u COLUMNS -u LINES {command}; sleep 3600")
    tmux("resize-window", "-t", SESSION, "-x", "120", "-y", "40")  # a detached session may start at 80x24


def close_terminal() -> None:
    subprocess.run(["tmux", "-L", _socket, "kill-server"], capture_output=True)
    # the server is gone; its socket file stays behind unless removed
    (Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / _socket).unlink(missing_ok=True)


def screen() -> str:
    return tmux("capture-pane", "-t", SESSION, "-p")


def keys(*sequence: str, pause: float = 0.3) -> None:
    for key in sequence:
        if len(key) > 1 and key not in ("Enter", "Escape", "Up", "Down", "Tab", "C-p"):
            tmux("send-keys", "-t", SESSION, "-l", key)  # literal text
        else:
            tmux("send-keys", "-t", SESSION, key)
        time.sleep(pause)


# What each dialog says once it is open: an operator types after seeing it, and so do the tests
# (keys sent before the dialog has the focus would land on the checklist as commands).
CONFIRM, TYPE_ROOM, CHOOSE, REASON = "Enter confirms, Esc cancels", "Type the room id", "Enter chooses", "Reason (recorded"


def in_dialog(key: str, prompt: str, *typed: str) -> None:
    keys(key)
    wait_screen(prompt, 15)
    keys(*typed)


def wait_screen(text: str | tuple[str, ...], timeout: float = 30) -> str:
    """The screen once it shows text (all of them, for a tuple: a capture can catch a frame
    half drawn, so what belongs together is waited for together)."""
    texts = (text,) if isinstance(text, str) else text
    deadline = time.monotonic() + timeout
    while True:
        shown = screen()
        if all(t in shown for t in texts):
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{[t for t in texts if t not in shown]!r} not on screen after {timeout}s:\n{shown}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def room5(lab):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run 'bash infra/host/setup.sh'")
    with lab.extra_room(ROOM, "--two-engines"):
        try:
            yield lab
        finally:
            close_terminal()


def containers(engine: str | None, project: str) -> list[str]:
    host = ["--host", engine] if engine else []
    out = subprocess.run(["docker", *host, "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                          "--format", "{{.Names}} {{.State}}"], capture_output=True, text=True, check=True, timeout=60)
    return sorted(out.stdout.split("\n")[:-1])


def journal_of(root: Path) -> Path:
    runs = sorted((root / ".runbook" / "runs").glob(f"{ROOM}-promotion-*.jsonl"))
    assert runs, "no journal yet"
    return runs[-1]


def state_of(root: Path, step: str) -> str | None:
    states = [r["state"] for r in read_journal(journal_of(root)).records if r["kind"] == "step_state" and r["step"] == step]
    return states[-1] if states else None


def wait_state(root: Path, step: str, want: str = "done", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while state_of(root, step) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"{step} is {state_of(root, step)}, not {want}:\n{screen()}")
        time.sleep(0.3)


def goto(title: str) -> None:
    """The command palette: ctrl+p, type the step's title, Enter."""
    if "Enter confirms, Esc cancels" in screen():  # a confirmation still open (seen once in CI, cause unknown)
        keys("Escape")
    keys("C-p")
    wait_screen("Search for commands", 10)
    keys(f"Go to step: {title}", pause=0.6)
    keys("Enter")
    time.sleep(0.5)


def test_whole_promotion_with_keystrokes_only(room5):
    lab = room5
    env = " ".join(f"{k}={v}" for k, v in lab.env().items())
    tui = f"{Path(sys.executable).parent / 'runbook-tui'} --room {ROOM} --new-run"
    open_terminal(lab.root, f"{env} {tui}")
    wait_screen(f"runbook-tui · {ROOM} · LAB", 60)
    wait_screen("Done on sensed evidence", 60)  # section 1 was done by `lab up`: sensed
    root = lab.root
    for step in ("create-dirs", "passwd-primary", "passwd-standby", "up-primary", "up-standby"):
        assert state_of(root, step) == "done"

    goto("Edit both .env files")
    in_dialog("d", CONFIRM, "Enter")
    wait_state(root, "edit-env")
    goto("Confirm how controllers reach")
    in_dialog("r", CHOOSE, "Enter")  # Option B is highlighted: the v8 choice
    wait_state(root, "reach-decision")
    goto("Put the room in a safe state")
    # The person at the room confirms first: the console alone cannot (seen before: ticked on trust).
    wait_screen("Waits for the person at the room", 10)
    keys("d")
    wait_screen("room first", 10)  # the refusal, in a notice
    send_confirmation(journal_of(root), "room-safe", "Rui Costa")  # what the floor view sends
    wait_screen("at the room by Rui Costa", 10)  # the step pane says it (a notice may wrap it)
    in_dialog("d", TYPE_ROOM, ROOM, "Enter")
    wait_state(root, "room-safe")

    # The guard refuses while the primary core is alive: dialog and banner on screen.
    goto("Enable dispatch on the standby core")
    in_dialog("r", TYPE_ROOM, ROOM, "Enter")
    wait_screen(("Guard refused", "primary_not_dispatching", "GUARD REFUSED 14. Enable dispatch on the standby core (.env)"), 30)
    keys("Escape")
    assert state_of(root, "enable-dispatch") is None

    # The primary's host answers: its fence is not needed, and says so.
    goto("The primary host is cut off")
    in_dialog("s", REASON, "the primary's host answers", "Enter")
    wait_state(root, "fence-primary", "skipped")

    goto("Shut the primary down")
    in_dialog("r", TYPE_ROOM, ROOM, "Enter")
    wait_state(root, "stop-primary", timeout=90)
    goto("Disable dispatch in the stopped primary")
    in_dialog("r", CONFIRM, "Enter")
    wait_state(root, "disarm-primary")
    if state_of(root, "standby-up") != "done":
        goto("Ensure the standby stack is up")
        in_dialog("r", CONFIRM, "Enter")
        wait_state(root, "standby-up")
    goto("Enable dispatch on the standby core")
    in_dialog("r", TYPE_ROOM, ROOM, "Enter")
    wait_state(root, "enable-dispatch")
    goto("Recreate only sentient-core on the standby")
    in_dialog("r", TYPE_ROOM, ROOM, "Enter")
    wait_state(root, "recreate-core", timeout=90)
    goto("Repoint mqtt.room5")
    in_dialog("r", CONFIRM, "Enter")
    wait_state(root, "dns-repoint")
    goto("Controllers are online on the standby")
    in_dialog("r", CONFIRM, "Enter")
    wait_state(root, "controllers-reconnected")
    goto("Verify end-to-end dispatch")
    in_dialog("r", CONFIRM, "Enter")
    wait_state(root, "smoke-test")
    goto("Confirm the device/controller reacted")
    send_confirmation(journal_of(root), "device-reacts", "Rui Costa")
    wait_screen("at the room by Rui Costa", 10)  # the step pane says it (a notice may wrap it)
    in_dialog("d", CONFIRM, "Enter")
    wait_state(root, "device-reacts")
    goto("Re-arm critical actions")
    in_dialog("f", REASON, "guests still in the room", "Enter")
    wait_state(root, "arm-critical", "deferred")
    assert not [r for r in read_journal(journal_of(root)).records if r["kind"] == "run_finished"]  # one optional step open
    goto("Recreate sentient-core with critical")
    in_dialog("s", REASON, "not re-armed: see the deferral", "Enter")
    wait_state(root, "recreate-core-armed", "skipped")

    shown = wait_screen("complete except deferred items", 20)
    assert f"runbook-tui · {ROOM}" in shown
    # The header shows the verdict as soon as no required step is open; the run_finished record
    # follows when the app handles the last step change, a moment after its journal record.
    deadline = time.monotonic() + 10
    while True:
        records = read_journal(journal_of(root)).records
        finished = [r for r in records if r["kind"] == "run_finished"]
        if finished or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert finished and finished[-1]["outcome"] == "complete except deferred items"
    assert finished[-1]["deferred"] == ["arm-critical"] and finished[-1]["optional_not_done"] == []
    outcome = next(r for r in records if r["kind"] == "dispatch_outcome")
    assert outcome["verdict"] == "complete" and outcome["ack_ms"] > 0
    env_file = root / "infra" / "rooms" / f"{ROOM}-standby" / ".env"
    assert "CORE_DISPATCH_ENABLED=true" in env_file.read_text()
    secrets = [lab.stack_env(f"{ROOM}-standby")[k] for k in ("MQTT_PASSWORD", "POSTGRES_PASSWORD")]
    assert not any(s in journal_of(root).read_text() for s in secrets)
    # Every command on a stack ran on that stack's engine, and said so; each stack changed only there.
    standby_engine = lab.engine.url
    engines = {r["step"]: r.get("engine") for r in records if r["kind"] == "command_started"}
    assert engines["stop-primary"] == "the primary's engine (this machine's default)", engines
    for step in ("standby-up", "recreate-core"):  # standby-up runs no command when it is sensed done
        assert engines.get(step, f"the standby's engine {standby_engine}") == f"the standby's engine {standby_engine}"
    assert "recreate-core" in engines, engines
    assert all(engines.values()), engines
    assert containers(None, f"{ROOM}-primary") == [] and containers(None, f"{ROOM}-standby") == []
    assert containers(standby_engine, f"{ROOM}-primary") == []
    standby = containers(standby_engine, f"{ROOM}-standby")
    assert len(standby) == 3 and all(c.endswith(" running") for c in standby), standby

    # The after-action report, exported from inside the app.
    keys("e")
    report = journal_of(root).with_name(journal_of(root).stem + "-report.md")
    deadline = time.monotonic() + 10
    while not report.exists():
        assert time.monotonic() < deadline, screen()
        time.sleep(0.2)
    text = report.read_text()
    assert "**complete except deferred items**" in text and "enable-dispatch: primary_not_dispatching" in text
    keys("q")
    deadline = time.monotonic() + 15
    while "runbook-tui ·" in screen():
        assert time.monotonic() < deadline, "the app did not quit"
        time.sleep(0.3)
