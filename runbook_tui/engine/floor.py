"""The run as the person at the room sees it, and what they send back.

The console is the journal's only writer. The floor view reads the journal (read-only) and
drops its confirmations into the run's inbox, a folder beside the journal: one file per
confirmation, written whole and renamed into place, so a dropped phone connection never leaves
half a confirmation, and a confirmation sent is never lost. The console reads the inbox and
journals each confirmation once, by its id (RunEngine.receive_room_confirmation).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook_tui.engine import records as rec
from runbook_tui.engine.floor_procedures import FloorProcedure, procedures_at_room
from runbook_tui.engine.journal import ended, read_journal, read_run
from runbook_tui.engine.replay import RoomConfirmation, RunState, earlier_open, outcome_words
from runbook_tui.files import SMALL_CAP, read_bounded
from runbook_tui.rules.outcome import alarm_words

NAME_LIMIT = 40
HEARTBEAT = ".console"  # in the inbox: touched by the open console every second or so
HEARTBEAT_STALE_S = 5.0
_NAME_OK = re.compile(r"[^\w .'-]", re.UNICODE)


def clean_name(name: str) -> str:
    """A person's name as the record keeps it: letters, digits, spaces and . ' - only, at most
    40 characters (it is shown on the console and in the report; nothing in it may be markup)."""
    return " ".join(_NAME_OK.sub("", name).split())[:NAME_LIMIT].strip()


def inbox_dir(journal: Path) -> Path:
    return journal.with_suffix(".floor")


def console_alive(journal: Path) -> None:
    """The console says it is open on this run (the floor view says when it stops saying so)."""
    beat = inbox_dir(journal) / HEARTBEAT
    try:
        beat.parent.mkdir(mode=0o700, exist_ok=True)
        beat.touch()
    except OSError:
        pass


def console_seen(journal: Path) -> float | None:
    """When the console last said it was open on this run (None: never)."""
    try:
        return (inbox_dir(journal) / HEARTBEAT).stat().st_mtime
    except OSError:
        return None


def send_confirmation(journal: Path, step: str, name: str) -> RoomConfirmation:
    """Write one confirmation into the run's inbox (blocking; a few hundred bytes)."""
    who = clean_name(name)
    if not who:
        raise ValueError("a name is needed: the record says who confirmed at the room")
    confirmation = RoomConfirmation(uuid.uuid4().hex, step, who, time.time())
    inbox = inbox_dir(journal)
    inbox.mkdir(mode=0o700, exist_ok=True)
    final = inbox / f"{confirmation.id}.json"
    tmp = inbox / f".{confirmation.id}.tmp"
    with open(tmp, "w") as out:
        json.dump({"id": confirmation.id, "step": step, "name": who, "at": confirmation.at}, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, final)
    return confirmation


def withdraw_confirmation(journal: Path, confirmation: RoomConfirmation) -> None:
    """Take a confirmation the console can no longer take back out of the run's inbox (the view
    that sent it says so): nothing waits there that will never be taken."""
    try:
        (inbox_dir(journal) / f"{confirmation.id}.json").unlink()
    except OSError:
        pass  # already gone


def read_confirmations(journal: Path, skip: set[str] | frozenset[str] = frozenset()) -> list[RoomConfirmation]:
    """The confirmations in the run's inbox, oldest first, but those whose id is in `skip`.
    Files that do not read as a confirmation are left alone (and never taken)."""
    inbox = inbox_dir(journal)
    found = []
    try:
        paths = [p for p in inbox.glob("*.json") if p.stem not in skip]
    except OSError:
        return []
    for path in paths:
        try:
            data = json.loads(read_bounded(path, SMALL_CAP, "room confirmation"))
            confirmation = RoomConfirmation(str(data["id"]), str(data["step"]), clean_name(str(data["name"])),
                                            float(data["at"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if confirmation.id == path.stem and confirmation.name:
            found.append(confirmation)
    return sorted(found, key=lambda c: c.at)


# ---- what the floor view shows ---------------------------------------------------------------

@dataclass(frozen=True)
class FloorStep:
    id: str
    number: int
    title: str
    state: str  # pending / running / done / failed / skipped / deferred / overridden
    detail: str  # the newest evidence or reason (masked in the journal already; no .env value)
    confirm_at_room: bool
    confirmed_by: str = ""  # the name the room confirmed with, once journaled
    at: float | None = None  # when the step last changed
    reached: bool = True  # every required step before it in its section has passed: the room may confirm it
    lapse: str = ""  # done, and its evidence no longer holds: what is seen (and the operator's word, if acknowledged)
    confirmation_id: str = ""  # the id of the room's confirmation the console took


@dataclass(frozen=True)
class FloorState:
    journal: Path
    room: str
    checklist: str
    operator: str
    drill: str | None  # None: no drill; "": a blind drill (the person at the room is the trainee's eyes)
    steps: tuple[FloorStep, ...]
    alarms: tuple[str, ...]  # raised now; or ended, and not acknowledged at the console yet
    last_dispatch: str  # the newest smoke test's verdict, in words ("" before any)
    ended: str  # "" while the run is open (or reopened); else finished / abandoned, in words
    last_record: float = 0.0
    notes: tuple[str, ...] = field(default=())
    outcome: str = ""  # the run's outcome as the console's header says it
    run: RunState | None = field(default=None, compare=False, repr=False)
    procedures: tuple[FloorProcedure, ...] = ()  # open non-normal procedures with a step the room confirms

    def step(self, step_id: str) -> FloorStep | None:
        return next((s for s in self.steps if s.id == step_id), None)


# A .env setting in evidence ("started with CORE_DISPATCH_ENABLED=true"): the phone names the
# setting, never its value (it shows no variables, README "The floor view").
_SETTING = re.compile(r"\b([A-Z][A-Z0-9_]*[A-Z0-9])=[^\s,;)]+")


def without_values(text: str) -> str:
    return _SETTING.sub(r"\1=(not shown)", text)


def floor_state(journal: Path, records: list[dict[str, Any]] | None = None) -> FloorState:
    """The run, replayed from its journal (or its records, already read) by the one replay the
    console and the report use (engine/replay.py), told as the room needs it: no commands, no
    variables, no outputs, no .env values (evidence is masked when it is journaled)."""
    run = read_run(journal, records)
    steps, number = [], 0
    for s in run.applicable():
        number += 1
        status = run.statuses.get(s.id)
        detail = ""
        if status is not None:
            detail = (status.evidence[-1] if status.evidence else "") or status.reason
        lapse = run.lapses.get(s.id)
        lapse_said = ""
        if lapse is not None and status is not None and status.state.value == "done":
            lapse_said = without_values(lapse.detail) + (f" (acknowledged: {lapse.acknowledged})" if lapse.acknowledged else "")
        confirmation = run.room_confirmations.get(s.id)
        steps.append(FloorStep(s.id, number, s.title, status.state.value if status else "pending", without_values(detail),
                               s.confirm_at_room, confirmation.name if confirmation else "",
                               (status.finished or status.started) if status else None,
                               reached=not earlier_open(run, s.id, same_section=True), lapse=lapse_said,
                               confirmation_id=confirmation.id if confirmation else ""))
    if run.active_alarms:
        alarms = tuple(f"{a.kind.replace('_', ' ')}: {without_values(a.reason)}" if a.reason else a.kind.replace("_", " ")
                       for a in run.active_alarms)
    elif run.alarms_unacknowledged:  # as the console keeps it: until the operator acknowledges it
        alarms = (f"in this run: {alarm_words(run.outcome.alarms)} (not acknowledged at the console yet)",)
    else:
        alarms = ()
    last_dispatch = ""
    if (d := run.last_dispatch) is not None:
        at = time.strftime("%H:%M:%S", time.localtime(d.at))
        last_dispatch = (f"{at}: complete (ack {d.ack_ms} ms, complete {d.complete_ms} ms)" if d.verdict == "complete"
                         else f"{at}: {d.verdict}: {d.reason}")
    outcome, ended = outcome_words(run.outcome, {s.id: s.number for s in steps}), ""
    if run.abandoned is not None:
        ended = "abandoned"
    elif run.finished_at is not None:
        ended = f"finished: {run.outcome.text()}"
    elif run.declared is not None:
        outcome += f" (it was finished at {time.strftime('%H:%M:%S', time.localtime(run.declared.at))})"
    started = run.started
    drill = "" if started.drill and started.blind else started.drill  # a blind drill: DRILL, unnamed
    return FloorState(journal, started.room, started.checklist.get("name", ""), started.operator,
                      drill, tuple(steps), alarms, last_dispatch, ended, run.last_record_at,
                      outcome=outcome, run=run,
                      procedures=procedures_at_room(run, started.checklist or {}, without_values))


def room_floor_state(runs_dir: Path, room: str) -> FloorState | None:
    """The room's run the floor follows, as the room sees it: the newest journal of the room (any
    checklist) that has not ended, else the newest one, ended (the floor then says so). Each
    journal is read once per look (the floor view looks twice a second)."""
    found = _followed(runs_dir, room)
    return floor_state(*found) if found else None


def _followed(runs_dir: Path, room: str) -> tuple[Path, list[dict[str, Any]]] | None:
    try:
        runs = sorted(runs_dir.glob(f"{room}-*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None
    newest = None
    for path in runs[:10]:
        try:
            records = read_journal(path).records
        except OSError:
            continue
        if not records or not rec.is_kind(records[0], rec.RunStarted) or records[0].get("room") != room:
            continue
        newest = newest or (path, records)
        if not ended(records):
            return path, records
    return newest


# ---- the floor view's server, as its state file says (ui/floor_server.py writes it) -------------

@dataclass(frozen=True)
class FloorServing:
    """A floor view that is serving (as its state file says, its process alive)."""

    pid: int
    room: str
    url: str  # the link with the token
    started: float
    listen: tuple[str, int] | None = None  # where it listens (None: a state file that does not say)


def state_path(runs_dir: Path, room: str) -> Path:
    return runs_dir / f"floor-view-{room}.json"


def log_path(runs_dir: Path, room: str) -> Path:
    return runs_dir / f"floor-view-{room}.log"


def serving(runs_dir: Path, room: str) -> FloorServing | None:
    """The room's floor view, if one serves (a state file whose process is gone is stale)."""
    try:
        data = json.loads(read_bounded(state_path(runs_dir, room), SMALL_CAP, "floor view state file"))
        listen = data.get("listen")
        info = FloorServing(int(data["pid"]), str(data["room"]), str(data["url"]), float(data["started"]),
                            (str(listen[0]), int(listen[1])) if isinstance(listen, list) and len(listen) == 2 else None)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes()
    except OSError:
        return None
    return info if b"floor" in cmdline and info.room == room else None  # a reused pid is not ours


def serving_at(runs_dir: Path, host: str, port: int) -> FloorServing | None:
    """The floor view (of any room) that serves at host:port, if one does (one port per room)."""
    for path in sorted(runs_dir.glob("floor-view-*.json")):
        info = serving(runs_dir, path.stem.removeprefix("floor-view-"))
        if info is not None and info.listen is not None and info.listen[1] == port and info.listen[0] in (host, "0.0.0.0", "::"):
            return info
    return None


def close(runs_dir: Path, room: str, timeout_s: float = 10.0) -> bool:
    """Stop the room's floor view (its links stop working). True if one was stopped."""
    info = serving(runs_dir, room)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while serving(runs_dir, room) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def loopback_only(host: str, public_url: str | None) -> bool:
    """A link only this machine can open (phones cannot): say so where the link is shown."""
    import ipaddress

    if public_url:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
