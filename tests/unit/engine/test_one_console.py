"""One console acts on a room: a second console is refused with who holds it, never opens a new
run of the room beside the first, and any unfinished run reopens by name once the room is free.

The console that holds the room is a real second process opening its run the way the command
line does (SessionOpener.claim before the first frame, then the session and its run); the
refused one is the real `runbook-tui` on a terminal (a pty).
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runbook_tui.engine.events import EngineRefusal
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.room_hold import RoomHeld, hold_room, lock_path, room_holder
from runbook_tui.session import Session, resumable, run_to_resume
from runbook_tui.settings import load_settings
from tests.conftest import BIN, REPO

ROOM = "room9"
CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "floor-steps.yaml"

# A console on the room, as the command line opens one: the room held before anything is drawn,
# then the session and a new run. It says its journal, then holds the room until told to go.
CONSOLE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from runbook_tui.session import SessionOpener
    from runbook_tui.settings import load_settings

    settings, room, checklist, operator = load_settings(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    opener = SessionOpener(settings, room, checklist, operator=operator)
    opener.claim()
    session = opener.open()
    engine = session.start_engine(Path(sys.argv[5]) if len(sys.argv) > 5 else None)
    engine.journal.append("step_state", step="prepare", state="done", reason="")
    print(engine.journal.path, flush=True)
    sys.stdin.readline()
""")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "infra").mkdir(parents=True)
    settings = tmp_path / "site.toml"
    # lifetime_s: no DNS server answers there; a look of the room gives up after 0.2 s, not 1.5 s.
    settings.write_text(f'stack_root = "{root}"\nlab = false\n[dns]\nresolvers = ["127.0.0.1:15399"]\nlifetime_s = 0.2\n')
    return settings


class Console:
    """A console process holding ROOM, with its run open."""

    def __init__(self, settings: Path, operator: str, resume: Path | None = None) -> None:
        argv = [sys.executable, "-c", CONSOLE, str(settings), ROOM, str(CHECKLIST), operator]
        self.proc = subprocess.Popen(argv + ([str(resume)] if resume else []), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        line = self.proc.stdout.readline().strip()
        assert line, f"the console did not open its run: {self.proc.stderr.read()}"
        self.journal = Path(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.proc.wait(10)

    def kill(self) -> None:
        self.proc.kill()  # a crash, a dropped SSH session: no chance to say goodbye
        self.proc.wait(10)


@pytest.fixture
def consoles():
    opened: list[Console] = []
    yield opened
    for console in opened:
        if console.proc.poll() is None:
            console.kill()


def journals(settings: Path) -> list[Path]:
    return sorted(load_settings(settings).runs_dir.glob(f"{ROOM}-*.jsonl"))


def second_console(settings: Path, *args: str, timeout: float = 20) -> tuple[int, str]:
    """`runbook-tui --room ROOM ... ARGS` on a terminal: its exit status and what it said on
    standard error. One still running at the deadline (it opened the TUI) is stopped: None."""
    master, slave = pty.openpty()
    argv = [str(BIN / "runbook-tui"), "--settings", str(settings), "--room", ROOM, "--checklist", str(CHECKLIST),
            "--operator", "ben", *args]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, cwd=REPO)
    os.close(slave)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:  # the terminal's output is drained, or a TUI would block on a full pty
                import select

                if select.select([master], [], [], 0.1)[0]:
                    os.read(master, 65536)
            except OSError:
                time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            return None, proc.stderr.read()
        return proc.returncode, proc.stderr.read()
    finally:
        os.close(master)


def test_a_second_console_is_refused_naming_the_holder_and_starts_no_run(site: Path, consoles):
    first = Console(site, "olga")
    consoles.append(first)
    before = read_journal(first.journal).records
    for args in (("--resume",), ("--new-run",), ()):
        code, said = second_console(site, *args)
        assert code == 75, f"runbook-tui {' '.join(args)} was not refused (status {code}):\n{said}"
        assert f"{ROOM} is held by another console: olga (" in said and f"pid {first.proc.pid}" in said
        assert first.journal.name in said and "One console acts on a room" in said
        assert f"--resume {first.journal}" in said  # how its run reopens once that console is closed
    assert journals(site) == [first.journal]  # no new run of the room beside the first
    assert read_journal(first.journal).records == before  # nor anything written in the first's


def test_the_older_run_reopens_by_name_once_its_console_is_gone(site: Path, consoles):
    first = Console(site, "olga")
    consoles.append(first)
    first.kill()  # a crashed console frees its room: the kernel lets the lock go with the process
    # What two consoles left behind: the older run unfinished, a newer unfinished one beside it.
    newer = first.journal.with_name(f"{ROOM}-floor-steps-29990101T000000.jsonl")
    newer.write_text(first.journal.read_text())
    settings = load_settings(site)
    session = Session(settings, ROOM, CHECKLIST, operator="ben")
    assert session.unfinished().journal == newer  # the question offers the newest only
    try:
        engine = session.start_engine(first.journal)  # named: the older one opens
        assert engine.journal.path == first.journal
        assert read_journal(first.journal).records[-1]["kind"] == "run_resumed"
        assert room_holder(settings.runs_dir, ROOM).journal == str(first.journal)  # another console's refusal names it
    finally:
        if session.engine is not None:
            session.engine.journal.close()
        session.release()
    assert room_holder(settings.runs_dir, ROOM) is None
    again = Console(site, "olga", resume=first.journal)  # and from another process, once this one let go
    again.close()
    assert [r["kind"] for r in read_journal(first.journal).records].count("run_resumed") == 2


def test_no_run_opens_in_a_session_whose_room_another_console_holds(site: Path, consoles):
    first = Console(site, "olga")
    consoles.append(first)
    session = Session(load_settings(site), ROOM, CHECKLIST, operator="ben")
    with pytest.raises(RoomHeld, match=f"olga .*pid {first.proc.pid}"):
        session.start_engine()
    with pytest.raises(RoomHeld):
        session.start_engine(first.journal)
    assert session.engine is None and journals(site) == [first.journal]


def test_a_crashed_consoles_name_is_not_given_for_the_next_one(tmp_path: Path, consoles):
    runs = tmp_path / "runs"
    script = "import sys; from runbook_tui.engine.room_hold import hold_room; hold_room(sys.argv[1], 'room9', 'olga'); " \
             "print('held', flush=True); sys.stdin.readline()"
    proc = subprocess.Popen([sys.executable, "-c", script, str(runs)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == "held"
        holder = room_holder(runs, ROOM)
        assert holder is not None and (holder.operator, holder.pid) == ("olga", proc.pid)
        with pytest.raises(RoomHeld) as refused:
            hold_room(runs, ROOM, "ben")
        assert refused.value.holder == holder and "since" in str(refused.value)
    finally:
        proc.kill()
        proc.wait(10)
    assert room_holder(runs, ROOM) is None  # gone with its process
    mine = hold_room(runs, ROOM, "ben")
    try:
        assert '"ben"' in lock_path(runs, ROOM).read_text() and "olga" not in lock_path(runs, ROOM).read_text()
        with pytest.raises(RoomHeld, match="ben"):  # a second hold in the same process is a second console
            hold_room(runs, ROOM, "carla")
        assert hold_room(runs, "room10", "carla").held  # rooms are held one by one
    finally:
        mine.release()
    assert room_holder(runs, ROOM) is None and lock_path(runs, ROOM).read_text() == ""


def test_only_an_unfinished_run_of_the_room_is_reopened(site: Path, consoles):
    first = Console(site, "olga")
    first.close()
    assert run_to_resume(first.journal).room == ROOM and run_to_resume(first.journal).checklist == CHECKLIST
    resumable(first.journal, ROOM)
    with pytest.raises(ValueError, match="a run of room9, not of room8"):
        resumable(first.journal, "room8")
    finished = first.journal.with_name(f"{ROOM}-floor-steps-20000101T000000.jsonl")
    finished.write_text(first.journal.read_text() + '{"seq": 99, "ts": 1, "kind": "run_finished"}\n')
    with pytest.raises(ValueError, match="this run has finished; it is not reopened"):
        resumable(finished, ROOM)
    with pytest.raises(ValueError, match="not a run's journal"):
        run_to_resume(site)
    session = Session(load_settings(site), ROOM, CHECKLIST)
    try:
        with pytest.raises(EngineRefusal, match="has finished"):
            session.start_engine(finished)
        assert session.engine is None
    finally:
        session.release()
