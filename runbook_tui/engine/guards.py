"""What a step must pass before it acts: its guards on a fresh look at the room, the operator's
confirmation, the runbook's order for a step that proves the run end to end, and the run's fences
(a host cut off on purpose), with which every judgement of this run is made.

A part of the run engine (engine/run.py): it reads and journals the engine's state, and keeps none
of its own.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from runbook_tui.checklist.model import Risk, Step, StepType, substitute
from runbook_tui.engine import records as rec
from runbook_tui.engine.events import EngineRefusal, GuardRefused, StepState
from runbook_tui.engine.replay import lapsed, steps_before
from runbook_tui.observe.model import Fence, RoomObservation
from runbook_tui.observe.summary import summary
from runbook_tui.rules.conditions import Verdict, evaluate, needs

if TYPE_CHECKING:
    from runbook_tui.engine.run import RunEngine


class Guards:
    def __init__(self, engine: RunEngine) -> None:
        self.engine = engine

    def check(self, condition: str) -> Verdict:
        """A condition judged now, on a fresh look at the parts of the room it needs."""
        return evaluate(condition, self.with_fences(self.engine.observer.look(needs(condition))))

    def check_guards(self, step: Step) -> tuple[list[Verdict], RoomObservation | None]:
        """Every guard judged on one fresh look at the room, taken now."""
        if not step.guards:
            return [], None
        obs = self.with_fences(self.engine.observer.look(frozenset().union(*(needs(g) for g in step.guards))))
        return [evaluate(name, obs) for name in step.guards], obs

    def fences(self) -> tuple[Fence, ...]:
        """The hosts this run cut off: each fence step done, by whom, when (the room's name for a
        step the room confirmed, the command for a fence command)."""
        e = self.engine
        return tuple(self.fence_of(step) for step in e.applicable_steps()
                     if step.fences is not None and e.statuses[step.id].state is StepState.DONE)

    def fence_of(self, step: Step) -> Fence:
        e = self.engine
        at_room = e.room_confirmations.get(step.id)
        by = f"{at_room.name} at the room" if at_room is not None else (
            "the site's fence command" if step.type is StepType.COMMAND else e.config.operator)
        how = substitute(step.title, e.values)
        if step.site_command == "fence_command":
            import shlex

            how = f"fence command: {shlex.join(e.config.fence_command)}, run by {e.config.operator}"
        return Fence(step.fences or "", by, e.statuses[step.id].finished or time.time(), how)

    def with_fences(self, obs: RoomObservation) -> RoomObservation:
        """The observation as the rules judge it in this run: with the run's fences (a host cut off
        on purpose is not in the room's looks, and counts only while it stays unreachable)."""
        fences = self.fences()
        return dataclasses.replace(obs, fences=fences) if fences else obs

    def require_confirmation(self, step: Step, confirmed: bool, typed_room: str | None) -> None:
        room = self.engine.room
        if step.risk is Risk.NORMAL:
            if not (confirmed or typed_room == room):
                raise EngineRefusal(f"{step.id}: needs the operator's confirmation")
        elif typed_room != room:
            raise EngineRefusal(f"{step.id} is {step.risk.value}: type the room id ({room}) to confirm")

    def check_runnable(self, step: Step) -> None:
        e = self.engine
        if not step.applies(e.choices):
            raise EngineRefusal(f"{step.id} does not apply with " +
                                ", ".join(f"{c}={e.choices.get(c)}" for c, _ in step.when))
        if e.statuses[step.id].state is StepState.RUNNING:
            raise EngineRefusal(f"{step.id} is already running")
        e.procedures.check_runnable(step)  # a procedure's step: once it is queued

    def check_end_to_end(self, step: Step) -> None:
        """A step that proves the run end to end is refused while what it proves is not so: a
        step before it in its section was done and no longer holds (acknowledged or not; seen:
        the smoke test ran and ticked while the DNS name pointed back at the stopped primary).
        Steps not run yet are named by the confirmation as out of order: a smoke test may be run
        to diagnose. The operator can still override the step itself, and the outcome says so."""
        if not step.end_to_end:
            return
        e = self.engine
        lapsed_titles = [f"{substitute(s.title, e.values)} (no longer holds)"
                         for s in steps_before(e.plan, e.choices, step.id, same_section=True)
                         if lapsed(s.id, e.statuses, e.lapses)]
        if lapsed_titles:
            raise EngineRefusal(f"{substitute(step.title, e.values)} proves the steps before it end to end, and "
                                f"these no longer hold: {'; '.join(lapsed_titles)}. Make them hold again (or run them "
                                "again) first, or override this step with a reason.")

    def judge(self, step: Step, override_reason: str | None, typed_room: str | None) -> tuple[bool, list[str]]:
        """Evaluate the guards now, journaled. Returns (overridden, evidence lines); raises
        GuardRefused when one fails and no override was given."""
        e = self.engine
        results, obs = self.check_guards(step)
        e.journal.write(rec.GuardsJudged(
            step=step.id, results=[{"condition": v.condition, "holds": v.holds, "detail": e.masker.mask(v.detail)}
                                   for v in results],
            observation=summary(obs) if obs is not None else None))
        failures = [v for v in results if not v.holds]
        lines = [f"guard {v}" for v in results]
        if not failures:
            return False, lines
        if override_reason is None:
            raise GuardRefused(step.id, failures)
        if typed_room != e.room or not override_reason.strip():
            raise EngineRefusal(f"{step.id}: overriding a guard takes the room id ({e.room}) typed out and a reason")
        e.journal.write(rec.Overridden(step=step.id, what="guard", reason=override_reason,
                                       failed=[f.condition for f in failures], operator=e.config.operator,
                                       consequences=GuardRefused(step.id, failures).consequences()))
        return True, lines
