"""The run's non-normal procedures: triggers judged on each observation, the queue, the operator's
opening and dismissing, a procedure worked to its end, and the continuously applicable conditions
(`holds`) of the checklist and of each open procedure. Every change is journaled (records.py) and
posted (ProcedureChanged, HoldChanged); the status of each procedure is the replay's own reading
of those records (replay.procedure_record), so the console and every reader of the journal agree.

A part of the run engine (engine/run.py): RunEngine holds one as `engine.procedures`. A
procedure's steps are run, skipped and confirmed through the engine's ordinary calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from runbook_tui.checklist.model import Checklist, Procedure, Step, substitute
from runbook_tui.engine import records as rec
from runbook_tui.engine.events import (
    PASSED,
    EngineRefusal,
    HoldChanged,
    ProcedureChanged,
    ProcedureStatus,
    StepState,
    StepStatus,
)
from runbook_tui.engine.replay import procedure_record
from runbook_tui.observe.model import RoomObservation
from runbook_tui.observe.summary import summary
from runbook_tui.rules.conditions import evaluate_many
from runbook_tui.rules.triggers import CLEARED, FIRED, Episode, TriggerSpec, advance

if TYPE_CHECKING:
    from runbook_tui.engine.replay import RunState
    from runbook_tui.engine.run import RunEngine


def spec_of(procedure: Procedure) -> TriggerSpec:
    return TriggerSpec(procedure.id, procedure.trigger.when, procedure.trigger.holds_for_s)


def venue_specs(checklist: Checklist) -> tuple[TriggerSpec, ...]:
    """Every procedure's trigger, for a room with no run open: such a room is at rest, so the
    triggers a run arms by its own progress (`after`, `quiet_between`) are all armed there."""
    return tuple(spec_of(p) for p in checklist.procedures)


def armed(procedure: Procedure, statuses: Mapping[str, StepStatus], applies: Callable[[str], bool]) -> bool:
    """Whether a procedure's trigger is judged now in a run whose steps stand so: after its `after`
    step passed, and not between its `quiet_between` steps (from the first one's start to the
    second one's passing: the window in which the run's own steps make the condition hold). A `to`
    step that does not apply with the run's choices is never reached: the window stays open."""
    def state(step_id: str) -> StepState:
        return statuses.get(step_id, StepStatus()).state

    trigger = procedure.trigger
    if trigger.after is not None and state(trigger.after) not in PASSED:
        return False
    if trigger.quiet_between is not None:
        start, end = trigger.quiet_between
        # The window opens when its first step starts: shutting the primary down takes its broker
        # away while its core still runs, for as long as the core takes to stop.
        if (state(start) in PASSED or state(start) is StepState.RUNNING) and not (applies(end) and state(end) in PASSED):
            return False
    return True


class Procedures:
    def __init__(self, engine: RunEngine) -> None:
        self.engine = engine
        self.by_id: dict[str, ProcedureStatus] = {}
        self.episodes: dict[str, Episode] = {}
        self.breached: set[tuple[str, str]] = set()  # (procedure or "", condition)

    # ---- what the UI reads --------------------------------------------------------------
    def queued(self) -> tuple[ProcedureStatus, ...]:
        """Every procedure queued in this run (its newest episode), in the order queued."""
        with self.engine.lock:
            return tuple(sorted(self.by_id.values(), key=lambda p: p.queued_at))

    def open_ones(self) -> tuple[ProcedureStatus, ...]:
        return tuple(p for p in self.queued() if p.open)

    def status(self, procedure_id: str) -> ProcedureStatus | None:
        return self.by_id.get(procedure_id)

    def steps(self, procedure_id: str) -> tuple[Step, ...]:
        return self.engine.checklist.procedure(procedure_id).steps

    # ---- the operator's calls ------------------------------------------------------------
    def open(self, procedure_id: str) -> None:
        """The operator opened the procedure (journaled once an episode)."""
        e = self.engine
        with e.lock:
            status = self._queued(procedure_id)
            if status.opened_at is None:
                self._write(rec.ProcedureOpened(procedure=procedure_id, operator=e.config.operator), "opened")

    def dismiss(self, procedure_id: str, reason: str) -> None:
        """Set an open procedure aside, saying why: the run may end complete without it."""
        e = self.engine
        if not reason.strip():
            raise EngineRefusal("dismissing a procedure needs a reason (why it is not worked)")
        with e.lock:
            status = self._queued(procedure_id)
            if not status.open:
                raise EngineRefusal(f"{procedure_id} is already {'worked' if status.worked_at else 'dismissed'}")
            self._write(rec.ProcedureDismissed(procedure=procedure_id, reason=reason, operator=e.config.operator),
                        "dismissed")

    def queue(self, procedure_id: str, detail: str, source: str = "venue") -> ProcedureStatus:
        """Queue a procedure by hand (the venue raised it for a room that had no run open)."""
        with self.engine.lock:
            procedure = self.engine.checklist.procedure(procedure_id)
            status = self._queue(procedure, detail, 0.0, source, None)
            # Raised at the venue, its condition holding: that is this episode's firing. The run's
            # own trigger, seeing it hold, must not queue it a second time; it says when it clears.
            self.episodes[procedure_id] = Episode(procedure_id, status.queued_at, status.queued_at, detail)
            return status

    # ---- the engine's calls --------------------------------------------------------------
    def take(self, run: RunState) -> None:
        """A resumed run's procedures as its journal tells them (nothing is journaled). An episode
        fired and not cleared when the tool stopped is still on: it clears, journaled, or goes on."""
        self.by_id = dict(run.procedures)
        self.breached = set(run.holds_breached)
        self.episodes = {p.id: Episode(p.id, p.queued_at, p.queued_at, p.detail) for p in run.procedures.values()
                         if p.cleared_at is None}

    def check_runnable(self, step: Step) -> None:
        """A procedure's step runs once the procedure is queued (running it opens it)."""
        if step.procedure is None:
            return
        self._queued(step.procedure)
        self.open(step.procedure)

    def step_changed(self, step: Step) -> None:
        """After a procedure step's new state: the procedure is worked once all its steps passed."""
        e = self.engine
        status = self.by_id.get(step.procedure or "")
        if status is None or not status.open:
            return
        procedure = e.checklist.procedure(status.id)
        states = {s.id: e.statuses[s.id].state for s in procedure.steps}
        if all(states[s.id] in PASSED or (s.optional and states[s.id] is StepState.PENDING) for s in procedure.steps):
            self._write(rec.ProcedureWorked(procedure=status.id, steps={k: v.value for k, v in states.items()}), "worked")

    def observe(self, obs: RoomObservation) -> list[str]:
        """Triggers and continuously applicable conditions judged on one observation (the engine's
        reconcile tick, under its lock). Returns notes."""
        e = self.engine
        procedures = e.checklist.procedures
        if not procedures and not e.checklist.holds:
            return []
        # An episode that fired before its trigger was disarmed (the run's own window began) is still
        # judged, for its clearing only: the procedure was queued, and its record must say when the
        # condition ended, the run's own steps ending it included. It cannot fire again meanwhile.
        specs = [spec_of(p) for p in procedures if armed(p, e.statuses, lambda s: e.checklist.step(s).applies(e.choices))
                 or ((episode := self.episodes.get(p.id)) is not None and episode.fired_at is not None)]
        self.episodes, changes = advance(specs, obs, self.episodes)
        notes = []
        for change in changes:
            procedure = e.checklist.procedure(change.procedure)
            if change.what == FIRED:
                self._queue(procedure, change.detail, change.held_s, "trigger", obs)
                notes.append(f"procedure queued: {procedure.title}: {change.detail}")
            elif change.what == CLEARED and (status := self.by_id.get(procedure.id)) is not None:
                self._write(rec.ProcedureCleared(procedure=procedure.id, condition=procedure.trigger.when,
                                                 detail=e.masker.mask(change.detail), held_s=round(change.held_s, 1),
                                                 by_itself=self._untouched(procedure, status)), "cleared")
                notes.append(f"procedure's condition cleared: {procedure.title}")
        return notes + self._observe_holds(obs)

    # ---- inside ------------------------------------------------------------------------------
    def _queued(self, procedure_id: str) -> ProcedureStatus:
        status = self.by_id.get(procedure_id)
        if status is None:
            title = substitute(self.engine.checklist.procedure(procedure_id).title, self.engine.values)
            raise EngineRefusal(f"{title}: not queued (its condition has not held in this run)")
        return status

    def _queue(self, procedure: Procedure, detail: str, held_s: float, source: str,
               obs: RoomObservation | None) -> ProcedureStatus:
        e = self.engine
        before = self.by_id.get(procedure.id)
        again = before is not None and not before.open
        status = self._write(rec.ProcedureQueued(
            procedure=procedure.id, title=substitute(procedure.title, e.values), condition=procedure.trigger.when,
            detail=e.masker.mask(detail), held_s=round(held_s, 1), episode=(before.episode + 1) if before else 1,
            source=source, observation=summary(obs) if obs is not None else None), "queued")
        if again:
            # Worked or dismissed before, and the room fell into it again: its steps are to be
            # worked anew. After the new episode's record, so that the report files these resets
            # under it (seen on a site walk: under the episode before).
            now = time.time()
            for step in procedure.steps:
                if e.statuses[step.id].state is not StepState.PENDING:
                    e.set_status(step.id, StepStatus(StepState.PENDING, "queued again", (), now, None))
        return status

    def _write(self, record: rec.Record, what: str) -> ProcedureStatus:
        written = self.engine.journal.write(record)
        status = procedure_record(self.by_id, written)
        if status is None:  # every record written here is of a queued procedure
            raise AssertionError(f"{record.KIND} of a procedure never queued")
        self.engine.emit(ProcedureChanged(status.id, what, status))
        return status

    def _untouched(self, procedure: Procedure, status: ProcedureStatus) -> bool:
        """Neither dismissed nor any of its steps passed since it was queued, nor one running: what
        ended the condition was not this procedure. A wait of its own running is the operator at
        work: the fix it waits for (a resolver's record corrected) is typed elsewhere, and ends the
        condition before the wait's next look passes it."""
        e = self.engine
        statuses = e.statuses
        worked = any(statuses[s.id].state in PASSED and (statuses[s.id].finished or 0.0) >= status.queued_at
                     for s in procedure.steps)
        running = any(s.id == e.running_step for s in procedure.steps)
        return status.dismissed_at is None and not worked and not running

    def _at(self, procedure: Procedure | None) -> str | None:
        """The step the operator is at: the running step, else the first applicable step not passed
        (of the procedure, for its own conditions)."""
        e = self.engine
        if e.running_step is not None:
            return e.running_step
        steps = procedure.steps if procedure is not None else tuple(e.applicable_steps())
        return next((s.id for s in steps if e.statuses[s.id].state not in PASSED), None)

    def _observe_holds(self, obs: RoomObservation) -> list[str]:
        e = self.engine
        judged: list[tuple[Procedure | None, str]] = [(None, c) for c in e.checklist.holds]
        judged += [(p, c) for p in e.checklist.procedures if (s := self.by_id.get(p.id)) is not None and s.open
                   for c in p.holds]
        notes = []
        verdicts = evaluate_many({condition for _p, condition in judged}, obs)
        for procedure, condition in judged:
            verdict = verdicts[condition]
            key = (procedure.id if procedure else "", condition)
            if not verdict.seen or verdict.holds == (key not in self.breached):
                continue
            step = self._at(procedure)
            detail = e.masker.mask(verdict.detail)
            if verdict.holds:
                self.breached.discard(key)
                e.journal.write(rec.HoldRestored(condition=condition, detail=detail, step=step or "", procedure=key[0]))
            else:
                self.breached.add(key)
                e.journal.write(rec.HoldBreached(condition=condition, detail=detail, step=step or "", procedure=key[0],
                                                 observation=summary(obs)))
                notes.append(f"no longer holds throughout: {condition}: {detail}")
            e.emit(HoldChanged(condition, not verdict.holds, detail, step, key[0] or None))
        return notes
