"""Every kind of record a run's journal holds, as a type: what is written and how it reads back.

The journal is the run's only memory: the console after a resume, the floor view and the report
read nothing else. So each kind is defined once, here, with its fields and a version; writers
hand the journal one of these (Journal.write) and readers take them back with `read`. The kind's
name appears nowhere else in the product (tests/unit/test_31_records.py checks it).

Reading is tolerant, as journals outlive the tool that wrote them: a kind this version does not
know reads as `Unknown` (kept, never judged); a field an older version did not write takes its
default; a field a newer version added is ignored; a record missing a field it cannot do without
reads as `Unknown` too (a hand-edited or damaged line does not end the report).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar


@dataclass(frozen=True, kw_only=True)
class Record:
    """One journal line. `seq` and `ts` are given by the journal when it writes the record."""

    KIND: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    seq: int = 0
    ts: float = 0.0
    v: int = 1  # the version the record was written with (journals before versions: 1)

    def fields(self) -> dict[str, Any]:
        """What the journal writes after seq, ts, kind and v."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _ENVELOPE}


_ENVELOPE = frozenset({"seq", "ts", "v"})
KINDS: dict[str, type[Record]] = {}
R = TypeVar("R", bound=type[Record])


def kind(name: str, version: int = 1) -> Callable[[R], R]:
    """Register a record type under its kind (the `kind` field of its journal line)."""
    def register(cls: R) -> R:
        if name in KINDS:
            raise ValueError(f"record kind {name!r} is defined twice")
        cls.KIND, cls.VERSION = name, version
        KINDS[name] = cls
        return cls
    return register


@dataclass(frozen=True, kw_only=True)
class Unknown(Record):
    """A line this version cannot read as any kind it knows (a newer kind, or a damaged record)."""

    raw: Mapping[str, Any] = field(default_factory=dict)


def line(seq: int, ts: float, kind_: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A journal line: its sequence number, time and kind, then the record's fields."""
    return {"seq": seq, "ts": ts, "kind": kind_, **fields}


def to_line(record: Record, seq: int, ts: float) -> dict[str, Any]:
    """The journal line of a record (a dict, JSON-ready)."""
    if not record.KIND:
        raise TypeError(f"{type(record).__name__} is not a record kind (records.kind registers one)")
    return line(seq, ts, record.KIND, {"v": record.VERSION, **record.fields()})


def read(line: Mapping[str, Any]) -> Record:
    """A journal line as its record type; `Unknown` for a kind not known or a record missing a
    field it needs."""
    kind_ = line.get("kind")
    cls = KINDS.get(kind_) if isinstance(kind_, str) else None
    if cls is None:
        return Unknown(seq=_int(line.get("seq")), ts=_float(line.get("ts")), raw=line)
    known = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in line.items() if k in known}
    given["seq"], given["ts"], given["v"] = _int(line.get("seq")), _float(line.get("ts")), _int(line.get("v"), 1)
    try:
        return cls(**given)
    except TypeError:  # a required field absent
        return Unknown(seq=given["seq"], ts=given["ts"], raw=line)


def kind_name(line: Mapping[str, Any]) -> str:
    """The kind a journal line says it is, as written (known or not)."""
    return str(line.get("kind", "?"))


def read_all(lines: Iterable[Mapping[str, Any]]) -> list[Record]:
    return [read(line) for line in lines]


T = TypeVar("T", bound=Record)


def is_kind(line: Mapping[str, Any] | None, *types: type[Record]) -> bool:
    """Whether a raw journal line is of one of these kinds (without reading it whole)."""
    return isinstance(line, Mapping) and any(line.get("kind") == t.KIND for t in types)


def of_kind(lines: Iterable[Mapping[str, Any]], cls: type[T]) -> Iterator[T]:
    """The records of one kind among raw journal lines, read."""
    for line in lines:
        if line.get("kind") == cls.KIND and isinstance(record := read(line), cls):
            yield record


def first(lines: Iterable[Mapping[str, Any]], cls: type[T]) -> T | None:
    return next(of_kind(lines, cls), None)


def last(lines: Sequence[Mapping[str, Any]], cls: type[T]) -> T | None:
    return next(of_kind(reversed(lines), cls), None)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


# ---- the run ------------------------------------------------------------------------------------

@kind("run_started")
@dataclass(frozen=True, kw_only=True)
class RunStarted(Record):
    checklist: Mapping[str, Any]  # id, name, revision, sha256, path
    room: str
    variables: Mapping[str, str] = field(default_factory=dict)  # masked
    lab: bool = False
    operator: str = ""
    settings: str = ""
    choices: Mapping[str, str] = field(default_factory=dict)
    drill: str | None = None
    # A blind drill: the trainee's screens (console, floor view) say DRILL, never the scenario.
    blind: bool = False
    # The steps the scenario's fault is known to fail: the fault showing itself, not the trainee's mistake.
    drill_symptoms: Sequence[str] = ()
    # The checklist's steps in order (id, title, optional, confirm_at_room, section, when, acting,
    # supersedes, type), so the report and the floor view need no checklist file.
    steps: Sequence[Mapping[str, Any]] = ()


@kind("run_resumed")
@dataclass(frozen=True, kw_only=True)
class RunResumed(Record):
    torn: int = 0


@kind("run_finished")
@dataclass(frozen=True, kw_only=True)
class RunFinished(Record):
    outcome: str
    deferred: Sequence[str] = ()
    open: Sequence[str] = ()
    superseded: Mapping[str, str] = field(default_factory=dict)
    optional_not_done: Sequence[str] = ()
    lapsed: Sequence[str] = ()
    without_evidence: Sequence[str] = ()
    alarms: Sequence[Mapping[str, Any]] = ()
    said: str = ""


@kind("run_abandoned")
@dataclass(frozen=True, kw_only=True)
class RunAbandoned(Record):
    reason: str = ""


# ---- steps and the operator's decisions -----------------------------------------------------------

@kind("step_state")
@dataclass(frozen=True, kw_only=True)
class StepStateRecord(Record):
    step: str
    state: str  # a StepState's value
    reason: str = ""
    evidence: Sequence[str] = ()
    started: float | None = None
    finished: float | None = None
    procedure: str = ""  # the non-normal procedure the step is of ("": the normal checklist's)


@kind("choice")
@dataclass(frozen=True, kw_only=True)
class Chosen(Record):
    choice: str
    option: str
    label: str = ""


@kind("variable")
@dataclass(frozen=True, kw_only=True)
class VariableSet(Record):
    name: str
    value: str  # masked
    step: str = ""  # the step whose output it captured
    source: str = ""  # or the stack's .env it was read from


@kind("confirmation")
@dataclass(frozen=True, kw_only=True)
class Confirmed(Record):
    step: str
    operator: str = ""
    typed_room: bool = False
    note: str = ""


@kind("wrong_room_id")
@dataclass(frozen=True, kw_only=True)
class WrongRoomId(Record):
    step: str
    operator: str = ""


@kind("room_confirmation")
@dataclass(frozen=True, kw_only=True)
class RoomConfirmed(Record):
    step: str
    id: str
    name: str
    at: float | None = None  # when the room sent it (the record's ts: when the console took it)


@kind("guards")
@dataclass(frozen=True, kw_only=True)
class GuardsJudged(Record):
    step: str
    results: Sequence[Mapping[str, Any]] = ()  # condition, holds, detail
    observation: Mapping[str, Any] | None = None

    @property
    def refused(self) -> bool:
        return not all(r.get("holds") for r in self.results)


@kind("override")
@dataclass(frozen=True, kw_only=True)
class Overridden(Record):
    step: str
    what: str  # "guard": run despite it; "step": passed without its evidence
    reason: str = ""
    operator: str = ""
    failed: Sequence[str] = ()
    consequences: Sequence[str] = ()


@kind("fenced")
@dataclass(frozen=True, kw_only=True)
class Fenced(Record):
    step: str
    role: str
    by: str
    how: str = ""


@kind("evidence")
@dataclass(frozen=True, kw_only=True)
class EvidenceSeen(Record):
    step: str
    condition: str
    holds: bool
    detail: str = ""


# ---- actions --------------------------------------------------------------------------------------

@kind("command_started")
@dataclass(frozen=True, kw_only=True)
class CommandStarted(Record):
    step: str
    command: str  # masked
    cwd: str = ""
    stack: str | None = None
    engine: str | None = ""  # None: a site's own program, run where the console runs
    argv: Sequence[str] = ()  # the words of a command run without a shell (the site's fence command)
    shell: bool = True


@kind("command_finished")
@dataclass(frozen=True, kw_only=True)
class CommandFinished(Record):
    step: str
    command: str
    exit_code: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    duration_s: float = 0.0
    output: Sequence[str] = ()


@kind("env_edit")
@dataclass(frozen=True, kw_only=True)
class EnvEdited(Record):
    step: str
    file: str
    backup: str = ""
    changes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # key -> {from, to}, secrets masked


@kind("dispatch_sent")
@dataclass(frozen=True, kw_only=True)
class DispatchSent(Record):
    step: str
    id: str
    broker: str = ""
    device: str = ""
    action: str = ""


@kind("dispatch_outcome")
@dataclass(frozen=True, kw_only=True)
class DispatchOutcome(Record):
    step: str
    id: str
    verdict: str = "?"
    reason: str = ""
    ack_ms: float | None = None
    complete_ms: float | None = None
    events: Sequence[Mapping[str, Any]] = ()


# ---- the live room ----------------------------------------------------------------------------------

@kind("condition_lapsed")
@dataclass(frozen=True, kw_only=True)
class ConditionLapsed(Record):
    step: str
    condition: str
    detail: str = ""
    observation: Mapping[str, Any] | None = None


@kind("condition_restored")
@dataclass(frozen=True, kw_only=True)
class ConditionRestored(Record):
    step: str
    condition: str = ""
    detail: str = ""
    lapsed_s: float | None = None


@kind("lapse_superseded")
@dataclass(frozen=True, kw_only=True)
class LapseSuperseded(Record):
    step: str
    by: str = ""


@kind("lapse_acknowledged")
@dataclass(frozen=True, kw_only=True)
class LapseAcknowledged(Record):
    step: str
    condition: str = ""
    reason: str = ""
    operator: str = ""


@kind("alarm_raised")
@dataclass(frozen=True, kw_only=True)
class AlarmRaised(Record):
    alarm: str
    reason: str = ""
    source: str = ""  # what raised it decides what may end it
    observation: Mapping[str, Any] | None = None


@kind("alarm_cleared")
@dataclass(frozen=True, kw_only=True)
class AlarmCleared(Record):
    alarm: str
    observation: Mapping[str, Any] | None = None


@kind("alarm_acknowledged")
@dataclass(frozen=True, kw_only=True)
class AlarmAcknowledged(Record):
    alarms: Sequence[str] = ()
    reason: str = ""
    operator: str = ""


# ---- training ---------------------------------------------------------------------------------------

@kind("fault_injected")
@dataclass(frozen=True, kw_only=True)
class FaultInjected(Record):
    fault: str
    effect: str = ""
    by: str = ""
    at: float | None = None
    symptoms: Sequence[str] = ()  # the steps this fault is known to fail (not the trainee's mistakes)


@kind("fault_healed")
@dataclass(frozen=True, kw_only=True)
class FaultHealed(Record):
    fault: str
    effect: str = ""
    by: str = ""
    at: float | None = None


# ---- non-normal procedures ---------------------------------------------------------------------

@kind("procedure_queued")
@dataclass(frozen=True, kw_only=True)
class ProcedureQueued(Record):
    procedure: str
    title: str = ""
    condition: str = ""
    detail: str = ""  # the trigger's words (masked)
    held_s: float = 0.0  # how long the condition had held when it fired
    episode: int = 1
    source: str = "trigger"  # trigger / venue
    observation: Mapping[str, Any] | None = None


@kind("procedure_opened")
@dataclass(frozen=True, kw_only=True)
class ProcedureOpened(Record):
    procedure: str
    operator: str = ""


@kind("procedure_worked")
@dataclass(frozen=True, kw_only=True)
class ProcedureWorked(Record):
    procedure: str
    steps: Mapping[str, str] = field(default_factory=dict)  # step id -> the state it passed in


@kind("procedure_dismissed")
@dataclass(frozen=True, kw_only=True)
class ProcedureDismissed(Record):
    procedure: str
    reason: str
    operator: str = ""


@kind("procedure_cleared")
@dataclass(frozen=True, kw_only=True)
class ProcedureCleared(Record):
    procedure: str
    condition: str = ""
    detail: str = ""
    held_s: float = 0.0
    by_itself: bool = False  # cleared with none of its steps worked (since it was queued) and not dismissed


@kind("hold_breached")
@dataclass(frozen=True, kw_only=True)
class HoldBreached(Record):
    condition: str
    detail: str = ""
    step: str = ""  # the step the operator was at
    procedure: str = ""  # the procedure whose `holds` it is ("": the checklist's)
    observation: Mapping[str, Any] | None = None


@kind("hold_restored")
@dataclass(frozen=True, kw_only=True)
class HoldRestored(Record):
    condition: str
    detail: str = ""
    step: str = ""
    procedure: str = ""


# The records after which the run's outcome may have changed (the replay judges it again).
DECIDING: tuple[type[Record], ...] = (StepStateRecord, ConditionLapsed, ConditionRestored, LapseSuperseded,
                                      LapseAcknowledged, Chosen, ProcedureQueued, ProcedureWorked, ProcedureDismissed)
ENDING: tuple[type[Record], ...] = (RunFinished, RunAbandoned)  # a run that has one is not resumed
