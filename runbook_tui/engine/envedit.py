"""Editing a stack's .env the way step 3.3 needs: surgically, atomically, provably.

python-dotenv's set_key rewrites the file without fsync, lock or a check that nobody changed
it since the operator read it, and drops an inline comment on the changed line. Here:

- The file is cut into python-dotenv's own bindings (dotenv.parser.parse_stream, which
  knows multi-line quoted values, CR line endings and comments); only the value of the
  key's last binding is replaced (its `export `, inline comment and line ending stay), or
  the key is appended. A UTF-8 byte-order mark stays where it was and is not part of a key.
- **Proved before writing**: the new text is parsed again; it is written only when every
  other key reads back exactly as before, the changed keys read back as asked, and no line
  that parsed stops parsing. Otherwise nothing is written, and the refusal says why.
- Written atomically (temp file, fsync, rename, fsync of the directory) after a backup with
  a unique name; the newest BACKUPS_KEPT backups of the file are kept. One editor at a time
  (a lock on the directory, so no lock file is left beside the .env), and a change made
  since the snapshot was taken is refused. A temporary file left by an editor that was
  killed is removed by the next edit.
- Reading and rendering take linear time (`runbook_tui.envfile`).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream

from runbook_tui.envfile import EnvNotText, decode_env, has_bom, parse_env, read_env_bytes
from runbook_tui.errors import RunbookError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_SAFE_BARE = re.compile(r"^[A-Za-z0-9_./:@+,%-]*$")
BACKUPS_KEPT = 20  # per .env file; older backups are removed by the next edit
TEMP_MARK = ".edit-"  # temporary files: .<name>.edit-<pid>-<random>


class EnvEditError(RunbookError, RuntimeError):
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
        raw = read_env_bytes(path)
        return cls(Path(path), raw, hashlib.sha256(raw).hexdigest())

    def values(self) -> dict[str, str]:
        try:
            return {k: v or "" for k, v in parse_env(decode_env(self.raw, str(self.path))).items()}
        except EnvNotText as exc:
            raise EnvEditError(str(exc)) from None


@dataclass(frozen=True)
class EnvEdit:
    path: Path
    backup: Path
    changes: dict[str, str]
    before: dict[str, str | None]  # previous values of the changed keys (None: absent)


def quote_value(value: str) -> str:
    """A spelling of value that python-dotenv and compose both read back as value."""
    if "\0" in value:
        # No quoting carries a NUL: compose, the shell and the core's C library end the value there.
        raise EnvEditError(f"the value holds a NUL character (U+0000) at character {value.index(chr(0)) + 1}: "
                           "a .env value cannot carry one; nothing was written")
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


_PREFIX = r"\s*(?:export[^\S\r\n]+)?{key}[^\S\r\n]*=[^\S\r\n]*"
_QUOTED = {"'": re.compile(r"'(?:\\.|[^'\\])*'"), '"': re.compile(r'"(?:\\.|[^"\\])*"')}  # python-dotenv's


def _replace_value(original: str, key: str, spelled: str) -> str:
    """One binding's text with its value spelled anew: what precedes the value (blank lines,
    `export `, the key, `=`) and what follows it (an inline comment, the line ending) stay."""
    m = re.match(_PREFIX.format(key=re.escape(key)), original)
    if m is None:
        raise EnvEditError(f"{key}: its line could not be read back as KEY=VALUE")
    rest = original[m.end():]
    quoted = _QUOTED.get(rest[:1])
    if quoted is not None and (q := quoted.match(rest)):
        return original[: m.end()] + spelled + rest[q.end():]
    line = re.split(r"[\r\n]", rest, maxsplit=1)[0]
    comment = re.search(r"[ \t]+#", line)
    trailing = line[comment.start():] if comment else line[len(line.rstrip(" \t")):]
    return original[: m.end()] + spelled + trailing + rest[len(line):]


def _newline(text: str) -> str:
    counts = {nl: text.count(nl) for nl in ("\r\n", "\n", "\r")}
    counts["\n"] -= counts["\r\n"]
    counts["\r"] -= counts["\r\n"]
    best = max(counts, key=lambda nl: counts[nl])
    return best if counts[best] else "\n"


def render(raw: bytes, changes: dict[str, str]) -> bytes:
    """The file's bytes with each key's value replaced (its last binding, as dotenv reads it),
    or the key appended; proved by parsing the result before anything is written."""
    try:
        text = decode_env(raw)
    except EnvNotText as exc:
        raise EnvEditError(str(exc)) from None
    bindings = list(parse_stream(io.StringIO(text)))
    pieces = [b.original.string for b in bindings]
    if "".join(pieces) != text:  # the parser's bindings always cover the text; never edit blind
        raise EnvEditError("the file could not be cut into its lines as python-dotenv reads them; nothing was written")
    newline = _newline(text)
    for key, value in changes.items():
        if not _KEY.match(key):
            raise EnvEditError(f"{key!r} is not a valid variable name")
        spelled = quote_value(value)
        last = next((i for i in range(len(bindings) - 1, -1, -1) if bindings[i].key == key and not bindings[i].error), None)
        if last is None:
            if pieces and not pieces[-1].endswith(("\n", "\r")):
                pieces[-1] += newline
            pieces.append(f"{key}={spelled}{newline}")
        else:
            pieces[last] = _replace_value(pieces[last], key, spelled)
    new_text = "".join(pieces)
    _prove(text, new_text, changes)
    return (b"\xef\xbb\xbf" if has_bom(raw) else b"") + new_text.encode("utf-8")


def _prove(old: str, new: str, changes: dict[str, str]) -> None:
    """Every other key reads back as before, each changed key as asked, no line stops parsing."""
    before, after = parse_env(old), parse_env(new)
    wrong = [f"{k} would read {after.get(k)!r}" for k, v in changes.items() if after.get(k) != v]
    others = sorted(k for k in before.keys() | after.keys() if k not in changes and before.get(k) != after.get(k))
    broken = sum(1 for b in parse_stream(io.StringIO(new)) if b.error) - sum(1 for b in parse_stream(io.StringIO(old)) if b.error)
    if wrong or others or broken > 0:
        said = wrong + ([f"it would also change {', '.join(others)}"] if others else []) + \
               ([f"{broken} line(s) would stop parsing"] if broken > 0 else [])
        raise EnvEditError("refused before writing: " + "; ".join(said) + " (the file is as it was)")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(path: Path) -> list[Path]:
    """Temporary files of editors that were killed (their process is gone): they hold a whole
    .env, secrets included, so they do not stay. Returns what was removed."""
    removed = []
    for tmp in path.parent.glob(f".{path.name}{TEMP_MARK}*"):
        pid = tmp.name[len(f".{path.name}{TEMP_MARK}"):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _backup(path: Path, backup_dir: Path) -> Path:
    """A copy with a name no other edit has (two edits in one second keep both), fsynced;
    then only the newest BACKUPS_KEPT of this file are kept."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1000):
        backup = backup_dir / f"{path.name}.bak-{stamp}-{os.getpid()}-{n}"
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(path, backup)
        break
    else:
        raise EnvEditError(f"no free backup name for {path.name} in {backup_dir}")
    old = sorted(backup_dir.glob(f"{path.name}.bak-*"), key=lambda p: p.stat().st_mtime_ns)
    for stale in old[:-BACKUPS_KEPT]:
        stale.unlink(missing_ok=True)
    return backup


def apply_edit(snapshot: EnvSnapshot, changes: dict[str, str], backup_dir: Path | None = None) -> EnvEdit:
    """Apply `changes` to the file `snapshot` was read from; refuse if it changed since, or if
    the result could not be proved (see the module's doc). Blocking: run it off the UI's loop."""
    # Edit the file a symlinked .env points to, so the link stays a link.
    path = snapshot.path.resolve()
    new_raw = render(snapshot.raw, changes)  # proved, or refused before anything is touched
    directory = path.parent
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)  # one editor at a time between the check and the rename
        clean_leftovers(path)
        current = read_env_bytes(path)
        if hashlib.sha256(current).hexdigest() != snapshot.sha256:
            raise EnvChangedError(f"{path} changed since it was read; nothing was written. Read it again and review.")
        stat = path.stat()
        backup = _backup(path, backup_dir or directory)
        tmp = directory / f".{path.name}{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), stat.st_mode & 0o7777)
                if os.geteuid() == 0:
                    os.fchown(f.fileno(), stat.st_uid, stat.st_gid)
                f.write(new_raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.fsync(dir_fd)
        after = EnvSnapshot.read(path).values()
        wrong = [k for k, v in changes.items() if after.get(k) != v]
        if wrong:  # proved before writing, so only a disk that lies gets here: put the old file back
            shutil.copy2(backup, path)
            raise EnvEditError(f"{path} read back {', '.join(wrong)} with another value; the previous file was put back")
    finally:
        os.close(dir_fd)  # closing it releases the lock
    before_values = snapshot.values()
    return EnvEdit(path, backup, dict(changes), {k: before_values.get(k) for k in changes})
