"""The run engine: one checklist run, its step states, actions, guards and journal.

Principles it enforces: nothing changes the world without an explicit call
with the operator's confirmation (the room id typed out for destructive and arming steps);
guards are evaluated when the step runs, not when it was shown; closed-loop steps turn done
only on sensed evidence; skips, deferrals and overrides carry a reason and stay visible;
every state change, command, confirmation and piece of evidence is journaled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runbook_tui.checklist.model import Checklist, Risk, Step, StepType, substitute, unset_in
from runbook_tui.checklist.plan import engine_words, no_fence_command, step_action
from runbook_tui.checklist.shell_words import UnsafePlaceholder
from runbook_tui.engine.envedit import EnvEditError, EnvSnapshot, apply_edit
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
    StepState,
    StepStatus,
)
from runbook_tui.engine.floor import RoomConfirmation
from runbook_tui.engine.journal import Journal, JournalBusy, read_journal
from runbook_tui.engine.shell import run_command
from runbook_tui.envfile import read_env
from runbook_tui.mqtt_contract import BrokerEndpoint, DispatchRequest, Topics
from runbook_tui.observe.model import Fence, RoomObservation
from runbook_tui.observe.observer import Observer
from runbook_tui.observe.summary import summary
from runbook_tui.rules.conditions import Verdict, evaluate, needs, seen_since
from runbook_tui.rules.outcome import AlarmSpan, Outcome, close_span, run_outcome
from runbook_tui.rules.room import Alarm, alarms
from runbook_tui.secrets import MASK, SECRET_KEY, Masker
from runbook_tui.stacks import alignment


def _shown(key: str, value: str | None) -> str:
    """A .env value as the screen and the journal say it: a secret's never."""
    return MASK if SECRET_KEY.search(key) else (value if value is not None else "(unset)")


ACTING_TYPES = frozenset({StepType.COMMAND, StepType.ENV_EDIT, StepType.DISPATCH_SMOKE})  # steps that change the room


@dataclass
class RunConfig:
    stack_root: Path
    lab: bool = False
    wait_poll_s: float = 0.5
    settle_s: float = 30.0  # how long a command's done_when may take to become true
    operator: str = field(default_factory=lambda: os.environ.get("USER", "operator"))
    drill: str | None = None  # the training scenario, when this run is a drill
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
        self.values = dict(values)
        self.observer = observer
        self.journal = journal
        self.config = config
        self.on_event = on_event
        self.choices = {cid: c.default for cid, c in checklist.choices.items()}
        self.statuses: dict[str, StepStatus] = {s.id: StepStatus() for s in checklist.steps()}
        self.room = values["room"]
        self._cancel: asyncio.Event | None = None
        self.running_step: str | None = None
        self.started_at = time.time()  # when the run began (from the journal, on resume)
        # State changes come from the UI's loop and from a reconciling thread.
        self._lock = threading.RLock()
        self.masker = Masker.from_env_files(self._env_files())
        self.lapses: dict[str, Lapse] = {}
        self.alarm_spans: list[AlarmSpan] = []
        self.active_alarms: tuple[Alarm, ...] = ()
        self.alarms_unacknowledged: list[str] = []  # alarms of this run the operator has not acknowledged yet
        # Optional actions whose condition was seen not holding in this run: only these may be
        # credited as done on evidence (see observe).
        self._seen_undone: set[str] = set()
        # Confirmations from the person at the room (the floor view's inbox), by step; each
        # confirmation's id is journaled once, so a resumed run never takes one twice.
        self.room_confirmations: dict[str, RoomConfirmation] = {}
        self._room_confirmation_ids: set[str] = set()

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def start(cls, checklist: Checklist, values: dict[str, str], observer: Observer, journal_path: Path,
              config: RunConfig, on_event=None) -> RunEngine:
        journal = Journal(journal_path)
        engine = cls(checklist, values, observer, journal, config, on_event)
        record = journal.append("run_started", checklist={"id": checklist.id, "name": checklist.name, "revision": checklist.revision,
                                                          "sha256": checklist.sha256, "path": str(checklist.path)},
                                room=engine.room, variables=engine._masked_values(), lab=config.lab, operator=config.operator,
                                settings=config.settings, choices=engine.choices, drill=config.drill,
                                # The checklist's steps in order, so the report can follow it and name
                                # the steps never decided, from the journal alone.
                                steps=[{"id": s.id, "title": substitute(s.title, values), "optional": s.optional,
                                        "confirm_at_room": s.confirm_at_room, "section": s.section_id,
                                        "when": {c: list(opts) for c, opts in s.when},
                                        # what the outcome's rule needs, so a replay needs no checklist file
                                        "acting": s.type in ACTING_TYPES, "supersedes": list(s.supersedes)}
                                       for s in checklist.steps()])
        engine.started_at = record["ts"]
        engine._skip_missing_site_commands()
        return engine

    @classmethod
    def resume(cls, journal_path: Path, checklist: Checklist, observer: Observer, config: RunConfig,
               on_event=None) -> tuple[RunEngine, list[str]]:
        """Rebuild a run from its journal, then reconcile it with the live system.

        Returns the engine and what reconciling found, in words. Refuses a journal written
        for another version of the checklist: one checklist version per run.
        """
        from runbook_tui.engine.replay import plan_from_checklist, replay

        contents = read_journal(journal_path)
        started = next((r for r in contents.records if r["kind"] == "run_started"), None)
        if started is None:
            raise EngineRefusal(f"{journal_path}: no run_started record: not a run journal")
        if started["checklist"]["sha256"] != checklist.sha256:
            raise EngineRefusal(f"{journal_path} was written for {started['checklist']['name']} "
                                f"{started['checklist']['revision']} (sha256 {started['checklist']['sha256'][:12]}); "
                                f"{checklist.path} is sha256 {checklist.sha256[:12]}: one checklist version per run")
        # The run's state by the one replay of its journal (engine/replay.py), as the floor view
        # and the report read it: a resumed console cannot say what they do not.
        run = replay(contents.records, plan_from_checklist(checklist))
        try:
            journal = Journal(journal_path)
        except JournalBusy as exc:
            raise EngineRefusal(str(exc)) from None
        # A resumed drill stays a drill of its scenario, run by the same trainee: they are the run's, not the session's.
        config = dataclasses.replace(config, drill=started.get("drill") or config.drill,
                                     operator=started.get("operator") or config.operator)
        engine = cls(checklist, dict(run.values), observer, journal, config, on_event)
        engine.started_at = run.started_at
        engine.choices.update(run.choices)
        engine.statuses.update({k: v for k, v in run.statuses.items() if k in engine.statuses})
        engine.lapses = {k: v for k, v in run.lapses.items() if k in engine.statuses}
        engine.room_confirmations = {k: v for k, v in run.room_confirmations.items() if k in engine.statuses}
        engine._room_confirmation_ids = set(run.room_confirmation_ids)
        engine.alarms_unacknowledged = list(run.alarms_unacknowledged)
        engine.alarm_spans = list(run.alarm_spans)
        # An alarm still raised when the tool stopped is raised still: the next observation clears
        # it (journaled) or keeps it, never raises it a second time.
        engine.active_alarms = run.active_alarms
        notes = [f"{len(contents.torn)} torn record(s) at a crash were skipped"] if contents.torn else []
        engine.journal.append("run_resumed", torn=len(contents.torn))
        for step_id, status in list(engine.statuses.items()):
            if status.state is StepState.RUNNING:
                engine._set(step_id, StepStatus(StepState.PENDING, "interrupted: it was running when the tool stopped"))
                notes.append(f"{step_id}: was running when the tool stopped; back to pending")
        notes += engine._skip_missing_site_commands()
        notes += engine.reconcile()
        return engine, notes

    def _skip_missing_site_commands(self) -> list[str]:
        """A step that runs the site's fence command, on a site that has none, is skipped saying so
        (journaled like any skip, shown in the plan, the run and the report): there is nothing it
        could run, and the fence confirmed at the room remains the way to cut the host off."""
        notes = []
        for step in self.checklist.steps():
            if step.site_command == "fence_command" and not self.config.fence_command \
                    and self.statuses[step.id].state is StepState.PENDING:
                now = time.time()
                self._set(step.id, StepStatus(StepState.SKIPPED, no_fence_command(self.room), (), now, now))
                notes.append(f"{step.id}: skipped: {no_fence_command(self.room)}")
        return notes

    # ---- state -------------------------------------------------------------------------
    def _env_files(self) -> list[Path]:
        root = self.config.stack_root
        dirs = [self.values.get(k) for k in ("primary_dir", "standby_dir")]
        dirs += [f"infra/rooms/{self.values.get('room')}-{role}" for role in ("primary", "standby")]
        # The defaults usually name the same folders as the variables: read each file once.
        return list(dict.fromkeys(root / d / ".env" for d in dirs if d))

    def _masked_values(self) -> dict[str, str]:
        return {k: self.masker.mask(v) for k, v in self.values.items()}

    def _emit(self, event: object) -> None:
        if self.on_event:
            self.on_event(event)

    def _set(self, step_id: str, status: StepStatus) -> None:
        with self._lock:
            self._set_locked(step_id, status)

    def _set_locked(self, step_id: str, status: StepStatus) -> None:
        before = self.statuses.get(step_id)
        self.statuses[step_id] = status
        step = self.checklist.step(step_id)
        if step.fences and status.state is StepState.DONE and (before is None or before.state is not StepState.DONE):
            fence = self._fence_of(step)
            self.journal.append("fenced", step=step_id, role=fence.role, by=fence.by, how=fence.how)
        if status.state is not StepState.RUNNING and self.lapses.pop(step_id, None) is not None:
            self._emit(LapseChanged(step_id, None))  # decided anew: what lapsed before is history
        self.journal.append("step_state", step=step_id, state=status.state.value, reason=self.masker.mask(status.reason),
                            evidence=[self.masker.mask(e) for e in status.evidence], started=status.started,
                            finished=status.finished)
        self._emit(StepChanged(step_id, status))

    def status(self, step_id: str) -> StepStatus:
        return self.statuses[step_id]

    def applicable_steps(self) -> list[Step]:
        return [s for s in self.checklist.steps() if s.applies(self.choices)]

    def optional_open(self) -> list[str]:
        """Optional steps neither done nor decided on (listed in the report, never hidden)."""
        return list(self.outcome().optional_open)

    def outcome(self) -> Outcome:
        """The run's outcome by the one rule (runbook_tui.rules.outcome): what is open, deferred,
        no longer holding, and the alarms of the run."""
        with self._lock:
            steps = [(s.id, s.optional) for s in self.applicable_steps()]
            states = {k: v.state.value for k, v in self.statuses.items()}
            lapsed = {k for k, v in self.lapses.items() if not v.acknowledged}
            actions = frozenset(s.id for s in self.applicable_steps() if s.type in ACTING_TYPES)
            return run_outcome(steps, states, lapsed, tuple(self.alarm_spans), actions, frozenset(self.superseded()))

    def finish(self) -> str:
        outcome = self.outcome()
        superseded = {s: by for s, by in self.superseded().items() if self.statuses[s].state is not StepState.DONE}
        self.journal.append("run_finished", outcome=outcome.verdict, deferred=list(outcome.deferred), open=list(outcome.open),
                            superseded=superseded,
                            optional_not_done=list(outcome.optional_open), lapsed=list(outcome.lapsed),
                            without_evidence=list(outcome.without_evidence),
                            alarms=[{"alarm": a.kind, "started": a.started, "ended": a.ended} for a in outcome.alarms],
                            said=outcome.text(time.time()))
        return outcome.verdict

    # ---- previews, guards, confirmations -----------------------------------------------
    def preview(self, step_id: str) -> ActionPreview:
        step = self.checklist.step(step_id)
        lines = step_action(step, self.values, self.config.lab, self.config.docker_hosts, self.config.fence_command)
        if step.align_with:
            lines += self._alignment_said(step)
        if (at_room := self.room_confirmations.get(step_id)) is not None:
            lines.append(f"  confirmed at the room by {at_room.name} at "
                         f"{time.strftime('%H:%M:%S', time.localtime(at_room.at))}; you confirm after them")
        return ActionPreview(step.id, substitute(step.title, self.values), step.risk, tuple(lines),
                             tuple(substitute(a, self.values) for a in step.affects), step.guards,
                             step.risk is not Risk.NORMAL, self._earlier_open(step), self._already(step_id),
                             tuple(self.unset_for(step)))

    def _alignment_said(self, step: Step) -> list[str]:
        """What aligning would write now, for the confirmation (secret values never shown)."""
        try:
            target = read_env(self._path(step.file))
            changes, extra = alignment(target, read_env(self._path(step.align_with)))
        except (OSError, ValueError) as exc:
            return [f"  cannot read the files now: {getattr(exc, 'strerror', None) or exc}"]
        said = [f"  {k}: {_shown(k, target.get(k))} -> {_shown(k, v)}" for k, v in changes.items()]
        if extra:
            said.append(f"  refused while only this file has: {', '.join(extra)} (remove them by hand first)")
        return said or ["  already aligned: nothing to write"]

    def _path(self, template: str | None) -> Path:
        """A stack file the step names, inside the stack root (OutsideRoot, a ValueError, when
        its variables lead out of it: `../outside/x` once had an .env edit rewrite a file there)."""
        from runbook_tui.files import inside

        return inside(self.config.stack_root, substitute(template or "", self.values), "the file")

    def unset_for(self, step: Step) -> list[str]:
        """The variables a step's action needs that have no value here (shown as not set)."""
        fields = [step.command, step.file, step.broker_host, step.broker_port, step.credentials_from, step.device,
                  step.action, step.params, step.expect_core, step.align_with, *(v for _k, v in step.set_values),
                  *(v for _k, v in step.require), step.lab_command if self.config.lab else None]
        return unset_in("\n".join(substitute(f, self.values) for f in fields if f))

    def _already(self, step_id: str) -> str:
        status = self.statuses[step_id]
        if status.state in (StepState.PENDING, StepState.RUNNING):
            return ""
        when = time.strftime(" at %H:%M:%S", time.localtime(status.finished)) if status.finished else ""
        why = f" ({status.reason})" if status.reason else ""
        lapse = self.lapses.get(step_id)
        if lapse is not None:
            return f"Done{when}, no longer holds: {lapse.detail}. Running it again repeats it."
        if status.state is StepState.FAILED:
            return f"It failed{when}{why}: this is another try."
        if (by := self.superseded().get(step_id)) is not None:
            # Seen: "Bring up the primary" run again after the promotion said only "repeats it".
            return (f"Already {status.state.value}{when}{why}, and undone on purpose since by "
                    f"{substitute(self.checklist.step(by).title, self.values)}: running it again undoes that step.")
        return f"Already {status.state.value}{when}{why}: running it again repeats it."

    def _earlier_open(self, step: Step, same_section: bool = False) -> tuple[str, ...]:
        """The runbook's order is part of its safety (the room is made safe before the primary
        stops): say which required steps before this one (in its section) are still open."""
        earlier = []
        for s in self._steps_before(step, same_section):
            state = self.statuses[s.id].state
            if self._lapsed(s):
                # Done once, undone since: as open as a step never run (seen: the smoke test ran
                # while the DNS name pointed back at the stopped primary).
                earlier.append(f"{substitute(s.title, self.values)} (no longer holds)")
            elif not s.optional and state not in PASSED and state is not StepState.DEFERRED:
                earlier.append(substitute(s.title, self.values))
        return tuple(earlier)

    def _steps_before(self, step: Step, same_section: bool) -> list[Step]:
        """The applicable steps before `step`, in order (only those of its section, if asked)."""
        before = []
        for s in self.applicable_steps():
            if s.id == step.id:
                break
            if not same_section or s.section_id == step.section_id:
                before.append(s)
        return before

    def _lapsed(self, step: Step) -> bool:
        return step.id in self.lapses and self.statuses[step.id].state is StepState.DONE

    def _check_end_to_end(self, step: Step) -> None:
        """A step that proves the run end to end is refused while what it proves is not so: a
        step before it in its section was done and no longer holds (acknowledged or not; seen:
        the smoke test ran and ticked while the DNS name pointed back at the stopped primary).
        Steps not run yet are named by the confirmation as out of order: a smoke test may be run
        to diagnose. The operator can still override the step itself, and the outcome says so."""
        if not step.end_to_end:
            return
        lapsed = [f"{substitute(s.title, self.values)} (no longer holds)" for s in self._steps_before(step, True)
                  if self._lapsed(s)]
        if lapsed:
            raise EngineRefusal(f"{substitute(step.title, self.values)} proves the steps before it end to end, and "
                                f"these no longer hold: {'; '.join(lapsed)}. Make them hold again (or run them again) "
                                "first, or override this step with a reason.")

    def check(self, condition: str) -> Verdict:
        """A condition judged now, on a fresh look at the parts of the room it needs."""
        return evaluate(condition, self._with_fences(self.observer.look(needs(condition))))

    def check_guards(self, step: Step) -> tuple[list[Verdict], RoomObservation | None]:
        """Every guard judged on one fresh look at the room, taken now."""
        if not step.guards:
            return [], None
        obs = self._with_fences(self.observer.look(frozenset().union(*(needs(g) for g in step.guards))))
        return [evaluate(name, obs) for name in step.guards], obs

    def fences(self) -> tuple[Fence, ...]:
        """The hosts this run cut off: each fence step done, by whom, when (the room's name for a
        step the room confirmed, the command for a fence command)."""
        return tuple(self._fence_of(step) for step in self.applicable_steps()
                     if step.fences is not None and self.statuses[step.id].state is StepState.DONE)

    def _fence_of(self, step: Step) -> Fence:
        at_room = self.room_confirmations.get(step.id)
        by = f"{at_room.name} at the room" if at_room is not None else (
            "the site's fence command" if step.type is StepType.COMMAND else self.config.operator)
        how = substitute(step.title, self.values)
        if step.site_command == "fence_command":
            import shlex

            how = f"fence command: {shlex.join(self.config.fence_command)}, run by {self.config.operator}"
        return Fence(step.fences or "", by, self.statuses[step.id].finished or time.time(), how)

    def _with_fences(self, obs: RoomObservation) -> RoomObservation:
        """The observation as the rules judge it in this run: with the run's fences (a host cut off
        on purpose is not in the room's looks, and counts only while it stays unreachable)."""
        fences = self.fences()
        return dataclasses.replace(obs, fences=fences) if fences else obs

    def _require_confirmation(self, step: Step, confirmed: bool, typed_room: str | None) -> None:
        if step.risk is Risk.NORMAL:
            if not (confirmed or typed_room == self.room):
                raise EngineRefusal(f"{step.id}: needs the operator's confirmation")
        elif typed_room != self.room:
            raise EngineRefusal(f"{step.id} is {step.risk.value}: type the room id ({self.room}) to confirm")

    def _check_runnable(self, step: Step) -> None:
        if not step.applies(self.choices):
            raise EngineRefusal(f"{step.id} does not apply with " +
                                ", ".join(f"{c}={self.choices.get(c)}" for c, _ in step.when))
        if self.statuses[step.id].state is StepState.RUNNING:
            raise EngineRefusal(f"{step.id} is already running")

    def _guards_or_override(self, step: Step, override_reason: str | None, typed_room: str | None) -> tuple[bool, list[str]]:
        """Evaluate the guards now. Returns (overridden, evidence lines)."""
        results, obs = self.check_guards(step)
        self.journal.append("guards", step=step.id, results=[{"condition": e.condition, "holds": e.holds,
                                                               "detail": self.masker.mask(e.detail)} for e in results],
                            observation=summary(obs) if obs is not None else None)
        failures = [e for e in results if not e.holds]
        lines = [f"guard {e}" for e in results]
        if not failures:
            return False, lines
        if override_reason is None:
            raise GuardRefused(step.id, failures)
        if typed_room != self.room or not override_reason.strip():
            raise EngineRefusal(f"{step.id}: overriding a guard takes the room id ({self.room}) typed out and a reason")
        self.journal.append("override", step=step.id, what="guard", reason=override_reason,
                            failed=[f.condition for f in failures], operator=self.config.operator,
                            consequences=GuardRefused(step.id, failures).consequences())
        return True, lines

    # ---- operator decisions --------------------------------------------------------------
    def choose(self, choice_id: str, option: str) -> None:
        choice = self.checklist.choices[choice_id]
        if option not in choice.options:
            raise EngineRefusal(f"{option!r} is not an option of {choice_id} ({', '.join(choice.options)})")
        if option != self.choices.get(choice_id):
            # Steps already decided under the current option (a DNS repoint, a smoke test) would
            # silently turn "not used" and the run's outcome would no longer say what happened.
            decided = [substitute(s.title, self.values) for s in self.checklist.steps()
                       if any(c == choice_id for c, _ in s.when) and self.statuses[s.id].state is not StepState.PENDING]
            if decided:
                raise EngineRefusal(f"{choice_id} stays {self.choices.get(choice_id)}: steps were already decided under it "
                                    f"({'; '.join(decided[:3])}{'; ...' if len(decided) > 3 else ''}). "
                                    "To take another path, start a new run.")
        self.choices[choice_id] = option
        self.journal.append("choice", choice=choice_id, option=option, label=choice.options[option].label)
        for step in self.checklist.steps():
            if step.type is StepType.CHOICE and step.choice == choice_id:
                now = time.time()
                self._set(step.id, StepStatus(StepState.DONE, f"chose {option}: {choice.options[option].label}",
                                              (f"operator chose {option}",), now, now))

    def mark_done(self, step_id: str, *, confirmed: bool = False, typed_room: str | None = None, note: str = "") -> StepStatus:
        """The operator's confirmation of an open-loop step."""
        step = self.checklist.step(step_id)
        self._check_runnable(step)
        if step.type is not StepType.CONFIRM:
            raise EngineRefusal(f"{step_id} is a {step.type.value} step: it turns done by running it or on evidence")
        at_room = self.room_confirmations.get(step_id)
        if step.confirm_at_room and at_room is None:
            raise EngineRefusal(f"{substitute(step.title, self.values)} is confirmed by the person at the room first: "
                                "they confirm it in the floor view (w shows its link). Or override it, with a reason.")
        self._check_end_to_end(step)
        self._require_confirmation(step, confirmed, typed_room)
        _overridden, evidence = self._guards_or_override(step, None, typed_room)
        if step.done_when:
            # A confirmation cannot stand in for evidence the checklist asks for.
            sensed = self.check(step.done_when)
            self.journal.append("evidence", step=step_id, condition=sensed.condition, holds=sensed.holds,
                                detail=self.masker.mask(sensed.detail))
            if not sensed.holds:
                raise EngineRefusal(f"{step_id} needs evidence: {sensed}. Fix it, or override the step (with a reason).")
            evidence.append(str(sensed))
        now = time.time()
        self.journal.append("confirmation", step=step_id, operator=self.config.operator, note=note)
        who = f"confirmed by {self.config.operator}"
        if at_room is not None:
            who = f"confirmed at the room by {at_room.name}, then by {self.config.operator}"
            evidence.append(f"confirmed at the room by {at_room.name} at "
                            f"{time.strftime('%H:%M:%S', time.localtime(at_room.at))} (floor view)")
        status = StepStatus(StepState.DONE, f"{note} ({who})" if note else who, tuple(evidence), now, now)
        self._set(step_id, status)
        return status

    def room_confirmation_ids(self) -> frozenset[str]:
        """Every room confirmation id this run has journaled (taken ones are never read again)."""
        with self._lock:
            return frozenset(self._room_confirmation_ids)

    def receive_room_confirmation(self, confirmation: RoomConfirmation) -> str:
        """A confirmation from the person at the room (the floor view). Journaled once, by its
        id; returns "" when taken, else why not (nothing journaled)."""
        with self._lock:
            if confirmation.id in self._room_confirmation_ids:
                return "already taken"
            step = next((s for s in self.applicable_steps() if s.id == confirmation.step), None)
            if step is None or not step.confirm_at_room:
                return f"{confirmation.step} is not a step the room confirms in this run"
            if self.statuses[step.id].state in (StepState.DONE, StepState.SKIPPED, StepState.OVERRIDDEN):
                return f"{confirmation.step} is already {self.statuses[step.id].state.value}"
            if (first := self.room_confirmations.get(step.id)) is not None:
                return f"{confirmation.step} is already confirmed at the room by {first.name}"
            if earlier := self._earlier_open(step, same_section=True):
                # The room confirms what the run has reached: "the device reacted" before any
                # smoke test is not a confirmation of anything. Within the step's section: a
                # setup step of section 1 that cannot hold in an incident does not lock the room out.
                return f"{confirmation.step} is not reached yet: {'; '.join(earlier)} still open"
            self._room_confirmation_ids.add(confirmation.id)
            self.room_confirmations[step.id] = confirmation
            self.journal.append("room_confirmation", step=step.id, id=confirmation.id, name=confirmation.name,
                                at=confirmation.at)
            return ""

    def wrong_room_id(self, step_id: str) -> None:
        """A confirmation refused for a wrong room id. Nothing ran; what was typed is not kept."""
        self.journal.append("wrong_room_id", step=step_id, operator=self.config.operator)

    def skip(self, step_id: str, reason: str) -> StepStatus:
        self._room_first(step_id, "skipped")
        return self._set_with_reason(step_id, StepState.SKIPPED, reason)

    def defer(self, step_id: str, reason: str) -> StepStatus:
        self._room_first(step_id, "deferred")
        return self._set_with_reason(step_id, StepState.DEFERRED, reason)

    def _room_first(self, step_id: str, verb: str) -> None:
        """A step only the room can verify is not passed by a reason alone: the console goes on
        without the room only by an override (the room id typed, and a reason)."""
        step = self.checklist.step(step_id)
        # An optional one is not needed here (the fence, where the primary's host answers): passing
        # it by a reason claims nothing the room would have to see. (Seen: the fence could not be
        # skipped on a site walk, and the phone kept offering it.)
        if step.confirm_at_room and not step.optional and step_id not in self.room_confirmations:
            raise EngineRefusal(f"{substitute(step.title, self.values)} is confirmed at the room: it is not {verb} "
                                "without them. Override it (the room id and a reason) to go on without the room.")

    def override(self, step_id: str, *, typed_room: str, reason: str) -> StepStatus:
        """Count a step as passed without its evidence (recorded, and shown as overridden)."""
        if typed_room != self.room:
            raise EngineRefusal(f"overriding {step_id} takes the room id ({self.room}) typed out")
        # Refused before anything is written: a running step, or no reason, records no override.
        self._check_runnable(self.checklist.step(step_id))
        if not reason.strip():
            raise EngineRefusal(f"{StepState.OVERRIDDEN.value} needs a reason")
        self.journal.append("override", step=step_id, what="step", reason=reason, operator=self.config.operator)
        return self._set_with_reason(step_id, StepState.OVERRIDDEN, reason)

    def _set_with_reason(self, step_id: str, state: StepState, reason: str) -> StepStatus:
        step = self.checklist.step(step_id)
        self._check_runnable(step)
        if not reason.strip():
            raise EngineRefusal(f"{state.value} needs a reason")
        now = time.time()
        status = StepStatus(state, reason, (), now, now)
        self._set(step_id, status)
        return status

    def cancel(self) -> None:
        """Cancel the running command or wait (TERM, then KILL for commands)."""
        if self._cancel is not None:
            self._cancel.set()

    # ---- the live room: ticks, lapses and alarms ---------------------------------------
    @staticmethod
    def condition_of(step: Step) -> str | None:
        """The condition that proves a step: its done_when, or what a wait step waits for."""
        return step.done_when or (step.condition if step.type is StepType.WAIT else None)

    def sense(self, step_id: str) -> Verdict | None:
        """A step's condition judged on a fresh look."""
        name = self.condition_of(self.checklist.step(step_id))
        return self.check(name) if name else None

    def reconcile(self) -> list[str]:
        """One fresh look at the whole room, then what `observe` makes of it (start, resume)."""
        return self.refresh_variables() + self.observe(self.observer.look())

    def refresh_variables(self) -> list[str]:
        """Variables the checklist reads from a stack's .env (`from_env`), read again: a run opened
        before step 1 created the stacks had them unset or at their defaults (seen on a site: the
        DNS step said the standby's address was not set, and the smoke test's port was the
        default, not the .env's). What the operator or the site gave stays. Journaled, so a
        resume takes them."""
        notes: list[str] = []
        envs: dict[str, dict[str, str] | None] = {}  # each stack's .env read once
        for var in self.checklist.variables.values():
            if var.from_env is None or var.name in self.config.given:
                continue
            role, key = var.from_env
            directory = self.values.get(f"{role}_dir") or f"infra/rooms/{self.room}-{role}"
            if directory not in envs:
                try:
                    envs[directory] = read_env(self.config.stack_root / directory / ".env")
                except (OSError, ValueError):
                    envs[directory] = None
            if (env := envs[directory]) is None:
                continue
            value = env.get(key)
            if value and value != self.values.get(var.name):
                self.values[var.name] = value
                self.journal.append("variable", name=var.name, value=self.masker.mask(value), source=f"{directory}/.env {key}")
                notes.append(f"{var.name}: now {self.masker.mask(value)} (from {directory}/.env)")
        return notes

    def observe(self, obs: RoomObservation) -> list[str]:
        """Bring the run in line with an observation of the room, by the rules:

        - a closed-loop step not yet passed turns done where its condition holds;
        - a step done on evidence whose condition no longer holds says so, journaled with the
          observation (and holds the run open until it holds again, is run again, or the
          operator acknowledges it with a reason); when it holds again, that is journaled too;
        - alarms (dual control) are journaled when raised and when cleared.
        A condition whose parts the observation could not see is left alone. Returns notes."""
        notes = []
        obs = self._with_fences(obs)
        with self._lock:
            superseded = self.superseded()
            busy = self._parts_in_flux()
            for step in self.applicable_steps():
                name = self.condition_of(step)
                status = self.statuses[step.id]
                if name is None or step.type is StepType.DISPATCH_SMOKE or step.id == self.running_step:
                    continue  # a dispatch proves itself only by being run; a running step reports itself
                if status.state in (StepState.RUNNING, StepState.SKIPPED, StepState.DEFERRED, StepState.OVERRIDDEN):
                    continue  # the operator's decision stands
                if step.id in superseded:
                    if self.lapses.pop(step.id, None) is not None:
                        self.journal.append("lapse_superseded", step=step.id, by=superseded[step.id])
                        self._emit(LapseChanged(step.id, None))
                    continue  # a later step undid it on purpose (the primary shut down after it was brought up)
                verdict = evaluate(name, obs)
                if not verdict.seen:
                    continue
                lapse = self.lapses.get(step.id)
                if step.optional and step.type in ACTING_TYPES and status.state is not StepState.DONE:
                    # An optional action ("recreate the broker so it reads the new passwd") is
                    # credited on evidence only when the room changed to its effect during the
                    # run: a condition that already held at open says it was not needed, not
                    # that it was done (seen: the report said a broker was recreated that never was).
                    if not verdict.holds:
                        self._seen_undone.add(step.id)
                        continue
                    if step.id not in self._seen_undone:
                        continue
                if status.state in (StepState.PENDING, StepState.FAILED) and verdict.holds:
                    self.journal.append("evidence", step=step.id, condition=name, holds=True,
                                        detail=self.masker.mask(verdict.detail))
                    now = time.time()
                    self._set_locked(step.id, StepStatus(StepState.DONE, "sensed", (str(verdict),), now, now))
                    notes.append(f"{step.id}: done on evidence: {verdict.detail}")
                elif (status.state is StepState.DONE and not verdict.holds and lapse is None and not needs(name) & busy
                      and seen_since(name, obs, status.finished or 0.0)):
                    detail = self.masker.mask(verdict.detail)
                    record = self.journal.append("condition_lapsed", step=step.id, condition=name, detail=detail,
                                                 observation=summary(obs))
                    self.lapses[step.id] = Lapse(name, record["ts"], detail)
                    self._emit(LapseChanged(step.id, self.lapses[step.id]))
                    notes.append(f"{step.id}: no longer holds: {detail}")
                elif status.state is StepState.DONE and not verdict.holds and lapse is not None:
                    detail = self.masker.mask(verdict.detail)
                    if detail != lapse.detail:  # what is seen now, on screen; the journal keeps the first
                        self.lapses[step.id] = dataclasses.replace(lapse, detail=detail)
                        self._emit(LapseChanged(step.id, self.lapses[step.id], news=False))
                elif status.state is StepState.DONE and verdict.holds and lapse is not None:
                    self.journal.append("condition_restored", step=step.id, condition=name,
                                        detail=self.masker.mask(verdict.detail), lapsed_s=round(time.time() - lapse.since, 1))
                    del self.lapses[step.id]
                    self._emit(LapseChanged(step.id, None))
                    notes.append(f"{step.id}: holds again: {verdict.detail}")
            notes += self._observe_alarms(obs)
        return notes

    def _parts_in_flux(self) -> frozenset[str]:
        """The parts of the room the running step is changing (those its own condition looks at,
        but the files). Recreating the standby's core takes it away for a moment: other steps'
        evidence on those parts is not called lost until the step has ended."""
        step = self.checklist.step(self.running_step) if self.running_step else None
        name = self.condition_of(step) if step is not None else None
        return needs(name) - {"files"} if name else frozenset()

    def superseded(self) -> dict[str, str]:
        """Earlier step id -> the done step that undid its evidence on purpose (checklist `supersedes`)."""
        return {earlier: s.id for s in self.applicable_steps() if self.statuses[s.id].state in (StepState.DONE, StepState.OVERRIDDEN)
                for earlier in s.supersedes}

    def _observe_alarms(self, obs: RoomObservation) -> list[str]:
        now_raised = alarms(obs, self.active_alarms)
        before = {a.kind: a for a in self.active_alarms}
        after = {a.kind: a for a in now_raised}
        notes = []
        for kind, alarm in after.items():
            if kind not in before:
                record = self.journal.append("alarm_raised", alarm=kind, reason=self.masker.mask(alarm.reason),
                                             source=alarm.source, observation=summary(obs))
                self.alarm_spans.append(AlarmSpan(kind, record["ts"], None))
                self.alarms_unacknowledged.append(kind)
                self._emit(AlarmChanged(alarm, kind))
                notes.append(f"alarm: {kind}: {alarm.reason}")
            elif alarm != before[kind]:
                self._emit(AlarmChanged(alarm, kind))  # same alarm, new words (e.g. no longer seen to end)
        for kind in before.keys() - after.keys():
            record = self.journal.append("alarm_cleared", alarm=kind, observation=summary(obs))
            close_span(self.alarm_spans, kind, record["ts"])
            self._emit(AlarmChanged(None, kind))
            notes.append(f"alarm cleared: {kind}")
        self.active_alarms = now_raised
        return notes

    def acknowledge_alarms(self, reason: str) -> None:
        """The operator has seen this run's alarms and says what was done about them (the header
        stops keeping them once they ended)."""
        if not reason.strip():
            raise EngineRefusal("acknowledging an alarm needs a reason (what was done about it)")
        with self._lock:
            if self.alarms_unacknowledged:
                self.journal.append("alarm_acknowledged", alarms=list(self.alarms_unacknowledged), reason=reason,
                                    operator=self.config.operator)
                self.alarms_unacknowledged.clear()

    def acknowledge_lapse(self, step_id: str, reason: str) -> None:
        """Go on although a step's evidence no longer holds: recorded with the operator's reason."""
        with self._lock:
            lapse = self.lapses.get(step_id)
            if lapse is None:
                raise EngineRefusal(f"{step_id}: its evidence holds; there is nothing to acknowledge")
            if not reason.strip():
                raise EngineRefusal("acknowledging needs a reason")
            self.journal.append("lapse_acknowledged", step=step_id, condition=lapse.condition, reason=reason,
                                operator=self.config.operator)
            self.lapses[step_id] = dataclasses.replace(lapse, acknowledged=reason)
            self._emit(LapseChanged(step_id, self.lapses[step_id]))

    # ---- running -----------------------------------------------------------------------
    async def run_step(self, step_id: str, *, confirmed: bool = False, typed_room: str | None = None,
                       override_reason: str | None = None) -> StepStatus:
        """Run a step's action after its confirmation; guards are checked now."""
        step = self.checklist.step(step_id)
        self._check_runnable(step)
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
            raise EngineRefusal(f"{substitute(step.title, self.values)}: not run: {no_fence_command(self.room)}. "
                                "Skip it, saying so, or cut the host off at the room.")
        if unset := self.unset_for(step):
            raise EngineRefusal(f"{step_id} needs {', '.join(unset)}, not set on this site: set it in the site settings' "
                                f"[variables] (or [rooms.{self.room}.variables]) or with --var NAME=VALUE")
        self._check_end_to_end(step)
        self._require_confirmation(step, confirmed, typed_room)
        # Sensing takes seconds: off the event loop, so the screen stays live.
        overridden, evidence = await asyncio.to_thread(self._guards_or_override, step, override_reason, typed_room)
        started = time.time()
        self.journal.append("confirmation", step=step_id, operator=self.config.operator, typed_room=typed_room is not None)
        self._set(step_id, StepStatus(StepState.RUNNING, "", tuple(evidence), started))
        self._cancel = asyncio.Event()
        self.running_step = step_id
        cancelled = False
        try:
            ok, reason, more = await self._perform(step)
        except Exception as exc:  # noqa: BLE001 - a failed action is a failed step, never a crash
            ok, reason, more = False, f"{exc.__class__.__name__}: {exc}", []
        finally:
            cancelled = self._cancel.is_set()
            self._cancel = None
            self.running_step = None
        state = (StepState.OVERRIDDEN if overridden else StepState.DONE) if ok else StepState.FAILED
        if state is StepState.FAILED and cancelled and step.type is StepType.WAIT:
            # A wait changes nothing in the room: cancelling it (to run the step after it, say)
            # is no failure. It stays pending and watched, and turns done when its condition holds.
            state, reason = StepState.PENDING, "wait cancelled by the operator; still watched"
        if overridden and ok:
            reason = f"guard overridden: {override_reason}" + (f"; {reason}" if reason else "")
        status = StepStatus(state, reason, tuple(evidence + more), started, time.time())
        self._set(step_id, status)
        return status

    async def _perform(self, step: Step) -> tuple[bool, str, list[str]]:
        try:
            return await self._perform_step(step)
        except UnsafePlaceholder as e:  # the loader refuses such a command; a value (a NUL) can still be
            return False, f"not run: {e}", []

    async def _perform_step(self, step: Step) -> tuple[bool, str, list[str]]:
        if step.type is StepType.COMMAND and step.site_command == "fence_command":
            return await self._run_command(step, self.config.fence_command, None)
        if step.type is StepType.COMMAND:
            return await self._run_command(step, substitute(step.command or "", self.values, shell=True), step.done_when)
        if step.type is StepType.ENV_EDIT:
            ok, reason, lines = await self._edit_env(step)
            if ok and step.done_when:  # the file as read back, by the rule that watches it from now on
                ok, reason, more = await self._wait_for(step, step.done_when, self.config.settle_s)
                lines += more
            return ok, reason, lines
        if step.type is StepType.WAIT:
            evidence: list[str] = []
            if self.config.lab and step.lab_command:
                ok, reason, evidence = await self._run_command(step, substitute(step.lab_command, self.values, shell=True), None)
                if not ok:
                    return ok, reason, evidence
            ok, reason, more = await self._wait_for(step, step.condition or "", step.timeout_s)
            return ok, reason, evidence + more
        if step.type is StepType.DISPATCH_SMOKE:
            return await self._smoke(step)
        raise AssertionError(step.type)

    def engine_of(self, step: Step) -> str:
        """The Docker engine a step acts on, as the plan, the confirmation and the journal say it."""
        return engine_words(step.stack, self.config.docker_hosts)

    def _command_env(self, step: Step | None = None) -> dict[str, str]:
        # As in the lab: a stack's own .env keys are never taken from the environment (compose
        # would let them win), and the tool's own commands (runbook-tui) are on the PATH.
        # Each stack's engine, from the site settings: the step's own stack as DOCKER_HOST, and
        # both as RUNBOOK_<ROLE>_DOCKER_HOST for the scripts that act on a stack by name.
        keys: set[str] = set()
        for path in self._env_files():
            if path.is_file():
                keys |= set(read_env(path))
        env = {k: v for k, v in os.environ.items() if k not in keys}
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        if not self.config.lab:
            env["RUNBOOK_SITE"] = "1"  # the runbook's scripts refuse the lab's defaults on a site
        else:
            env.pop("RUNBOOK_SITE", None)
        for role, host in self.config.docker_hosts.items():
            env[f"RUNBOOK_{role.upper()}_DOCKER_HOST"] = host
        if step is not None and step.stack is not None and step.stack in self.config.docker_hosts:
            env["DOCKER_HOST"] = self.config.docker_hosts[step.stack]
        return env

    def refresh_secrets(self) -> None:
        """Re-read the secrets to mask: section 1 creates .env files, section 5 changes them."""
        self.masker = Masker.from_env_files(self._env_files())

    async def _run_command(self, step: Step, command: str | tuple[str, ...], done_when: str | None) -> tuple[bool, str, list[str]]:
        """Run a step's bash command, or (a tuple) the site's argv as it is, without a shell."""
        self.refresh_secrets()
        if isinstance(command, tuple):
            import shlex

            masked = self.masker.mask(shlex.join(command))
            self.journal.append("command_started", step=step.id, command=masked, cwd=str(self.config.stack_root),
                                argv=[self.masker.mask(w) for w in command], shell=False, engine=None)
            self._emit(StepOutput(step.id, f"$ {masked}   (the site's fence command, without a shell)"))
        else:
            masked = self.masker.mask(command)
            engine = self.engine_of(step)
            self.journal.append("command_started", step=step.id, command=masked, cwd=str(self.config.stack_root),
                                stack=step.stack, engine=engine)
            self._emit(StepOutput(step.id, f"$ {masked}" + (f"   (on {engine})" if step.stack else "")))
        try:
            result = await run_command(command, self.config.stack_root, timeout_s=step.timeout_s, masker=self.masker,
                                       on_line=lambda line: self._emit(StepOutput(step.id, line)),
                                       env=self._command_env(step), cancel=self._cancel)
        except OSError as exc:  # the site's program is missing or not executable: said, and the step fails
            self.journal.append("command_finished", step=step.id, command=masked, exit_code=None, timed_out=False,
                                cancelled=False, duration_s=0.0, output=[f"not run: {exc.strerror or exc}"])
            return False, f"not run: {command[0] if isinstance(command, tuple) else 'bash'}: {exc.strerror or exc}", []
        self.refresh_secrets()  # the command may have created or changed a .env (section 1, 5)
        self.refresh_variables()
        self.journal.append("command_finished", step=step.id, command=masked, exit_code=result.exit_code,
                            timed_out=result.timed_out, cancelled=result.cancelled,
                            duration_s=round(result.duration_s, 3), output=list(result.output_tail))
        if result.timed_out:
            return False, f"timed out after {step.timeout_s:g}s (stopped: TERM, then KILL)", []
        if result.cancelled:
            return False, "cancelled by the operator (stopped: TERM, then KILL)", []
        if result.exit_code != 0:
            last = result.output_tail[-1] if result.output_tail else ""
            return False, f"exit code {result.exit_code}" + (f": {last}" if last else ""), []
        if step.capture_as and result.output_tail:
            value = result.output_tail[-1].strip()
            self.values[step.capture_as] = value
            self.journal.append("variable", name=step.capture_as, value=self.masker.mask(value), step=step.id)
        if done_when:
            return await self._wait_for(step, done_when, self.config.settle_s, exited_ok=True)
        if isinstance(command, tuple):  # what the fence rests on, in the step's evidence
            return True, "exit code 0", [f"the site's fence command exited 0: {masked}"]
        return True, "exit code 0", []

    async def _wait_for(self, step: Step, condition: str, timeout_s: float, exited_ok: bool = False) -> tuple[bool, str, list[str]]:
        deadline = time.monotonic() + timeout_s
        while True:
            evidence = await asyncio.to_thread(self.check, condition)
            if evidence.holds:
                self.journal.append("evidence", step=step.id, condition=condition, holds=True,
                                    detail=self.masker.mask(evidence.detail))
                return True, "", [str(evidence)]
            if time.monotonic() >= deadline or (self._cancel is not None and self._cancel.is_set()):
                self.journal.append("evidence", step=step.id, condition=condition, holds=False,
                                    detail=self.masker.mask(evidence.detail))
                prefix = "exit code 0 but " if exited_ok else ""
                why = "cancelled" if self._cancel is not None and self._cancel.is_set() else f"not within {timeout_s:g}s"
                return False, f"{prefix}{condition} does not hold ({why}): {evidence.detail}", [str(evidence)]
            if self._cancel is None:
                await asyncio.sleep(self.config.wait_poll_s)
                continue
            try:
                await asyncio.wait_for(self._cancel.wait(), self.config.wait_poll_s)
            except TimeoutError:
                pass

    async def _edit_env(self, step: Step) -> tuple[bool, str, list[str]]:
        path = self._path(step.file)
        require = [(k, substitute(v, self.values)) for k, v in step.require]  # filled in as the plan shows them
        changes = {k: substitute(v, self.values) for k, v in step.set_values}

        def edit_file():
            # Off the event loop: reading, proving and writing a large file must not freeze the screen.
            snapshot = EnvSnapshot.read(path)
            current = snapshot.values()
            wrong = [f"{k}={current.get(k, '(unset)')} (the step keeps {k}={v})" for k, v in require if current.get(k) != v]
            if wrong:
                raise EnvEditError("refused: " + "; ".join(wrong))
            if step.align_with:  # the source is read now, under the same refusal rules
                source = self._path(step.align_with)
                wanted, extra = alignment(current, read_env(source))
                if extra:
                    raise EnvEditError(f"refused: only {path.name} has {', '.join(extra)}, which {source} lacks: "
                                       "remove them by hand (or add them there), then run this again")
                changes.update(wanted)
                if not changes:
                    return None
            elif all(current.get(k) == v for k, v in changes.items()):
                return None  # the file already says it: no write, and no backup of an unchanged file
            return apply_edit(snapshot, changes)

        try:
            edit = await asyncio.to_thread(edit_file)
        except OSError as exc:
            return False, f"{exc.filename or path}: {exc.strerror or exc}", []
        except (EnvEditError, ValueError) as exc:
            return False, str(exc), []
        if edit is None:
            line = (f"{path.name}: already aligned with {self._path(step.align_with)}: nothing written" if step.align_with else
                    f"{path.name}: already says {', '.join(f'{k}={_shown(k, v)}' for k, v in changes.items())}: nothing written")
            self._emit(StepOutput(step.id, line))
            return True, "", [line]

        self.refresh_secrets()
        lines = [f"{path.name}: {k}: {_shown(k, edit.before[k])} -> {_shown(k, v)}" for k, v in changes.items()]
        lines.append(f"backup: {edit.backup.name}; read back and verified")
        self.journal.append("env_edit", step=step.id, file=str(path), backup=str(edit.backup),
                            changes={k: {"from": _shown(k, edit.before[k]), "to": _shown(k, v)} for k, v in changes.items()})
        for line in lines:
            self._emit(StepOutput(step.id, line))
        return True, "", lines

    async def _smoke(self, step: Step) -> tuple[bool, str, list[str]]:
        creds_file = self.config.stack_root / substitute(step.credentials_from or "", self.values)
        try:
            env = read_env(creds_file)
        except (OSError, ValueError) as exc:
            return False, f"{creds_file}: {getattr(exc, 'strerror', None) or exc}", []
        port = substitute(step.broker_port or "", self.values).strip()
        if not port.isdigit() or not 0 < int(port) < 65536:
            return False, f"the broker port {port!r} is not a port number (1 to 65535): set {step.broker_port}", []
        broker = BrokerEndpoint(substitute(step.broker_host or "", self.values), int(port),
                                env.get("MQTT_USERNAME") or None, env.get("MQTT_PASSWORD") or None)
        try:
            params = json.loads(substitute(step.params or "null", self.values))
        except ValueError:
            params = substitute(step.params or "", self.values)
        request = DispatchRequest(self.room, substitute(step.device or "", self.values), substitute(step.action or "", self.values), params)
        self.journal.append("dispatch_sent", step=step.id, id=request.id, broker=str(broker), device=request.device,
                            action=request.action)
        self._emit(StepOutput(step.id, f"-> dispatch {request.id} via {broker}: {request.device} {request.action}"))
        loop = asyncio.get_running_loop()

        def note(event) -> None:
            arrow = "->" if event.stage == "dispatch" else "<-"
            loop.call_soon_threadsafe(self._emit, StepOutput(step.id, f"{arrow} {event.stage} +{event.at_ms} ms ({event.topic})"))

        # paho is imported here, not at start-up: the first frame does not need it.
        from runbook_tui.smoke_dispatch import Verdict as DispatchVerdict
        from runbook_tui.smoke_dispatch import dispatch_and_wait

        outcome = await asyncio.to_thread(dispatch_and_wait, broker, request, Topics.from_env(env), step.timeout_s, note)
        self.journal.append("dispatch_outcome", step=step.id, id=request.id, verdict=outcome.verdict.name.lower(),
                            reason=outcome.reason, ack_ms=outcome.latency_ms("ack"), complete_ms=outcome.latency_ms("complete"),
                            events=[{"stage": e.stage, "at_ms": e.at_ms} for e in outcome.events])
        if outcome.verdict is DispatchVerdict.COMPLETE:
            stack = next((e.detail.get("stack") for e in outcome.events if e.stage == "result"), "?")
            expected = substitute(step.expect_core, self.values) if step.expect_core else None
            if expected and stack != expected:
                return False, f"the dispatch completed, but through core {stack}, not {expected}", []
            # Which device, through which endpoint: on a site these are the venue's, and the record says so.
            return True, "", [f"dispatch {request.id} to {request.device} via {broker}: ack {outcome.latency_ms('ack')} ms, "
                              f"complete {outcome.latency_ms('complete')} ms (core {stack})"]
        missing = outcome.missing()
        return False, f"{outcome.verdict.name.lower().replace('_', ' ')}: {outcome.reason}" + (
            f" (not seen: {', '.join(missing)})" if missing else ""), []
