"""One console acts on a room: the room's hold, a lock file beside the room's journals.

Two consoles on one room each edited the standby's `.env` and ran steps the other had not
seen, and each journal held half the story. So a console holds its room (not a journal: a
second console must not start a new run of the room either) for as long as it is open, and
every other console is refused with who holds it.

The hold is an flock on `<runs>/<room>.console.lock`, taken by the console's own process: the
kernel lets it go when that process ends however it ends (a crash, a dropped SSH session),
so a room is never left held by a console that is gone. The file says who holds it (operator,
host, pid, terminal, since when, the run); it is only believed while the lock is taken.
Opened close-on-exec: the commands, probes and floor server the console starts never keep it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from runbook_tui.errors import EXIT_HELD, RunbookError
from runbook_tui.files import SMALL_CAP, read_bounded

# A console between taking the lock and writing its name: how long a refusal waits to name it.
_NAMING_S = 1.0


@dataclass(frozen=True)
class Holder:
    """The console that holds a room."""

    operator: str
    host: str
    pid: int
    since: float
    tty: str = ""
    journal: str = ""  # the run it has open ("" until its run began)

    def words(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        where = f"{self.host}, pid {self.pid}" + (f" on {self.tty}" if self.tty else "")
        run = f", run {Path(self.journal).name}" if self.journal else ""
        return f"{self.operator} ({where}), since {when}{run}"


class RoomHeld(RunbookError, RuntimeError):
    """Another console holds this room: nothing that acts on it may open here (exit 75: try again
    once that console is closed)."""

    exit_code = EXIT_HELD

    def __init__(self, room: str, holder: Holder | None, lock: Path) -> None:
        self.room, self.holder, self.lock = room, holder, lock
        who = holder.words() if holder is not None else f"a console that has not said who it is yet ({lock})"
        super().__init__(f"{room} is held by another console: {who}. One console acts on a room: "
                         "work in that console, or close it first.")


def lock_path(runs_dir: Path, room: str) -> Path:
    return Path(runs_dir) / f"{room}.console.lock"


def _tty() -> str:
    for fd in (0, 1, 2):
        try:
            return os.ttyname(fd)
        except OSError:
            continue
    return ""


class RoomHold:
    """This process holds the room until release() (or until it ends)."""

    def __init__(self, path: Path, fd: int, holder: Holder) -> None:
        self.path, self._fd, self.holder = path, fd, holder
        self._write()

    def _write(self) -> None:
        # In place, under the lock: the file is the lock, so it is never replaced by a rename.
        data = json.dumps(asdict(self.holder)).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def set_journal(self, journal: Path) -> None:
        """The run this console has open, for the refusal another console shows."""
        if self._fd >= 0:
            self.holder = replace(self.holder, journal=str(journal))
            self._write()

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        if self._fd >= 0:
            try:
                os.ftruncate(self._fd, 0)  # no one's name stays in a free room's file
            except OSError:
                pass
            os.close(self._fd)  # closing the only descriptor lets the flock go
            self._fd = -1


def hold_room(runs_dir: Path, room: str, operator: str | None = None) -> RoomHold:
    """Take the room for this console, or raise RoomHeld naming the console that has it."""
    path = lock_path(runs_dir, room)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)  # readable: another operator sees who
    try:
        # A few tries: a venue view asking who holds the room takes the lock for an instant.
        for attempt in range(4):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 3:
                    raise
                time.sleep(0.05)
    except BlockingIOError:
        os.close(fd)
        raise RoomHeld(room, _named_holder(path), path) from None
    except BaseException:
        os.close(fd)
        raise
    holder = Holder(operator or os.environ.get("USER", "operator"), socket.gethostname(), os.getpid(), time.time(), _tty())
    return RoomHold(path, fd, holder)


def room_holder(runs_dir: Path, room: str) -> Holder | None:
    """The console that holds the room now, or None when it is free (the venue view says so)."""
    path = lock_path(runs_dir, room)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)  # a FIFO put there does not hang the open
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # taken at once: no console holds it
    except BlockingIOError:
        return _named_holder(path) or Holder("a console", "?", 0, time.time())
    finally:
        os.close(fd)  # a shared lock taken here goes with it
    return None


def _read(path: Path) -> Holder | None:
    try:
        data = json.loads(read_bounded(path, SMALL_CAP, "room lock file") or b"null")
        return Holder(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def _named_holder(path: Path) -> Holder | None:
    """Who the held file names. Between taking the lock and writing its name a console's file
    is empty, or still names the console before it (gone: its pid no longer runs here): asked
    again for a moment, then said as unknown rather than naming someone who left."""
    deadline = time.monotonic() + _NAMING_S
    while True:
        holder = _read(path)
        if holder is not None and (holder.host != socket.gethostname() or _alive(holder.pid)):
            return holder
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True
