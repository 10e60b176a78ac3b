"""A run's state, replayed from its journal: one pure function, records in, state out.

The console after a resume, the floor view, the report and every other reader of a run take
its state from here, so that no two of them can tell the run's story differently: the steps'
states (with reasons, evidence and times), the evidence that no longer holds (and which of it
was acknowledged), the alarms (raised, cleared, acknowledged), the choices, the variables, the
room's confirmations, and the outcome by the one rule (rules.outcome.run_outcome), with when it
was last decided. No I/O: the caller reads the journal (engine/journal.py, read_run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbook_tui.checklist.kinds import StepType
from runbook_tui.engine import records as rec
from runbook_tui.engine.events import PASSED, Lapse, ProcedureStatus, StepState, StepStatus
from runbook_tui.rules.outcome import AlarmSpan, Outcome, close_span, run_outcome
from runbook_tui.rules.room import Alarm

if TYPE_CHECKING:
    from runbook_tui.checklist.model import Checklist

# The step types that change the room (a command, an .env edit, a dispatch): the outcome's rule
# says a run that passed none of them by its own action did nothing.
ACTING_TYPES = frozenset({StepType.COMMAND, StepType.ENV_EDIT, StepType.DISPATCH_SMOKE})


@dataclass(frozen=True)
class PlannedStep:
    """A step of the run's checklist as the outcome needs it (run_started lists them)."""

    id: str
    title: str
    optional: bool = False
    confirm_at_room: bool = False
    section: str | None = None
    when: tuple[tuple[str, tuple[str, ...]], ...] = ()
    acting: bool = False  # it changes the room (a command, an .env edit, a dispatch)
    supersedes: tuple[str, ...] = ()

    def applies(self, choices: Mapping[str, str]) -> bool:
        return all(choices.get(choice) in allowed for choice, allowed in self.when)


@dataclass(frozen=True)
class RoomConfirmation:
    """The person at the room confirmed a step (from the floor view), by name."""

    id: str
    step: str
    name: str
    at: float


@dataclass(frozen=True)
class AlarmAcknowledgement:
    at: float
    alarms: tuple[str, ...]
    reason: str
    operator: str


@dataclass(frozen=True)
class DispatchSeen:
    """The newest smoke test's verdict."""

    at: float
    verdict: str
    reason: str = ""
    ack_ms: float | None = None
    complete_ms: float | None = None


@dataclass(frozen=True)
class Declared:
    """A run_finished record: the console declared the run finished, with these words."""

    at: float
    verdict: str
    said: str
    superseded: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunState:
    started: rec.RunStarted
    plan: tuple[PlannedStep, ...]
    choices: Mapping[str, str]
    values: Mapping[str, str]
    statuses: Mapping[str, StepStatus]  # every step with a step_state record, by its last one
    lapses: Mapping[str, Lapse]
    alarm_spans: tuple[AlarmSpan, ...]
    active_alarms: tuple[Alarm, ...]  # raised and not cleared when the journal ends
    alarms_unacknowledged: tuple[str, ...]  # raised since the operator last acknowledged
    acknowledgements: tuple[AlarmAcknowledgement, ...]
    room_confirmations: Mapping[str, RoomConfirmation]  # by step: the one the console took
    room_confirmation_ids: frozenset[str]
    last_dispatch: DispatchSeen | None
    outcome: Outcome
    declared: Declared | None  # the last run_finished record
    finished_at: float | None  # when the run last became finished, if it was declared and still is
    abandoned: tuple[float, str] | None
    last_record_at: float
    # Non-normal procedures queued in the run, by id (the newest episode of each), and the
    # continuously applicable conditions breached when the journal ends: (procedure or "", condition).
    procedures: Mapping[str, ProcedureStatus] = field(default_factory=dict)
    holds_breached: frozenset[tuple[str, str]] = frozenset()

    @property
    def room(self) -> str:
        return self.started.room

    @property
    def started_at(self) -> float:
        return self.started.ts

    @property
    def ended(self) -> bool:
        """The run was declared finished, or abandoned (no console resumes it)."""
        return self.declared is not None or self.abandoned is not None

    def applicable(self) -> list[PlannedStep]:
        return [s for s in self.plan if s.applies(self.choices)]

    def status(self, step_id: str) -> StepStatus:
        return self.statuses.get(step_id, StepStatus())

    def superseded(self) -> dict[str, str]:
        """Earlier step id -> the done step that undid its evidence on purpose (the engine's rule)."""
        return superseded(self.plan, self.choices, self.statuses)


# ---- the plan ---------------------------------------------------------------------------------


def plan_from_checklist(checklist: Checklist, values: Mapping[str, str] | None = None) -> tuple[PlannedStep, ...]:
    """The plan as the checklist says it (what the console has; titles filled in when values are given)."""
    from runbook_tui.checklist.model import substitute

    return tuple(PlannedStep(s.id, substitute(s.title, dict(values)) if values is not None else s.title, s.optional,
                             s.confirm_at_room, s.section_id, s.when, s.type in ACTING_TYPES, s.supersedes)
                 for s in checklist.steps())


def plan_from_record(started: rec.RunStarted) -> tuple[PlannedStep, ...] | None:
    """The plan as run_started lists it, when it says everything the outcome needs (which steps
    act on the room, which supersede others); None when it does not (the checklist is needed)."""
    steps = started.steps
    if not steps or any("acting" not in s or "supersedes" not in s for s in steps):
        return None
    return tuple(_planned(s, bool(s["acting"]), tuple(s["supersedes"])) for s in steps)


def plan_partial(started: rec.RunStarted, records: Sequence[Mapping[str, Any]]) -> tuple[PlannedStep, ...]:
    """The plan from run_started alone, for a journal whose checklist cannot be read any more:
    which steps act is not known (so the run is never said to have done nothing), and what was
    superseded is what the last run_finished said."""
    declared = rec.last(records, rec.RunFinished)
    by: dict[str, list[str]] = {}
    for earlier, later in (declared.superseded if declared is not None else {}).items():
        by.setdefault(later, []).append(earlier)
    return tuple(_planned(s, False, tuple(by.get(s["id"], ()))) for s in started.steps or ())


def _planned(s: Mapping[str, Any], acting: bool, supersedes: tuple[str, ...]) -> PlannedStep:
    return PlannedStep(s["id"], s.get("title", ""), bool(s.get("optional")), bool(s.get("confirm_at_room")), s.get("section"),
                       tuple((c, tuple(opts)) for c, opts in (s.get("when") or {}).items()), acting, supersedes)


# ---- the replay -------------------------------------------------------------------------------

def started_of(records: Sequence[Mapping[str, Any]]) -> rec.RunStarted:
    """The run_started record of a journal's lines (ValueError: not a run's journal)."""
    started = rec.first(records, rec.RunStarted)
    if started is None:
        raise ValueError("no run_started record: not a run journal")
    return started


def replay(records: Sequence[Mapping[str, Any]], plan: Sequence[PlannedStep] | None = None) -> RunState:
    """The run's state after `records` (a journal's lines, in order). `plan`: the run's steps (the
    checklist's, plan_from_checklist); None: as run_started lists them. Raises ValueError for
    records that are not a run's journal. Lines of a kind not known are passed over."""
    started = started_of(records)
    if plan is None:
        plan = plan_from_record(started) or plan_partial(started, records)
    plan = tuple(plan)
    choices: dict[str, str] = dict(started.choices or {})
    values: dict[str, str] = dict(started.variables or {})
    statuses: dict[str, StepStatus] = {}
    lapses: dict[str, Lapse] = {}
    spans: list[AlarmSpan] = []
    raised_reason: dict[str, str] = {}
    raised_source: dict[str, str] = {}
    unacknowledged: list[str] = []
    acks: list[AlarmAcknowledgement] = []
    confirmations: dict[str, RoomConfirmation] = {}
    confirmation_ids: set[str] = set()
    dispatch: DispatchSeen | None = None
    declared: Declared | None = None
    abandoned: tuple[float, str] | None = None
    was_finished, became_finished_at = False, None
    procedures: dict[str, ProcedureStatus] = {}
    breached: set[tuple[str, str]] = set()
    for r in rec.read_all(records):
        if isinstance(r, PROCEDURE_RECORDS):
            procedure_record(procedures, r)
        elif isinstance(r, rec.HoldBreached):
            breached.add((r.procedure, r.condition))
        elif isinstance(r, rec.HoldRestored):
            breached.discard((r.procedure, r.condition))
        elif isinstance(r, rec.Chosen):
            choices[r.choice] = r.option
        elif isinstance(r, rec.VariableSet):
            values[r.name] = r.value
        elif isinstance(r, rec.StepStateRecord):
            statuses[r.step] = StepStatus(StepState(r.state), r.reason, tuple(r.evidence or ()), r.started, r.finished)
            if r.state != StepState.RUNNING.value:
                lapses.pop(r.step, None)  # decided anew: what lapsed before is history
        elif isinstance(r, rec.ConditionLapsed):
            lapses[r.step] = Lapse(r.condition, r.ts, r.detail)
        elif isinstance(r, (rec.ConditionRestored, rec.LapseSuperseded)):
            lapses.pop(r.step, None)
        elif isinstance(r, rec.LapseAcknowledged) and r.step in lapses:
            lapses[r.step] = dataclasses.replace(lapses[r.step], acknowledged=r.reason)
        elif isinstance(r, rec.RoomConfirmed):
            confirmation_ids.add(r.id)
            confirmations[r.step] = RoomConfirmation(r.id, r.step, r.name, r.at if r.at is not None else r.ts)
        elif isinstance(r, rec.AlarmRaised):
            spans.append(AlarmSpan(r.alarm, r.ts, None))
            raised_reason[r.alarm] = r.reason
            raised_source[r.alarm] = r.source  # what raised it decides what may end it
            unacknowledged.append(r.alarm)
        elif isinstance(r, rec.AlarmCleared):
            close_span(spans, r.alarm, r.ts)
        elif isinstance(r, rec.AlarmAcknowledged):
            acks.append(AlarmAcknowledgement(r.ts, tuple(r.alarms or ()), r.reason, r.operator))
            unacknowledged.clear()
        elif isinstance(r, rec.DispatchOutcome):
            dispatch = DispatchSeen(r.ts, r.verdict, r.reason, r.ack_ms, r.complete_ms)
        elif isinstance(r, rec.RunFinished):
            declared = Declared(r.ts, r.outcome, r.said or r.outcome, dict(r.superseded or {}))
        elif isinstance(r, rec.RunAbandoned):
            abandoned = (r.ts, r.reason)
        if declared is not None and isinstance(r, (*rec.DECIDING, rec.RunFinished)):
            # Judged again only once a finish was declared: before it, when it became finished is
            # the declaration's own time (finished_at below takes the later of the two).
            now_finished = outcome_of(plan, choices, statuses, lapses, (), procedures).finished
            if now_finished and not was_finished:
                became_finished_at = r.ts
            was_finished = now_finished
    outcome = outcome_of(plan, choices, statuses, lapses, tuple(spans), procedures)
    finished_at = None
    if declared is not None and outcome.finished:
        finished_at = max(declared.at, became_finished_at or declared.at)
    # An alarm still raised when the journal ends is raised still: what would show it ended has
    # not been seen since (a resumed console clears it, journaled, or keeps it).
    active = tuple(Alarm(s.kind, raised_reason.get(s.kind, ""), True, raised_source.get(s.kind, "")) for s in spans
                   if s.ended is None)
    return RunState(started, plan, choices, values, statuses, lapses, tuple(spans), active, tuple(unacknowledged),
                    tuple(acks), confirmations, frozenset(confirmation_ids), dispatch, outcome, declared, finished_at,
                    abandoned, records[-1].get("ts", started.ts) if records else started.ts, procedures,
                    frozenset(breached))


PROCEDURE_RECORDS: tuple[type[rec.Record], ...] = (rec.ProcedureQueued, rec.ProcedureOpened, rec.ProcedureWorked,
                                                   rec.ProcedureDismissed, rec.ProcedureCleared)


def procedure_record(procedures: dict[str, ProcedureStatus], r: rec.Record) -> ProcedureStatus | None:
    """A procedure's status after one of its records (the engine applies its own records with
    this too, so the console and every replay agree). Returns the new status (None: a record of
    a procedure never queued, passed over)."""
    if isinstance(r, rec.ProcedureQueued):
        # A new episode: what was done about the last one is history.
        status = ProcedureStatus(r.procedure, r.title, r.condition, r.detail, r.ts, r.episode, r.source)
    elif (before := procedures.get(getattr(r, "procedure", ""))) is None:
        return None
    elif isinstance(r, rec.ProcedureOpened):
        status = dataclasses.replace(before, opened_at=before.opened_at or r.ts)
    elif isinstance(r, rec.ProcedureWorked):
        status = dataclasses.replace(before, worked_at=r.ts)
    elif isinstance(r, rec.ProcedureDismissed):
        status = dataclasses.replace(before, dismissed_at=r.ts, dismissed_reason=r.reason)
    elif isinstance(r, rec.ProcedureCleared):
        status = dataclasses.replace(before, cleared_at=r.ts, cleared_by_itself=r.by_itself)
    else:
        return None
    procedures[status.id] = status
    return status


# ---- the rules every reader of a run's state applies (the console's engine too) ----------------

def superseded(plan: Iterable[PlannedStep], choices: Mapping[str, str],
               statuses: Mapping[str, StepStatus]) -> dict[str, str]:
    """Earlier step id -> the done step that undid its evidence on purpose (checklist `supersedes`)."""
    passed = (StepState.DONE, StepState.OVERRIDDEN)
    return {earlier: s.id for s in plan if s.applies(choices) and statuses.get(s.id, StepStatus()).state in passed
            for earlier in s.supersedes}


def outcome_of(plan: Sequence[PlannedStep], choices: Mapping[str, str], statuses: Mapping[str, StepStatus],
               lapses: Mapping[str, Lapse], alarms: tuple[AlarmSpan, ...],
               procedures: Mapping[str, ProcedureStatus] | None = None) -> Outcome:
    """The run's outcome by the one rule (rules.outcome.run_outcome), from its state."""
    applicable = [s for s in plan if s.applies(choices)]
    return run_outcome([(s.id, s.optional) for s in applicable], {k: v.state.value for k, v in statuses.items()},
                       {k for k, v in lapses.items() if not v.acknowledged}, alarms,
                       frozenset(s.id for s in applicable if s.acting), frozenset(superseded(plan, choices, statuses)),
                       tuple(p.id for p in (procedures or {}).values() if p.open))


def steps_before(plan: Iterable[PlannedStep], choices: Mapping[str, str], step_id: str,
                 same_section: bool = False) -> list[PlannedStep]:
    """The applicable steps before `step_id`, in order (only those of its section, if asked)."""
    applicable = [s for s in plan if s.applies(choices)]
    section = next((s.section for s in applicable if s.id == step_id), None)
    before = []
    for s in applicable:
        if s.id == step_id:
            break
        if not same_section or s.section == section:
            before.append(s)
    return before


def lapsed(step_id: str, statuses: Mapping[str, StepStatus], lapses: Mapping[str, Lapse]) -> bool:
    """Done once, and its evidence no longer holds (acknowledged or not)."""
    return step_id in lapses and statuses.get(step_id, StepStatus()).state is StepState.DONE


def open_before(plan: Iterable[PlannedStep], choices: Mapping[str, str], statuses: Mapping[str, StepStatus],
                lapses: Mapping[str, Lapse], step_id: str, same_section: bool = False) -> tuple[str, ...]:
    """The runbook's order is part of its safety (the room is made safe before the primary stops):
    the required steps before `step_id` not passed (nor deferred), and the steps before it done
    whose evidence no longer holds (as open as a step never run; seen: the smoke test ran while
    the DNS name pointed back at the stopped primary), by title."""
    earlier = []
    for s in steps_before(plan, choices, step_id, same_section):
        state = statuses.get(s.id, StepStatus()).state
        if lapsed(s.id, statuses, lapses):
            earlier.append(f"{s.title} (no longer holds)")
        elif not s.optional and state not in PASSED and state is not StepState.DEFERRED:
            earlier.append(s.title)
    return tuple(earlier)


# ---- what the room may still be told about its own confirmation ---------------------------------

def not_taken(state: RunState, confirmation_id: str, step_id: str) -> str:
    """Why a confirmation sent from the room can no longer be taken by the console, as the
    console says it (RunEngine.receive_room_confirmation), or "" (taken, or still waiting)."""
    if confirmation_id in state.room_confirmation_ids:
        return ""
    first = state.room_confirmations.get(step_id)
    status = state.status(step_id)
    if status.state in (StepState.DONE, StepState.SKIPPED, StepState.OVERRIDDEN):
        return f"{step_id} is already {status.state.value}"
    if first is not None:
        return f"{step_id} is already confirmed at the room by {first.name}"
    return ""


def earlier_open(state: RunState, step_id: str, same_section: bool = False) -> tuple[str, ...]:
    """open_before, of a replayed run."""
    return open_before(state.plan, state.choices, state.statuses, state.lapses, step_id, same_section)


def outcome_words(outcome: Outcome, numbers: Mapping[str, int] | None = None) -> str:
    """The outcome as the console's header says it: "incomplete · 1 no longer holds", "complete
    · 2 steps without evidence (5, 9)" (steps by their number, when `numbers` gives them)."""
    said = outcome.verdict
    if outcome.lapsed:
        said += f" · {len(outcome.lapsed)} no longer hold{'s' if len(outcome.lapsed) == 1 else ''}"
    if outcome.without_evidence:  # never "complete" alone when steps were passed without their evidence
        steps = ", ".join(str((numbers or {}).get(s, s)) for s in outcome.without_evidence)
        n = len(outcome.without_evidence)
        said += f" · {n} step{'s' if n != 1 else ''} without evidence ({steps})"
    if outcome.procedures_open:
        n = len(outcome.procedures_open)
        said += f" · {n} procedure{'s' if n != 1 else ''} open"
    if outcome.verdict != "incomplete" and outcome.optional_open:
        said += f" · {len(outcome.optional_open)} optional open"  # "complete" alone would read as finished
    return said
