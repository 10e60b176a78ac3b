"""The run brought in line with the live room: closed-loop steps ticked on evidence, evidence that
stops holding (and holds again), alarms raised and cleared, the variables a stack's .env gives,
and the operator's acknowledgements of lapses and alarms. Every change is journaled and posted as
a typed event (StepSensed, LapseChanged, AlarmChanged).

A part of the run engine (engine/run.py): it reads and changes the engine's state, by the rules.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from runbook_tui.checklist.model import Step, StepType
from runbook_tui.engine import records as rec
from runbook_tui.engine.events import AlarmChanged, EngineRefusal, Lapse, LapseChanged, StepSensed, StepState, StepStatus
from runbook_tui.engine.replay import ACTING_TYPES
from runbook_tui.envfile import read_env
from runbook_tui.observe.model import RoomObservation
from runbook_tui.observe.summary import summary
from runbook_tui.rules.conditions import evaluate, needs, seen_since
from runbook_tui.rules.outcome import AlarmSpan, close_span
from runbook_tui.rules.room import alarms

if TYPE_CHECKING:
    from runbook_tui.engine.run import RunEngine

# The operator's decision stands: the room does not change these.
_DECIDED = (StepState.RUNNING, StepState.SKIPPED, StepState.DEFERRED, StepState.OVERRIDDEN)


def condition_of(step: Step) -> str | None:
    """The condition that proves a step: its done_when, or what a wait step waits for."""
    return step.done_when or (step.condition if step.type is StepType.WAIT else None)


class Reconciler:
    def __init__(self, engine: RunEngine) -> None:
        self.engine = engine
        # Optional actions whose condition was seen not holding in this run: only these may be
        # credited as done on evidence (see observe).
        self.seen_undone: set[str] = set()

    def refresh_variables(self) -> list[str]:
        """Variables the checklist reads from a stack's .env (`from_env`), read again: a run opened
        before step 1 created the stacks had them unset or at their defaults (seen on a site: the
        DNS step said the standby's address was not set, and the smoke test's port was the
        default, not the .env's). What the operator or the site gave stays. Journaled, so a
        resume takes them."""
        e = self.engine
        notes: list[str] = []
        envs: dict[str, dict[str, str] | None] = {}  # each stack's .env read once
        for var in e.checklist.variables.values():
            if var.from_env is None or var.name in e.config.given:
                continue
            role, key = var.from_env
            directory = e.values.get(f"{role}_dir") or f"infra/rooms/{e.room}-{role}"
            if directory not in envs:
                try:
                    envs[directory] = read_env(e.config.stack_root / directory / ".env")
                except (OSError, ValueError):
                    envs[directory] = None
            if (env := envs[directory]) is None:
                continue
            value = env.get(key)
            if value and value != e.values.get(var.name):
                e.values[var.name] = value
                e.journal.write(rec.VariableSet(name=var.name, value=e.masker.mask(value), source=f"{directory}/.env {key}"))
                notes.append(f"{var.name}: now {e.masker.mask(value)} (from {directory}/.env)")
        return notes

    def observe(self, obs: RoomObservation) -> list[str]:
        """Bring the run in line with an observation of the room, by the rules:

        - a closed-loop step not yet passed turns done where its condition holds;
        - a step done on evidence whose condition no longer holds says so, journaled with the
          observation (and holds the run open until it holds again, is run again, or the
          operator acknowledges it with a reason); when it holds again, that is journaled too;
        - alarms (dual control) are journaled when raised and when cleared.
        A condition whose parts the observation could not see is left alone. Returns notes."""
        e = self.engine
        notes: list[str] = []
        obs = e.guards.with_fences(obs)
        with e.lock:
            superseded = e.superseded()
            busy = self._parts_in_flux()
            for step in (*e.applicable_steps(), *self._opened_procedure_steps()):
                name = condition_of(step)
                if name is None or step.type is StepType.DISPATCH_SMOKE or step.id == e.running_step:
                    continue  # a dispatch proves itself only by being run; a running step reports itself
                if e.statuses[step.id].state in _DECIDED:
                    continue
                if step.id in superseded:
                    if e.lapses.pop(step.id, None) is not None:
                        e.journal.write(rec.LapseSuperseded(step=step.id, by=superseded[step.id]))
                        e.emit(LapseChanged(step.id, None))
                    continue  # a later step undid it on purpose (the primary shut down after it was brought up)
                notes += self._judge(step, name, obs, busy)
            notes += self._observe_alarms(obs)
            notes += e.procedures.observe(obs)  # triggers and continuously applicable conditions
        return notes

    def _opened_procedure_steps(self) -> list[Step]:
        """The steps of the procedures the operator has opened and not yet worked or dismissed: their
        waits ("the standby no longer dispatches") tick on evidence as the checklist's do. Not
        those of a procedure only queued: a condition that ends before anyone opens it cleared by
        itself, and the procedure is not worked by that. A step whose evidence lapsed stays judged
        after its procedure was worked, so that its holding again is said and journaled."""
        e = self.engine
        return [step for status in e.procedures.by_id.values() if status.opened_at is not None
                for step in e.checklist.procedure(status.id).steps if status.open or step.id in e.lapses]

    def _judge(self, step: Step, name: str, obs: RoomObservation, busy: frozenset[str]) -> list[str]:
        """One step's condition on this observation: ticked, lapsed, described anew, or holding again."""
        e = self.engine
        status = e.statuses[step.id]
        verdict = evaluate(name, obs)
        if not verdict.seen:
            return []
        lapse = e.lapses.get(step.id)
        if step.optional and step.type in ACTING_TYPES and status.state is not StepState.DONE:
            # An optional action ("recreate the broker so it reads the new passwd") is credited on
            # evidence only when the room changed to its effect during the run: a condition that
            # already held at open says it was not needed, not that it was done (seen: the report
            # said a broker was recreated that never was).
            if not verdict.holds:
                self.seen_undone.add(step.id)
                return []
            if step.id not in self.seen_undone:
                return []
        if status.state in (StepState.PENDING, StepState.FAILED) and verdict.holds:
            e.journal.write(rec.EvidenceSeen(step=step.id, condition=name, holds=True, detail=e.masker.mask(verdict.detail)))
            now = time.time()
            e.set_status(step.id, StepStatus(StepState.DONE, "sensed", (str(verdict),), now, now))
            e.emit(StepSensed(step.id, verdict.detail))
            return [f"{step.id}: done on evidence: {verdict.detail}"]
        if (status.state is StepState.DONE and not verdict.holds and lapse is None and not needs(name) & busy
                and seen_since(name, obs, status.finished or 0.0)):
            detail = e.masker.mask(verdict.detail)
            record = e.journal.write(rec.ConditionLapsed(step=step.id, condition=name, detail=detail,
                                                         observation=summary(obs)))
            e.lapses[step.id] = Lapse(name, record.ts, detail)
            e.emit(LapseChanged(step.id, e.lapses[step.id]))
            return [f"{step.id}: no longer holds: {detail}"]
        if status.state is StepState.DONE and not verdict.holds and lapse is not None:
            detail = e.masker.mask(verdict.detail)
            if detail != lapse.detail:  # what is seen now, on screen; the journal keeps the first
                e.lapses[step.id] = dataclasses.replace(lapse, detail=detail)
                e.emit(LapseChanged(step.id, e.lapses[step.id], news=False))
        elif status.state is StepState.DONE and verdict.holds and lapse is not None:
            e.journal.write(rec.ConditionRestored(step=step.id, condition=name, detail=e.masker.mask(verdict.detail),
                                                  lapsed_s=round(time.time() - lapse.since, 1)))
            del e.lapses[step.id]
            e.emit(LapseChanged(step.id, None))
            return [f"{step.id}: holds again: {verdict.detail}"]
        return []

    def _parts_in_flux(self) -> frozenset[str]:
        """The parts of the room the running step is changing (those its own condition looks at,
        but the files). Recreating the standby's core takes it away for a moment: other steps'
        evidence on those parts is not called lost until the step has ended."""
        e = self.engine
        step = e.checklist.step(e.running_step) if e.running_step else None
        name = condition_of(step) if step is not None else None
        return needs(name) - {"files"} if name else frozenset()

    def _observe_alarms(self, obs: RoomObservation) -> list[str]:
        e = self.engine
        now_raised = alarms(obs, e.active_alarms)
        before = {a.kind: a for a in e.active_alarms}
        after = {a.kind: a for a in now_raised}
        notes = []
        for kind, alarm in after.items():
            if kind not in before:
                record = e.journal.write(rec.AlarmRaised(alarm=kind, reason=e.masker.mask(alarm.reason), source=alarm.source,
                                                         observation=summary(obs)))
                e.alarm_spans.append(AlarmSpan(kind, record.ts, None))
                e.alarms_unacknowledged.append(kind)
                e.emit(AlarmChanged(alarm, kind))
                notes.append(f"alarm: {kind}: {alarm.reason}")
            elif alarm != before[kind]:
                e.emit(AlarmChanged(alarm, kind))  # same alarm, new words (e.g. no longer seen to end)
        for kind in before.keys() - after.keys():
            record = e.journal.write(rec.AlarmCleared(alarm=kind, observation=summary(obs)))
            close_span(e.alarm_spans, kind, record.ts)
            e.emit(AlarmChanged(None, kind))
            notes.append(f"alarm cleared: {kind}")
        e.active_alarms = now_raised
        return notes

    def acknowledge_alarms(self, reason: str) -> None:
        """The operator has seen this run's alarms and says what was done about them (the header
        stops keeping them once they ended)."""
        e = self.engine
        if not reason.strip():
            raise EngineRefusal("acknowledging an alarm needs a reason (what was done about it)")
        with e.lock:
            if e.alarms_unacknowledged:
                e.journal.write(rec.AlarmAcknowledged(alarms=list(e.alarms_unacknowledged), reason=reason,
                                                      operator=e.config.operator))
                e.alarms_unacknowledged.clear()

    def acknowledge_lapse(self, step_id: str, reason: str) -> None:
        """Go on although a step's evidence no longer holds: recorded with the operator's reason."""
        e = self.engine
        with e.lock:
            lapse = e.lapses.get(step_id)
            if lapse is None:
                raise EngineRefusal(f"{step_id}: its evidence holds; there is nothing to acknowledge")
            if not reason.strip():
                raise EngineRefusal("acknowledging needs a reason")
            e.journal.write(rec.LapseAcknowledged(step=step_id, condition=lapse.condition, reason=reason,
                                                  operator=e.config.operator))
            e.lapses[step_id] = dataclasses.replace(lapse, acknowledged=reason)
            e.emit(LapseChanged(step_id, e.lapses[step_id]))
