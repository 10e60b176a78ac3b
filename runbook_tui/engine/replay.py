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
from typing import TYPE_CHECKING

from runbook_tui.engine.events import PASSED, Lapse, StepState, StepStatus
from runbook_tui.rules.outcome import AlarmSpan, Outcome, close_span, run_outcome
from runbook_tui.rules.room import Alarm

if TYPE_CHECKING:
    from runbook_tui.checklist.model import Checklist

# The records that can change the outcome: the outcome is judged again after each of them, to
# know when the run last became finished.
_DECIDING = frozenset({"step_state", "condition_lapsed", "condition_restored", "lapse_superseded", "lapse_acknowledged",
                       "choice"})


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
    started: Mapping  # the run_started record
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

    @property
    def room(self) -> str:
        return self.started["room"]

    @property
    def started_at(self) -> float:
        return self.started["ts"]

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
        return _superseded(self.plan, self.choices, self.statuses)


# ---- the plan ---------------------------------------------------------------------------------

ACTING = frozenset({"command", "env_edit", "dispatch_smoke"})  # the step types that change the room (run.ACTING_TYPES)


def plan_from_checklist(checklist: Checklist, values: Mapping[str, str] | None = None) -> tuple[PlannedStep, ...]:
    """The plan as the checklist says it (what the console has; titles filled in when values are given)."""
    from runbook_tui.checklist.model import substitute

    return tuple(PlannedStep(s.id, substitute(s.title, dict(values)) if values is not None else s.title, s.optional,
                             s.confirm_at_room, s.section_id, s.when, s.type.value in ACTING, s.supersedes)
                 for s in checklist.steps())


def plan_from_record(started: Mapping) -> tuple[PlannedStep, ...] | None:
    """The plan as run_started lists it, when it says everything the outcome needs (which steps
    act on the room, which supersede others); None when it does not (the checklist is needed)."""
    steps = started.get("steps")
    if not steps or any("acting" not in s or "supersedes" not in s for s in steps):
        return None
    return tuple(_planned(s, bool(s["acting"]), tuple(s["supersedes"])) for s in steps)


def plan_partial(started: Mapping, records: Sequence[Mapping]) -> tuple[PlannedStep, ...]:
    """The plan from run_started alone, for a journal whose checklist cannot be read any more:
    which steps act is not known (so the run is never said to have done nothing), and what was
    superseded is what the last run_finished said."""
    declared = next((r for r in reversed(records) if r.get("kind") == "run_finished"), None) or {}
    by: dict[str, list[str]] = {}
    for earlier, later in (declared.get("superseded") or {}).items():
        by.setdefault(later, []).append(earlier)
    return tuple(_planned(s, False, tuple(by.get(s["id"], ()))) for s in started.get("steps") or ())


def _planned(s: Mapping, acting: bool, supersedes: tuple[str, ...]) -> PlannedStep:
    return PlannedStep(s["id"], s.get("title", ""), bool(s.get("optional")), bool(s.get("confirm_at_room")), s.get("section"),
                       tuple((c, tuple(opts)) for c, opts in (s.get("when") or {}).items()), acting, supersedes)


# ---- the replay -------------------------------------------------------------------------------

def replay(records: Sequence[Mapping], plan: Sequence[PlannedStep] | None = None) -> RunState:
    """The run's state after `records` (a journal's, in order). `plan`: the run's steps (the
    checklist's, plan_from_checklist); None: as run_started lists them. Raises ValueError for
    records that are not a run's journal."""
    started = next((r for r in records if r.get("kind") == "run_started"), None)
    if started is None:
        raise ValueError("no run_started record: not a run journal")
    if plan is None:
        plan = plan_from_record(started) or plan_partial(started, records)
    plan = tuple(plan)
    choices: dict[str, str] = dict(started.get("choices") or {})
    values: dict[str, str] = dict(started.get("variables") or {})
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
    for r in records:
        kind = r.get("kind")
        if kind == "choice":
            choices[r["choice"]] = r["option"]
        elif kind == "variable":
            values[r["name"]] = r["value"]
        elif kind == "step_state":
            statuses[r["step"]] = StepStatus(StepState(r["state"]), r.get("reason", ""), tuple(r.get("evidence") or ()),
                                             r.get("started"), r.get("finished"))
            if r["state"] != StepState.RUNNING.value:
                lapses.pop(r["step"], None)  # decided anew: what lapsed before is history
        elif kind == "condition_lapsed":
            lapses[r["step"]] = Lapse(r["condition"], r["ts"], r.get("detail", ""))
        elif kind in ("condition_restored", "lapse_superseded"):
            lapses.pop(r["step"], None)
        elif kind == "lapse_acknowledged" and r["step"] in lapses:
            lapses[r["step"]] = dataclasses.replace(lapses[r["step"]], acknowledged=r.get("reason", ""))
        elif kind == "room_confirmation":
            confirmation_ids.add(r["id"])
            confirmations[r["step"]] = RoomConfirmation(r["id"], r["step"], r["name"], r.get("at", r["ts"]))
        elif kind == "alarm_raised":
            spans.append(AlarmSpan(r["alarm"], r["ts"], None))
            raised_reason[r["alarm"]] = r.get("reason", "")
            raised_source[r["alarm"]] = r.get("source", "")  # what raised it decides what may end it
            unacknowledged.append(r["alarm"])
        elif kind == "alarm_cleared":
            close_span(spans, r["alarm"], r["ts"])
        elif kind == "alarm_acknowledged":
            acks.append(AlarmAcknowledgement(r["ts"], tuple(r.get("alarms") or ()), r.get("reason", ""), r.get("operator", "")))
            unacknowledged.clear()
        elif kind == "dispatch_outcome":
            dispatch = DispatchSeen(r["ts"], r.get("verdict", "?"), r.get("reason", ""), r.get("ack_ms"), r.get("complete_ms"))
        elif kind == "run_finished":
            declared = Declared(r["ts"], r.get("outcome", ""), r.get("said") or r.get("outcome", ""),
                                dict(r.get("superseded") or {}))
        elif kind == "run_abandoned":
            abandoned = (r["ts"], r.get("reason", ""))
        if declared is not None and (kind in _DECIDING or kind == "run_finished"):
            # Judged again only once a finish was declared: before it, when it became finished is
            # the declaration's own time (finished_at below takes the later of the two).
            now_finished = _outcome(plan, choices, statuses, lapses, ()).finished
            if now_finished and not was_finished:
                became_finished_at = r["ts"]
            was_finished = now_finished
    outcome = _outcome(plan, choices, statuses, lapses, tuple(spans))
    finished_at = None
    if declared is not None and outcome.finished:
        finished_at = max(declared.at, became_finished_at or declared.at)
    # An alarm still raised when the journal ends is raised still: what would show it ended has
    # not been seen since (a resumed console clears it, journaled, or keeps it).
    active = tuple(Alarm(s.kind, raised_reason.get(s.kind, ""), True, raised_source.get(s.kind, "")) for s in spans
                   if s.ended is None)
    return RunState(started, plan, choices, values, statuses, lapses, tuple(spans), active, tuple(unacknowledged),
                    tuple(acks), confirmations, frozenset(confirmation_ids), dispatch, outcome, declared, finished_at,
                    abandoned, records[-1].get("ts", started["ts"]) if records else started["ts"])


def _superseded(plan: Iterable[PlannedStep], choices: Mapping[str, str],
                statuses: Mapping[str, StepStatus]) -> dict[str, str]:
    passed = (StepState.DONE, StepState.OVERRIDDEN)
    return {earlier: s.id for s in plan if s.applies(choices) and statuses.get(s.id, StepStatus()).state in passed
            for earlier in s.supersedes}


def _outcome(plan: Sequence[PlannedStep], choices: Mapping[str, str], statuses: Mapping[str, StepStatus],
             lapses: Mapping[str, Lapse], alarms: tuple[AlarmSpan, ...]) -> Outcome:
    applicable = [s for s in plan if s.applies(choices)]
    return run_outcome([(s.id, s.optional) for s in applicable], {k: v.state.value for k, v in statuses.items()},
                       {k for k, v in lapses.items() if not v.acknowledged}, alarms,
                       frozenset(s.id for s in applicable if s.acting), frozenset(_superseded(plan, choices, statuses)))


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
    """The required steps before `step_id` not passed (nor deferred), and the steps before it
    done whose evidence no longer holds: the engine's rule (RunEngine._earlier_open), by title."""
    applicable = state.applicable()
    section = next((s.section for s in applicable if s.id == step_id), None)
    earlier = []
    for s in applicable:
        if s.id == step_id:
            break
        if same_section and s.section != section:
            continue
        status = state.status(s.id).state
        if s.id in state.lapses and status is StepState.DONE:
            earlier.append(f"{s.title} (no longer holds)")
        elif not s.optional and status not in PASSED and status is not StepState.DEFERRED:
            earlier.append(s.title)
    return tuple(earlier)


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
    if outcome.verdict != "incomplete" and outcome.optional_open:
        said += f" · {len(outcome.optional_open)} optional open"  # "complete" alone would read as finished
    return said
