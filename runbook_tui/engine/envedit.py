"""Editing a stack's .env the way step 3.3 needs: surgically, atomically, verifiably.

python-dotenv's set_key rewrites the file without fsync, lock or a check that nobody changed
it since the operator read it, and drops an inline comment on the changed line. Here only
the value of the changed line is replaced (its `export ` prefix, inline comment and line
ending stay, as do every other line, the order and the file's mode), the file is replaced
atomically (temp file, fsync, rename, fsync of the directory) after a timestamped backup,
a change made since the snapshot was taken is refused, and the result is read back with
python-dotenv's parser (the one the tool reads with) to verify it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_SAFE_BARE = re.compile(r"^[A-Za-z0-9_./:@+,%-]*$")


class EnvEditError(RuntimeError):
    """The edit was not made; the file is as it was."""


class EnvChangedError(EnvEditError):
    """The file changed after it was read: nothing was overwritten."""


@dataclass(frozen=True)
class EnvSnapshot:
    path: Path
    raw: bytes
    sha256: str

    @classmethod
    def read(cls, path: Path) -> EnvSnapshot:
        raw = Path(path).read_bytes()
        return cls(Path(path), raw, hashlib.sha256(raw).hexdigest())

    def values(self) -> dict[str, str]:
        return {k: v or "" for k, v in dotenv_values(stream=_text_stream(self.raw)).items()}


@dataclass(frozen=True)
class EnvEdit:
    path: Path
    backup: Path
    changes: dict[str, str]
    before: dict[str, str | None]  # previous values of the changed keys (None: absent)


def _text_stream(raw: bytes):
    import io

    return io.StringIO(raw.decode("utf-8"))


def quote_value(value: str) -> str:
    """A spelling of value that python-dotenv and compose both read back as value."""
    if "${" in value:
        # python-dotenv expands ${...} even in single quotes and compose does not: no spelling
        # is read the same by both.
        raise EnvEditError("a value containing ${ cannot be written so that compose and python-dotenv agree")
    if _SAFE_BARE.match(value):
        return value
    if "'" not in value and "\\" not in value and "\n" not in value and "\r" not in value:
        return f"'{value}'"  # single quotes: literal, no $ interpolation
    if "$" in value:
        raise EnvEditError("a value with $ and a quote, backslash or newline cannot be written unambiguously")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _split_value(rest: str) -> tuple[str, str]:
    """Split what follows `KEY=` into (value spelling, trailing part such as ' # comment')."""
    stripped = rest.lstrip(" \t")
    lead = rest[: len(rest) - len(stripped)]
    if stripped[:1] in ("'", '"'):
        quote = stripped[0]
        i = 1
        while i < len(stripped):
            if stripped[i] == "\\" and i + 1 < len(stripped):
                i += 2
                continue
            if stripped[i] == quote:
                return lead + stripped[: i + 1], stripped[i + 1 :]
            i += 1
        return rest, ""  # unterminated: treat the whole rest as the value
    m = re.search(r"[ \t]+#", stripped)
    if m:
        return lead + stripped[: m.start()], stripped[m.start() :]
    trail = stripped[len(stripped.rstrip(" \t")) :]
    return lead + stripped.rstrip(" \t"), trail


def render(raw: bytes, changes: dict[str, str]) -> bytes:
    """The file's bytes with each key's value replaced (its last assignment, as dotenv reads it)."""
    text = raw.decode("utf-8")
    lines = text.splitlines(keepends=True)
    crlf = sum(1 for line in lines if line.endswith("\r\n")) > len(lines) / 2
    newline = "\r\n" if crlf else "\n"
    for key, value in changes.items():
        if not _KEY.match(key):
            raise EnvEditError(f"{key!r} is not a valid variable name")
        spelled = quote_value(value)
        pattern = re.compile(rf"^(\s*(?:export\s+)?{re.escape(key)}\s*=)(.*?)(\r?\n)?$", re.S)
        for index in range(len(lines) - 1, -1, -1):
            m = pattern.match(lines[index])
            if m:
                _old, trailing = _split_value(m.group(2))
                lines[index] = m.group(1) + spelled + trailing + (m.group(3) or "")
                break
        else:
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += newline
            lines.append(f"{key}={spelled}{newline}")
    return "".join(lines).encode("utf-8")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def apply_edit(snapshot: EnvSnapshot, changes: dict[str, str], backup_dir: Path | None = None) -> EnvEdit:
    """Apply `changes` to the file `snapshot` was read from; refuse if it changed since."""
    # Edit the file a symlinked .env points to, so the link stays a link.
    path = snapshot.path.resolve()
    new_raw = render(snapshot.raw, changes)
    directory = path.parent
    lock_path = directory / f".{path.name}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one editor at a time between the check and the rename
        current = path.read_bytes()
        if hashlib.sha256(current).hexdigest() != snapshot.sha256:
            raise EnvChangedError(f"{path} changed since it was read; nothing was written. Read it again and review.")
        stat = path.stat()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        backup = (backup_dir or directory) / f"{path.name}.bak-{stamp}-{os.getpid()}"
        shutil.copy2(path, backup)
        with open(backup, "rb+") as b:
            os.fsync(b.fileno())
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), stat.st_mode & 0o7777)
                if os.geteuid() == 0:
                    os.fchown(f.fileno(), stat.st_uid, stat.st_gid)
                f.write(new_raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(directory)
    after = EnvSnapshot.read(path).values()
    wrong = [k for k, v in changes.items() if after.get(k) != v]
    if wrong:
        # The file was replaced: say so, and where the previous one is.
        raise EnvEditError(f"{path} was written but reads back {', '.join(wrong)} with another value; "
                           f"the previous file is {backup}")
    before_values = snapshot.values()
    return EnvEdit(path, backup, dict(changes), {k: before_values.get(k) for k in changes})
