"""The run journal: append-only JSON lines, one fsync per record.

Every record is written with a single write() on a file opened O_APPEND and fsynced before
the call returns, so a crash loses at most the record being written and never tears an
earlier one. Reading tolerates a torn last line (reported, not fatal).
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import itertools
import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook_tui.engine import records as rec
from runbook_tui.errors import RunbookError
from runbook_tui.files import JOURNAL_CAP, read_bounded

if TYPE_CHECKING:  # the replay reads journals: imported where a run is replayed
    from runbook_tui.engine.replay import PlannedStep, RunState


@dataclass(frozen=True)
class JournalContents:
    records: list[dict[str, Any]]
    torn: list[str]  # incomplete records (a writer that died mid-write), kept out of `records`


def read_journal(path: Path) -> JournalContents:
    records: list[dict[str, Any]] = []
    torn: list[str] = []
    for raw in read_bounded(path, JOURNAL_CAP, "run journal").split(b"\n"):
        if not raw:
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            torn.append(raw.decode("utf-8", errors="replace")[:200])
    return JournalContents(records, torn)


class JournalBusy(RunbookError, RuntimeError):
    """Another process holds this journal."""


def new_journal(directory: Path, stem: str) -> Path:
    """A new run's journal, created empty under a name no other run has: `stem.jsonl`, else
    `stem_2.jsonl`, `stem_3.jsonl`... Names are stamped by the second, and two runs of a room can
    start within one (two consoles before the room's hold, a quick new run); O_EXCL makes the name
    this run's alone, where opening it for append would have let both runs write one file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        path = directory / (f"{stem}.jsonl" if n == 1 else f"{stem}_{n}.jsonl")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable too
        finally:
            os.close(dir_fd)
        return path
    raise AssertionError("unreachable")


def journal_order(path: Path) -> tuple[str, int]:
    """Sorts journals as their runs started: by the name's stamp, then by the suffix a name taken
    in the same second got (`stem` < `stem_2` < `stem_10`, which the names alone do not sort)."""
    stem = Path(path).name.removesuffix(".jsonl")
    base, sep, n = stem.rpartition("_")
    return (base, int(n)) if sep and n.isdigit() else (stem, 1)


class Journal:
    def __init__(self, path: Path, records: list[dict[str, Any]] | None = None) -> None:
        """`records`: the journal's, when the caller has just read them (a resume reads it once)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = records if records is not None else read_journal(self.path).records if self.path.exists() else []
        self._seq = max((r.get("seq", 0) for r in existing), default=0)
        self._lock = threading.Lock()
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # One writer per journal: a second runbook-tui (an old one still alive after a dropped
            # SSH session) would interleave records.
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise JournalBusy(f"{self.path} is in use by another runbook-tui process; close it first") from None
        if created:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the new file's name is durable too
            finally:
                os.close(dir_fd)
        if self.path.stat().st_size and not self._ends_with_newline():
            os.write(self._fd, b"\n")  # seal a torn tail so the next record starts clean
            os.fsync(self._fd)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            record = rec.line(self._seq, round(time.time(), 3), kind, fields)
            data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
            while data:  # a short write (disk nearly full) is finished, not silently dropped
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
            return record

    def write(self, record: rec.Record) -> rec.Record:
        """Append one record of a kind engine/records.py defines; returns it with its seq and time."""
        line = self.append(record.KIND, v=record.VERSION, **record.fields())
        return dataclasses.replace(record, seq=line["seq"], ts=line["ts"])

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def ended(records: list[dict[str, Any]]) -> bool:
    """A run has ended when it finished, or when it was abandoned (its room no longer exists)."""
    return any(rec.is_kind(r, *rec.ENDING) for r in records)


def abandon_unfinished(runs_dir: Path, room: str, reason: str) -> tuple[list[Path], list[Path]]:
    """Close every unfinished run of a room that is gone, so that no one is offered to resume it.

    Appends a `run_abandoned` record (the journal stays append-only). A journal still open in a
    runbook-tui is left alone. Returns (abandoned, busy).
    """
    abandoned: list[Path] = []
    busy: list[Path] = []
    for path in sorted(Path(runs_dir).glob(f"{room}-*.jsonl")):
        try:
            records = read_journal(path).records
        except OSError:
            continue
        if not records or not rec.is_kind(records[0], rec.RunStarted) or records[0].get("room") != room or ended(records):
            continue
        try:
            journal = Journal(path)
        except JournalBusy:
            busy.append(path)
            continue
        try:
            journal.write(rec.RunAbandoned(reason=reason))
        finally:
            journal.close()
        abandoned.append(path)
    return abandoned, busy


def read_run(path: Path, records: list[dict[str, Any]] | None = None) -> RunState:
    """A run's journal (or its records, already read), replayed (engine/replay.py): what every
    reader of a run shows. The steps' plan comes from the journal when it says all the outcome
    needs, else from the checklist it was written for (same sha256), else from the journal alone."""
    from runbook_tui.engine.replay import plan_from_record, plan_partial, replay

    records = read_journal(path).records if records is None else records
    started = rec.first(records, rec.RunStarted)
    if started is None:
        raise ValueError(f"{path}: no run_started record: not a run journal")
    plan = plan_from_record(started)
    if plan is None and (plan := _checklist_plan(started.checklist or {})) is not None:
        titles = {s["id"]: s["title"] for s in started.steps or () if s.get("title")}  # as filled in at start
        plan = tuple(dataclasses.replace(s, title=titles.get(s.id, s.title)) for s in plan)
    return replay(records, plan or plan_partial(started, records))


def _checklist_plan(checklist: Mapping[str, Any]) -> tuple[PlannedStep, ...] | None:
    path = checklist.get("path")
    if not isinstance(path, str):
        return None
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return _plan_of(path, checklist.get("sha256"), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _plan_of(path: str, sha256: str | None, _mtime_ns: int, _size: int) -> tuple[PlannedStep, ...] | None:
    """The checklist's plan, read once per version of its file (the floor view replays twice a second)."""
    from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
    from runbook_tui.engine.replay import plan_from_checklist

    try:
        checklist = load_checklist(path)
    except ChecklistInvalid:
        return None
    return plan_from_checklist(checklist) if checklist.sha256 == sha256 else None
