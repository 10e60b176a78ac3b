"""The run engine: one checklist run, its step states, actions, guards and journal.

Principles it enforces: nothing changes the world without an explicit call
with the operator's confirmation (the room id typed out for destructive and arming steps);
guards are evaluated when the step runs, not when it was shown; closed-loop steps turn done
only on sensed evidence; skips, deferrals and overrides carry a reason and stay visible;
every state change, command, confirmation and piece of evidence is journaled.

RunEngine holds the run's state and is what the UI and the command line call; its parts, each a
module of its own, do the work along the run's seams: the replay of a journal and the rules every
reader applies (replay.py), guards and fences (guards.py), previews (previews.py), the operator's
decisions (decisions.py), reconciliation with the live room (reconcile.py) and one executor per
step type (executors.py). Every record they write is a type of engine/records.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runbook_tui.checklist.model import Checklist, Step, StepType, substitute
from runbook_tui.checklist.shell_words import UnsafePlaceholder
from runbook_tui.engine import records as rec
from runbook_tui.engine.decisions import Decisions
from runbook_tui.engine.events import (  # noqa: F401 - the engine's words, said here too
    PASSED,
    ActionPreview,
    AlarmChanged,
    EngineRefusal,
    GuardRefused,
    Lapse,
    LapseChanged,
    StepChanged,
    StepOutput,
    StepSensed,
    StepState,
    StepStatus,
)
from runbook_tui.engine.executors import EXECUTORS, env_files
from runbook_tui.engine.guards import Guards
from runbook_tui.engine.journal import Journal, JournalBusy, read_journal
from runbook_tui.engine.previews import preview
from runbook_tui.engine.procedures import Procedures
from runbook_tui.engine.reconcile import Reconciler, condition_of
from runbook_tui.engine.replay import ACTING_TYPES, RoomConfirmation, RunState, outcome_of, plan_from_checklist, replay, superseded
from runbook_tui.observe.model import Fence, RoomObservation
from runbook_tui.observe.observer import Observer
from runbook_tui.rules.conditions import Verdict
from runbook_tui.rules.outcome import AlarmSpan, Outcome
from runbook_tui.rules.room import Alarm
from runbook_tui.secrets import Masker

__all__ = ["ACTING_TYPES", "RunConfig", "RunEngine", "condition_of"]


@dataclass
class RunConfig:
    stack_root: Path
    lab: bool = False
    wait_poll_s: float = 0.5
    settle_s: float = 30.0  # how long a command's done_when may take to become true
    operator: str = field(default_factory=lambda: os.environ.get("USER", "operator"))
    drill: str | None = None  # the training scenario, when this run is a drill
    blind: bool = False  # a blind drill: the trainee's screens never name the scenario
    drill_symptoms: tuple[str, ...] = ()  # the steps the scenario's fault is known to fail
    settings: str = ""  # which site settings the run was opened with (the file, or the lab's defaults)
    # Variables the operator or the site gave: never replaced by what a stack's .env says later.
    given: frozenset[str] = frozenset()
    # Each stack's Docker engine (role -> DOCKER_HOST) from the site settings; absent: this
    # machine's default engine. A step's commands run on its stack's.
    docker_hosts: dict[str, str] = field(default_factory=dict)
    # The room's fence command from the site settings ([rooms.<id>] fence_command): the argv a
    # `site_command: fence_command` step runs, without a shell. Empty: the site has none.
    fence_command: tuple[str, ...] = ()


class RunEngine:
    def __init__(self, checklist: Checklist, values: dict[str, str], observer: Observer, journal: Journal,
                 config: RunConfig, on_event: Callable[[object], None] | None = None) -> None:
        self.checklist = checklist
        self.plan = plan_from_checklist(checklist)  # the steps as the replay's rules take them (titles unfilled)
        self.values = dict(values)
        self.observer = observer
        self.journal = journal
        self.config = config
        self.on_event = on_event
        self.emit: Callable[[object], None] = on_event or (lambda _event: None)
        self.choices = {cid: c.default for cid, c in checklist.choices.items()}
        self.statuses: dict[str, StepStatus] = {s.id: StepStatus() for s in (*checklist.steps(), *checklist.procedure_steps())}
        self.room = values["room"]
        self.cancel_event: asyncio.Event | None = None  # set while a step runs: cancel() sets it
        self.running_step: str | None = None
        self.started_at = time.time()  # when the run began (from the journal, on resume)
        # State changes come from the UI's loop and from a reconciling thread.
        self.lock = threading.RLock()
        self.masker = Masker.from_env_files(env_files(self))
        self.lapses: dict[str, Lapse] = {}
        self.alarm_spans: list[AlarmSpan] = []
        self.active_alarms: tuple[Alarm, ...] = ()
        self.alarms_unacknowledged: list[str] = []  # alarms of this run the operator has not acknowledged yet
        # Confirmations from the person at the room (the floor view's inbox), by step; each
        # confirmation's id is journaled once, so a resumed run never takes one twice.
        self.room_confirmations: dict[str, RoomConfirmation] = {}
        self.room_confirmation_ids_taken: set[str] = set()
        self.guards = Guards(self)
        self.decisions = Decisions(self)
        self.live = Reconciler(self)
        self.procedures = Procedures(self)
        self.executors = {step_type: executor(self) for step_type, executor in EXECUTORS.items()}

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def start(cls, checklist: Checklist, values: dict[str, str], observer: Observer, journal_path: Path,
              config: RunConfig, on_event: Callable[[object], None] | None = None) -> RunEngine:
        journal = Journal(journal_path)
        engine = cls(checklist, values, observer, journal, config, on_event)
        record = journal.write(rec.RunStarted(
            checklist={"id": checklist.id, "name": checklist.name, "revision": checklist.revision,
                       "sha256": checklist.sha256, "path": str(checklist.path)},
            room=engine.room, variables={k: engine.masker.mask(v) for k, v in engine.values.items()}, lab=config.lab,
            operator=config.operator, settings=config.settings, choices=engine.choices, drill=config.drill,
            blind=config.blind, drill_symptoms=list(config.drill_symptoms),
            # The checklist's steps in order, so the report can follow it and name the steps never
            # decided, from the journal alone; with what the outcome's rule needs, so a replay
            # needs no checklist file.
            steps=[{"id": s.id, "title": substitute(s.title, values), "optional": s.optional,
                    "confirm_at_room": s.confirm_at_room, "section": s.section_id,
                    "when": {c: list(opts) for c, opts in s.when},
                    "acting": s.type in ACTING_TYPES, "supersedes": list(s.supersedes), "type": s.type.value}
                   for s in checklist.steps()]))
        engine.started_at = record.ts
        engine.decisions.skip_missing_site_commands()
        return engine

    @classmethod
    def resume(cls, journal_path: Path, checklist: Checklist, observer: Observer, config: RunConfig,
               on_event: Callable[[object], None] | None = None) -> tuple[RunEngine, list[str]]:
        """Rebuild a run from its journal, then reconcile it with the live system.

        Returns the engine and what reconciling found, in words. Refuses a journal written
        for another version of the checklist: one checklist version per run.
        """
        contents = read_journal(journal_path)  # read once: the state, the torn count and the next seq
        started = rec.first(contents.records, rec.RunStarted)
        if started is None:
            raise EngineRefusal(f"{journal_path}: no run_started record: not a run journal")
        if started.checklist.get("sha256") != checklist.sha256:
            raise EngineRefusal(f"{journal_path} was written for {started.checklist.get('name')} "
                                f"{started.checklist.get('revision')} (sha256 {str(started.checklist.get('sha256'))[:12]}); "
                                f"{checklist.path} is sha256 {checklist.sha256[:12]}: one checklist version per run")
        try:
            journal = Journal(journal_path, contents.records)
        except JournalBusy as exc:
            raise EngineRefusal(str(exc)) from None
        # A resumed drill stays a drill of its scenario, run by the same trainee: they are the run's, not the session's.
        config = dataclasses.replace(config, drill=started.drill or config.drill, operator=started.operator or config.operator,
                                     blind=started.blind or config.blind,
                                     drill_symptoms=tuple(started.drill_symptoms) or config.drill_symptoms)
        # The run's state by the one replay of its journal (engine/replay.py), as the floor view
        # and the report read it: a resumed console cannot say what they do not.
        run = replay(contents.records, plan_from_checklist(checklist))
        engine = cls(checklist, dict(run.values), observer, journal, config, on_event)
        engine.take(run)
        notes = [f"{len(contents.torn)} torn record(s) at a crash were skipped"] if contents.torn else []
        engine.journal.write(rec.RunResumed(torn=len(contents.torn)))
        for step_id, status in list(engine.statuses.items()):
            if status.state is StepState.RUNNING:
                engine.set_status(step_id, StepStatus(StepState.PENDING, "interrupted: it was running when the tool stopped"))
                notes.append(f"{step_id}: was running when the tool stopped; back to pending")
        notes += engine.decisions.skip_missing_site_commands()
        notes += engine.reconcile()
        return engine, notes

    def take(self, run: RunState) -> None:
        """Take a replayed run's state as this engine's (a resume; nothing is journaled)."""
        self.started_at = run.started_at
        self.choices.update(run.choices)
        self.statuses.update({k: v for k, v in run.statuses.items() if k in self.statuses})
        self.lapses = {k: v for k, v in run.lapses.items() if k in self.statuses}
        self.room_confirmations = {k: v for k, v in run.room_confirmations.items() if k in self.statuses}
        self.room_confirmation_ids_taken = set(run.room_confirmation_ids)
        self.alarms_unacknowledged = list(run.alarms_unacknowledged)
        self.alarm_spans = list(run.alarm_spans)
        # An alarm still raised when the tool stopped is raised still: the next observation clears
        # it (journaled) or keeps it, never raises it a second time.
        self.active_alarms = run.active_alarms
        self.procedures.take(run)

    # ---- state -------------------------------------------------------------------------
    def set_status(self, step_id: str, status: StepStatus) -> None:
        with self.lock:
            before = self.statuses.get(step_id)
            self.statuses[step_id] = status
            step = self.checklist.step(step_id)
            if step.fences and status.state is StepState.DONE and (before is None or before.state is not StepState.DONE):
                fence = self.guards.fence_of(step)
                self.journal.write(rec.Fenced(step=step_id, role=fence.role, by=fence.by, how=fence.how))
            if status.state is not StepState.RUNNING and self.lapses.pop(step_id, None) is not None:
                self.emit(LapseChanged(step_id, None))  # decided anew: what lapsed before is history
            self.journal.write(rec.StepStateRecord(step=step_id, state=status.state.value,
                                                   reason=self.masker.mask(status.reason),
                                                   evidence=[self.masker.mask(e) for e in status.evidence],
                                                   started=status.started, finished=status.finished,
                                                   procedure=step.procedure or ""))
            self.emit(StepChanged(step_id, status))
            if status.state is StepState.DONE:
                # What this step undid on purpose no longer lapses, said now: a journal that ends
                # here replays as the console shows it (the next tick would otherwise say it).
                for earlier, by in self.superseded().items():
                    if by == step_id and self.lapses.pop(earlier, None) is not None:
                        self.journal.write(rec.LapseSuperseded(step=earlier, by=step_id))
                        self.emit(LapseChanged(earlier, None))
            if step.procedure is not None:
                self.procedures.step_changed(step)

    def status(self, step_id: str) -> StepStatus:
        return self.statuses[step_id]

    def applicable_steps(self) -> list[Step]:
        return [s for s in self.checklist.steps() if s.applies(self.choices)]

    def superseded(self) -> dict[str, str]:
        """Earlier step id -> the done step that undid its evidence on purpose (checklist `supersedes`)."""
        return superseded(self.plan, self.choices, self.statuses)

    def outcome(self) -> Outcome:
        """The run's outcome by the one rule (the replay's, rules.outcome): what is open, deferred,
        no longer holding, and the alarms of the run."""
        with self.lock:
            return outcome_of(self.plan, self.choices, self.statuses, self.lapses, tuple(self.alarm_spans),
                              self.procedures.by_id)

    def finish(self) -> str:
        outcome = self.outcome()
        undone = {s: by for s, by in self.superseded().items() if self.statuses[s].state is not StepState.DONE}
        self.journal.write(rec.RunFinished(
            outcome=outcome.verdict, deferred=list(outcome.deferred), open=list(outcome.open), superseded=undone,
            optional_not_done=list(outcome.optional_open), lapsed=list(outcome.lapsed),
            without_evidence=list(outcome.without_evidence),
            alarms=[{"alarm": a.kind, "started": a.started, "ended": a.ended} for a in outcome.alarms],
            said=outcome.text(time.time())))
        return outcome.verdict

    # ---- previews, guards, the room's view -----------------------------------------------
    def preview(self, step_id: str) -> ActionPreview:
        return preview(self, step_id)

    def check(self, condition: str) -> Verdict:
        """A condition judged now, on a fresh look at the parts of the room it needs."""
        return self.guards.check(condition)

    def check_guards(self, step: Step) -> tuple[list[Verdict], RoomObservation | None]:
        return self.guards.check_guards(step)

    def fences(self) -> tuple[Fence, ...]:
        return self.guards.fences()

    def sense(self, step_id: str) -> Verdict | None:
        """A step's condition judged on a fresh look."""
        name = condition_of(self.checklist.step(step_id))
        return self.check(name) if name else None

    # ---- operator decisions (decisions.py) ------------------------------------------------
    def choose(self, choice_id: str, option: str) -> None:
        self.decisions.choose(choice_id, option)

    def mark_done(self, step_id: str, *, confirmed: bool = False, typed_room: str | None = None, note: str = "") -> StepStatus:
        return self.decisions.mark_done(step_id, confirmed=confirmed, typed_room=typed_room, note=note)

    def skip(self, step_id: str, reason: str) -> StepStatus:
        return self.decisions.pass_by_reason(step_id, StepState.SKIPPED, reason)

    def defer(self, step_id: str, reason: str) -> StepStatus:
        return self.decisions.pass_by_reason(step_id, StepState.DEFERRED, reason)

    def override(self, step_id: str, *, typed_room: str, reason: str) -> StepStatus:
        return self.decisions.override(step_id, typed_room=typed_room, reason=reason)

    def receive_room_confirmation(self, confirmation: RoomConfirmation) -> str:
        return self.decisions.receive_room_confirmation(confirmation)

    def room_confirmation_ids(self) -> frozenset[str]:
        """Every room confirmation id this run has journaled (taken ones are never read again)."""
        with self.lock:
            return frozenset(self.room_confirmation_ids_taken)

    def wrong_room_id(self, step_id: str) -> None:
        self.decisions.wrong_room_id(step_id)

    # ---- the live room (reconcile.py) --------------------------------------------------------
    def reconcile(self) -> list[str]:
        """One fresh look at the whole room, then what `observe` makes of it (start, resume)."""
        return self.live.refresh_variables() + self.observe(self.observer.look())

    def observe(self, obs: RoomObservation) -> list[str]:
        return self.live.observe(obs)

    def acknowledge_alarms(self, reason: str) -> None:
        self.live.acknowledge_alarms(reason)

    def acknowledge_lapse(self, step_id: str, reason: str) -> None:
        self.live.acknowledge_lapse(step_id, reason)

    # ---- running (executors.py) -------------------------------------------------------------
    def cancel(self) -> None:
        """Cancel the running command or wait (TERM, then KILL for commands)."""
        if self.cancel_event is not None:
            self.cancel_event.set()

    async def run_step(self, step_id: str, *, confirmed: bool = False, typed_room: str | None = None,
                       override_reason: str | None = None) -> StepStatus:
        """Run a step's action after its confirmation; guards are checked now."""
        step = self.checklist.step(step_id)
        self.guards.check_runnable(step)
        if self.running_step is not None:
            running = self.checklist.step(self.running_step)
            hint = (" (a cancelled wait goes back to pending and is still watched: it turns done when its condition holds)"
                    if running.type is StepType.WAIT else "")
            raise EngineRefusal(f"{self.running_step} is running: wait for it, or cancel it first{hint}")
        if step.type is StepType.CONFIRM:
            return self.mark_done(step_id, confirmed=confirmed, typed_room=typed_room)
        if step.type is StepType.CHOICE:
            raise EngineRefusal(f"{step_id}: use choose({step.choice!r}, option)")
        if step.site_command == "fence_command" and not self.config.fence_command:
            from runbook_tui.checklist.plan import no_fence_command

            raise EngineRefusal(f"{substitute(step.title, self.values)}: not run: {no_fence_command(self.room)}. "
                                "Skip it, saying so, or cut the host off at the room.")
        from runbook_tui.engine.previews import unset_for

        if unset := unset_for(self, step):
            raise EngineRefusal(f"{step_id} needs {', '.join(unset)}, not set on this site: set it in the site settings' "
                                f"[variables] (or [rooms.{self.room}.variables]) or with --var NAME=VALUE")
        self.guards.check_end_to_end(step)
        self.guards.require_confirmation(step, confirmed, typed_room)
        # Sensing takes seconds: off the event loop, so the screen stays live.
        overridden, evidence = await asyncio.to_thread(self.guards.judge, step, override_reason, typed_room)
        started = time.time()
        self.journal.write(rec.Confirmed(step=step_id, operator=self.config.operator, typed_room=typed_room is not None))
        self.set_status(step_id, StepStatus(StepState.RUNNING, "", tuple(evidence), started))
        self.cancel_event = asyncio.Event()
        self.running_step = step_id
        cancelled = False
        try:
            ok, reason, more = await self._perform(step)
        except Exception as exc:  # noqa: BLE001 - a failed action is a failed step, never a crash
            ok, reason, more = False, f"{exc.__class__.__name__}: {exc}", []
        finally:
            cancelled = self.cancel_event.is_set()
            self.cancel_event = None
            self.running_step = None
        state = (StepState.OVERRIDDEN if overridden else StepState.DONE) if ok else StepState.FAILED
        if state is StepState.FAILED and cancelled and step.type is StepType.WAIT:
            # A wait changes nothing in the room: cancelling it (to run the step after it, say)
            # is no failure. It stays pending and watched, and turns done when its condition holds.
            state, reason = StepState.PENDING, "wait cancelled by the operator; still watched"
        if overridden and ok:
            reason = f"guard overridden: {override_reason}" + (f"; {reason}" if reason else "")
        status = StepStatus(state, reason, tuple(evidence + more), started, time.time())
        self.set_status(step_id, status)
        return status

    async def _perform(self, step: Step) -> tuple[bool, str, list[str]]:
        """The step's action by its type's executor (executors.py)."""
        try:
            return await self.executors[step.type].perform(step)
        except UnsafePlaceholder as e:  # the loader refuses such a command; a value (a NUL) can still be
            return False, f"not run: {e}", []
