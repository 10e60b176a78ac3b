"""When the tool itself fails: the traceback goes to a file, masked; the operator gets a short
message, the file's path and a non-zero exit. Never a traceback on the screen.

Textual's own crash screen prints the traceback with each frame's local variables, which is
how a stack's MQTT password once reached the operator's terminal. Here the traceback is
written without locals, every secret of the stacks' .env files is masked in it (and any
`...PASSWORD=value` or `...TOKEN: value` that was not among them), and the file is private.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import traceback
from pathlib import Path

from runbook_tui.secrets import MASK, SECRET_KEY, Masker

EXIT_CRASH = 70  # EX_SOFTWARE: an internal error
# A secret-named key (the one list, secrets.SECRET_KEY) followed by its value, in any text.
_SECRET_ASSIGNMENT = re.compile(rf"((?:{SECRET_KEY.pattern})[A-Z0-9_]*['\"]?\s*[=:]\s*['\"]?)([^\s'\",)}}]+)", re.I)


def secret_masker(stack_root: Path | None) -> Masker:
    """Every secret of the stacks' .env files under stack_root (none when it is not known)."""
    if stack_root is None:
        return Masker()
    rooms = stack_root / "infra" / "rooms"
    files = sorted(rooms.glob("*/.env")) if rooms.is_dir() else []
    try:
        return Masker.from_env_files(files)
    except (OSError, ValueError):
        return Masker()


def write_crash(error: BaseException, directory: Path | None, masker: Masker) -> Path:
    """The traceback (no locals), masked, in a private file in `directory` (the journals'
    folder when known, else the system's temporary folder). Returns its path."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    text = _SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + MASK, masker.mask(text))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for folder in (directory, Path(tempfile.gettempdir())):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"runbook-tui-crash-{stamp}-{os.getpid()}.txt"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(f"runbook-tui {time.strftime('%Y-%m-%d %H:%M:%S %z')}: an internal error (secrets masked)\n\n{text}")
            return path
        except OSError:
            continue
    raise OSError("no folder to write the crash report to")


def crash_message(path: Path | None, error: BaseException, resume: str = "") -> str:
    """What the operator reads: one line of what happened, where the details are, what next."""
    kind = error.__class__.__name__
    lines = [f"runbook-tui stopped on an internal error ({kind}). Nothing more was done to the room."]
    lines.append(f"Details, secrets masked: {path}" if path else "The details could not be written to a file.")
    if resume:
        lines.append(f"The run's journal is intact: {resume}")
    return "\n".join(lines)


def report_crash(error: BaseException, masker: Masker, directory: Path | None = None, resume: str = "",
                 program: str = "runbook-tui") -> int:
    """The last line of defence of a command: the masked file, the short message on standard
    error, and EXIT_CRASH."""
    import sys

    try:
        path = write_crash(error, directory, masker)
    except OSError:
        path = None
    message = crash_message(path, error, resume)
    print(message.replace("runbook-tui", program, 1), file=sys.stderr)
    return EXIT_CRASH
