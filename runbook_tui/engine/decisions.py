"""The operator's decisions on steps, and the room's: a choice, a confirmation, a skip or deferral
with its reason, an override, a confirmation sent from the floor view, a wrong room id typed.
Each is refused before anything is written when it may not be taken, and journaled when it is.

A part of the run engine (engine/run.py): it reads and changes the engine's state.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from runbook_tui.checklist.model import StepType, substitute
from runbook_tui.checklist.plan import no_fence_command
from runbook_tui.engine import records as rec
from runbook_tui.engine.events import EngineRefusal, StepState, StepStatus
from runbook_tui.engine.previews import earlier_open

if TYPE_CHECKING:
    from runbook_tui.engine.replay import RoomConfirmation
    from runbook_tui.engine.run import RunEngine


class Decisions:
    def __init__(self, engine: RunEngine) -> None:
        self.engine = engine

    def choose(self, choice_id: str, option: str) -> None:
        e = self.engine
        choice = e.checklist.choices[choice_id]
        if option not in choice.options:
            raise EngineRefusal(f"{option!r} is not an option of {choice_id} ({', '.join(choice.options)})")
        if option != e.choices.get(choice_id):
            # Steps already decided under the current option (a DNS repoint, a smoke test) would
            # silently turn "not used" and the run's outcome would no longer say what happened.
            decided = [substitute(s.title, e.values) for s in e.checklist.steps()
                       if any(c == choice_id for c, _ in s.when) and e.statuses[s.id].state is not StepState.PENDING]
            if decided:
                raise EngineRefusal(f"{choice_id} stays {e.choices.get(choice_id)}: steps were already decided under it "
                                    f"({'; '.join(decided[:3])}{'; ...' if len(decided) > 3 else ''}). "
                                    "To take another path, start a new run.")
        e.choices[choice_id] = option
        e.journal.write(rec.Chosen(choice=choice_id, option=option, label=choice.options[option].label))
        for step in e.checklist.steps():
            if step.type is StepType.CHOICE and step.choice == choice_id:
                now = time.time()
                e.set_status(step.id, StepStatus(StepState.DONE, f"chose {option}: {choice.options[option].label}",
                                                 (f"operator chose {option}",), now, now))

    def mark_done(self, step_id: str, *, confirmed: bool = False, typed_room: str | None = None, note: str = "") -> StepStatus:
        """The operator's confirmation of an open-loop step."""
        e = self.engine
        step = e.checklist.step(step_id)
        e.guards.check_runnable(step)
        if step.type is not StepType.CONFIRM:
            raise EngineRefusal(f"{step_id} is a {step.type.value} step: it turns done by running it or on evidence")
        at_room = e.room_confirmations.get(step_id)
        if step.confirm_at_room and at_room is None:
            raise EngineRefusal(f"{substitute(step.title, e.values)} is confirmed by the person at the room first: "
                                "they confirm it in the floor view (w shows its link). Or override it, with a reason.")
        e.guards.check_end_to_end(step)
        e.guards.require_confirmation(step, confirmed, typed_room)
        _overridden, evidence = e.guards.judge(step, None, typed_room)
        if step.done_when:
            # A confirmation cannot stand in for evidence the checklist asks for.
            sensed = e.check(step.done_when)
            e.journal.write(rec.EvidenceSeen(step=step_id, condition=sensed.condition, holds=sensed.holds,
                                             detail=e.masker.mask(sensed.detail)))
            if not sensed.holds:
                raise EngineRefusal(f"{step_id} needs evidence: {sensed}. Fix it, or override the step (with a reason).")
            evidence.append(str(sensed))
        now = time.time()
        e.journal.write(rec.Confirmed(step=step_id, operator=e.config.operator, note=note))
        who = f"confirmed by {e.config.operator}"
        if at_room is not None:
            who = f"confirmed at the room by {at_room.name}, then by {e.config.operator}"
            evidence.append(f"confirmed at the room by {at_room.name} at "
                            f"{time.strftime('%H:%M:%S', time.localtime(at_room.at))} (floor view)")
        status = StepStatus(StepState.DONE, f"{note} ({who})" if note else who, tuple(evidence), now, now)
        e.set_status(step_id, status)
        return status

    def receive_room_confirmation(self, confirmation: RoomConfirmation) -> str:
        """A confirmation from the person at the room (the floor view). Journaled once, by its
        id; returns "" when taken, else why not (nothing journaled)."""
        e = self.engine
        with e.lock:
            if confirmation.id in e.room_confirmation_ids_taken:
                return "already taken"
            step = next((s for s in e.applicable_steps() if s.id == confirmation.step), None)
            if step is None:
                # A step of a non-normal procedure queued and still open: the room confirms it too.
                step = next((s for p in e.procedures.open_ones() for s in e.procedures.steps(p.id)
                             if s.id == confirmation.step), None)
            if step is None or not step.confirm_at_room:
                return f"{confirmation.step} is not a step the room confirms in this run"
            if e.statuses[step.id].state in (StepState.DONE, StepState.SKIPPED, StepState.OVERRIDDEN):
                return f"{confirmation.step} is already {e.statuses[step.id].state.value}"
            if (first := e.room_confirmations.get(step.id)) is not None:
                return f"{confirmation.step} is already confirmed at the room by {first.name}"
            if earlier := earlier_open(e, step, same_section=True):
                # The room confirms what the run has reached: "the device reacted" before any
                # smoke test is not a confirmation of anything. Within the step's section: a
                # setup step of section 1 that cannot hold in an incident does not lock the room out.
                return f"{confirmation.step} is not reached yet: {'; '.join(earlier)} still open"
            e.room_confirmation_ids_taken.add(confirmation.id)
            e.room_confirmations[step.id] = confirmation
            e.journal.write(rec.RoomConfirmed(step=step.id, id=confirmation.id, name=confirmation.name, at=confirmation.at))
            return ""

    def wrong_room_id(self, step_id: str) -> None:
        """A confirmation refused for a wrong room id. Nothing ran; what was typed is not kept."""
        self.engine.journal.write(rec.WrongRoomId(step=step_id, operator=self.engine.config.operator))

    def pass_by_reason(self, step_id: str, state: StepState, reason: str) -> StepStatus:
        """Skip or defer a step, with the operator's reason."""
        self._room_first(step_id, state.value)
        return self._set_with_reason(step_id, state, reason)

    def _room_first(self, step_id: str, verb: str) -> None:
        """A step only the room can verify is not passed by a reason alone: the console goes on
        without the room only by an override (the room id typed, and a reason)."""
        e = self.engine
        step = e.checklist.step(step_id)
        # An optional one is not needed here (the fence, where the primary's host answers): passing
        # it by a reason claims nothing the room would have to see. (Seen: the fence could not be
        # skipped on a site walk, and the phone kept offering it.)
        if step.confirm_at_room and not step.optional and step_id not in e.room_confirmations:
            raise EngineRefusal(f"{substitute(step.title, e.values)} is confirmed at the room: it is not {verb} "
                                "without them. Override it (the room id and a reason) to go on without the room.")

    def override(self, step_id: str, *, typed_room: str, reason: str) -> StepStatus:
        """Count a step as passed without its evidence (recorded, and shown as overridden)."""
        e = self.engine
        if typed_room != e.room:
            raise EngineRefusal(f"overriding {step_id} takes the room id ({e.room}) typed out")
        # Refused before anything is written: a running step, or no reason, records no override.
        e.guards.check_runnable(e.checklist.step(step_id))
        if not reason.strip():
            raise EngineRefusal(f"{StepState.OVERRIDDEN.value} needs a reason")
        e.journal.write(rec.Overridden(step=step_id, what="step", reason=reason, operator=e.config.operator))
        return self._set_with_reason(step_id, StepState.OVERRIDDEN, reason)

    def _set_with_reason(self, step_id: str, state: StepState, reason: str) -> StepStatus:
        e = self.engine
        e.guards.check_runnable(e.checklist.step(step_id))
        if not reason.strip():
            raise EngineRefusal(f"{state.value} needs a reason")
        now = time.time()
        status = StepStatus(state, reason, (), now, now)
        e.set_status(step_id, status)
        return status

    def skip_missing_site_commands(self) -> list[str]:
        """A step that runs the site's fence command, on a site that has none, is skipped saying so
        (journaled like any skip, shown in the plan, the run and the report): there is nothing it
        could run, and the fence confirmed at the room remains the way to cut the host off."""
        e = self.engine
        notes = []
        for step in e.checklist.steps():
            if step.site_command == "fence_command" and not e.config.fence_command \
                    and e.statuses[step.id].state is StepState.PENDING:
                now = time.time()
                e.set_status(step.id, StepStatus(StepState.SKIPPED, no_fence_command(e.room), (), now, now))
                notes.append(f"{step.id}: skipped: {no_fence_command(e.room)}")
        return notes
