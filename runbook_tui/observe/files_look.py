"""The stacks' files as the rules need them: the directories, compose.yaml, .env and passwd."""

from __future__ import annotations

import time
from pathlib import Path

from runbook_tui.envfile import read_env
from runbook_tui.files import NOTES_CAP, FileRefused, read_bounded
from runbook_tui.observe.model import ROLES, FilesView, StackFiles
from runbook_tui.observe.passwd import passwd_admits
from runbook_tui.observe.site import SiteContext

RESTORE_MARK = ".last-restore"  # written by scripts/restore-room-db.sh after a restore that succeeded
ONLY_HERE_MARK = ".records-only-here"  # the dispatch ids only this stack holds (scripts/copy-back-room-db.sh)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _newest(backups: Path, stack: str) -> float | None:
    """The newest backup of a stack (backup-room-db.sh writes <stack>-<UTC time>.sql.gz)."""
    try:
        times = [p.stat().st_mtime for p in backups.glob(f"{stack}-2*.sql.gz") if p.is_file()]
    except OSError:
        return None
    return max(times, default=None)


def _lines(path: Path) -> list[str]:
    try:
        text = read_bounded(path, NOTES_CAP, "file").decode("utf-8", errors="replace")
        return [line.strip() for line in text.splitlines()[:10_000] if line.strip()]
    except OSError:
        return []


def _restore_record(path: Path) -> tuple[tuple[str, ...], str]:
    """What the last restore discarded and why: .last-restore is `key=value` lines (one older
    spelling held the backup's name alone, and discarded nothing)."""
    keys = dict(line.split("=", 1) for line in _lines(path) if "=" in line)
    discarded = tuple(i for i in keys.get("discarded", "").split(",") if i)
    return discarded, keys.get("reason", "")


def look_files(site: SiteContext) -> FilesView:
    stacks = []
    for role in ROLES:
        directory = site.stack_dir(role)
        shown = directory.relative_to(site.stack_root) if directory.is_relative_to(site.stack_root) else directory
        env_file = directory / ".env"
        env: dict[str, str] = {}
        error = ""
        if env_file.is_file():
            try:
                env = read_env(env_file)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                # A refused file says why (a FIFO, over the cap); others by their kind only.
                error = exc.strerror if isinstance(exc, FileRefused) else f"{exc.__class__.__name__}: cannot be read"
        passwd = directory / "mosquitto" / "passwd"
        try:
            passwd_present = passwd.is_file() and passwd.stat().st_size > 0
        except OSError:
            passwd_present = False
        admits = passwd_admits(passwd, env.get("MQTT_USERNAME", ""), env.get("MQTT_PASSWORD", "")) if passwd_present else None
        stacks.append(StackFiles(role, str(shown), directory.is_dir(), (directory / "compose.yaml").is_file(),
                                 env_file.is_file(), passwd_present, tuple(sorted(env.items())), error, admits,
                                 _mtime(directory / RESTORE_MARK), _newest(site.stack_root / "backups", directory.name),
                                 _mtime(passwd) if passwd_present else None, _mtime(env_file),
                                 tuple(_lines(directory / ONLY_HERE_MARK)), _mtime(directory / ONLY_HERE_MARK),
                                 *_restore_record(directory / RESTORE_MARK)))
    return FilesView(tuple(stacks), time.time())
