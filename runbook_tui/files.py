"""Reading and writing files safely: every read has a limit, every write is whole.

Reading: a stack root, a settings file or a journal directory may hold anything (a FIFO, a
device, a 2 GB sparse file). Every reader of the product goes through `read_bounded`: regular
files only, opened without blocking (a FIFO never hangs the open), the size checked on the open
file (fstat) before a byte is read, and never more than the cap read (a file that grows while it
is read is refused too). Refusals are OSErrors, so every reader's existing `except OSError`
says them; their message names the file, what it is for and the cap.

Writing: a temporary file beside the target, flushed to disk, then renamed over it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from runbook_tui.errors import RunbookError, UsageError

KIB = 1024
MIB = 1024 * KIB

# The caps, each far above what the tool writes or a site keeps there, far below what hurts.
SETTINGS_CAP = 1 * MIB
CHECKLIST_CAP = 1 * MIB
ENV_CAP = 4 * MIB  # a .env of 16,000 lines is about 0.5 MB
PARAMS_CAP = 16 * MIB  # core-dispatch.sh --params-file (a 3 MB payload is sent in the lab)
JOURNAL_CAP = 64 * MIB  # a run's journal, with every command's output lines
PASSWD_CAP = 4 * MIB  # a Mosquitto passwd file
SMALL_CAP = 64 * KIB  # the tool's own small records: inbox confirmations, state and lock files
NOTES_CAP = 1 * MIB  # short text files beside the stacks (.last-restore and the like)


class FileRefused(RunbookError, OSError):
    """A file the tool will not read: not a regular file, or larger than its cap. The message
    says which and why (an OSError, so readers that report unreadable files say it)."""

    strerror: str  # always the reason (an OSError's may be None)
    filename: str

    def __init__(self, reason: str, path: Path | str) -> None:
        super().__init__(reason)
        self.strerror = reason  # what `f"{path}: {exc.strerror}"` readers say
        self.filename = str(path)

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def size_said(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:g} MiB"
    if n >= KIB:
        return f"{n / KIB:g} KiB"
    return f"{n} bytes"


def open_regular(path: Path | str, what: str) -> int:
    """A read-only descriptor of `path`, which must be a regular file (symlinks followed).
    O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer, and is then
    refused; the flag is cleared again for the reads of a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(f"the {what} is {_kind(mode)}, not a regular file: not read", path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: Path | str, cap: int, what: str) -> bytes:
    """The whole of `path`, a regular file of at most `cap` bytes; FileRefused otherwise,
    without reading more than cap + 1 bytes whatever the file claims or becomes."""
    fd = open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        if size > cap:
            raise FileRefused(f"the {what} is {size_said(size)}, over its cap of {size_said(cap)}: not read", path)
        chunks, total = [], 0
        while total <= cap:
            chunk = os.read(fd, min(cap + 1 - total, 1 * MIB))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:  # grew while read
            raise FileRefused(f"the {what} grew past its cap of {size_said(cap)} while it was read: not read", path)
        return b"".join(chunks)
    finally:
        os.close(fd)


def refusal(path: Path | str, cap: int, what: str) -> FileRefused | None:
    """Why read_bounded would refuse `path` now (not a regular file, over its cap), without
    reading it; None when it would be read, or is not there (a missing file is a state)."""
    try:
        fd = open_regular(path, what)
    except FileRefused as exc:
        return exc
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > cap:
        return FileRefused(f"the {what} is {size_said(size)}, over its cap of {size_said(cap)}: not read", path)
    return None


class OutsideRoot(UsageError):
    """A path built from settings or checklist values that leaves the root it must stay in."""


def inside(root: Path, relative: Path | str, what: str) -> Path:
    """root / relative, refused (OutsideRoot) unless it stays inside root once both are
    resolved, symlinks included ('../x', an absolute path, a link that leads out). Returns the
    path as built (not resolved): messages keep the names the operator knows."""
    path = Path(root) / relative
    real_root = Path(root).resolve()
    real = path.resolve()
    if real != real_root and not real.is_relative_to(real_root):
        shown = f"{relative} ({real})" if str(real) != str(relative) else str(relative)
        raise OutsideRoot(f"{what} {shown} is outside the stack root {real_root}: refused")
    return path


def write_whole(path: Path, text: str, *, mode: int | None = None) -> None:
    """A temporary file beside `path`, flushed to disk, then renamed over it (mode: its
    permissions; a temporary file starts at 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
