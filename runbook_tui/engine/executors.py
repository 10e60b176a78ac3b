"""Running a step's action, one executor per step type that acts: a command, an .env edit, a wait,
the dispatch smoke test. Each returns (ok, reason, evidence lines) and journals what it does; the
engine (engine/run.py) has checked the step, its confirmation and its guards before, and records the
step's state after.

How to add a step type that acts: its kind in checklist/kinds.py (StepType) and its fields in
checklist/model.py and the loader; an executor here, registered in EXECUTORS; ACTING_TYPES in
engine/replay.py if it changes the room; its record kinds in engine/records.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from runbook_tui.checklist.model import Step, StepType, substitute
from runbook_tui.checklist.plan import engine_words
from runbook_tui.engine import records as rec
from runbook_tui.engine.envedit import EnvEdit, EnvEditError, EnvSnapshot, apply_edit
from runbook_tui.engine.events import StepOutput
from runbook_tui.engine.previews import shown, stack_path
from runbook_tui.engine.shell import run_command
from runbook_tui.envfile import read_env
from runbook_tui.mqtt_contract import BrokerEndpoint, DispatchRequest, Topics
from runbook_tui.secrets import Masker
from runbook_tui.stacks import alignment

if TYPE_CHECKING:
    from runbook_tui.engine.run import RunEngine
    from runbook_tui.smoke_dispatch import FlowEvent

Result = tuple[bool, str, list[str]]


def env_files(engine: RunEngine) -> list[Path]:
    """The stacks' .env files: their secrets are masked in everything the run says."""
    root, values = engine.config.stack_root, engine.values
    dirs = [values.get(k) for k in ("primary_dir", "standby_dir")]
    dirs += [f"infra/rooms/{values.get('room')}-{role}" for role in ("primary", "standby")]
    # The defaults usually name the same folders as the variables: read each file once.
    return list(dict.fromkeys(root / d / ".env" for d in dirs if d))


def refresh_secrets(engine: RunEngine) -> None:
    """Re-read the secrets to mask: section 1 creates .env files, section 5 changes them."""
    engine.masker = Masker.from_env_files(env_files(engine))


def engine_of(engine: RunEngine, step: Step) -> str:
    """The Docker engine a step acts on, as the plan, the confirmation and the journal say it."""
    return engine_words(step.stack, engine.config.docker_hosts)


class Executor:
    """What the executors share: commands, and waiting for a condition to hold."""

    def __init__(self, engine: RunEngine) -> None:
        self.engine = engine

    async def perform(self, step: Step) -> Result:
        raise NotImplementedError

    def say(self, step: Step, line: str) -> None:
        self.engine.emit(StepOutput(step.id, line))

    def command_env(self, step: Step | None = None) -> dict[str, str]:
        # As in the lab: a stack's own .env keys are never taken from the environment (compose
        # would let them win), and the tool's own commands (runbook-tui) are on the PATH.
        # Each stack's engine, from the site settings: the step's own stack as DOCKER_HOST, and
        # both as RUNBOOK_<ROLE>_DOCKER_HOST for the scripts that act on a stack by name.
        config = self.engine.config
        keys: set[str] = set()
        for path in env_files(self.engine):
            if path.is_file():
                keys |= set(read_env(path))
        env = {k: v for k, v in os.environ.items() if k not in keys}
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        if not config.lab:
            env["RUNBOOK_SITE"] = "1"  # the runbook's scripts refuse the lab's defaults on a site
        else:
            env.pop("RUNBOOK_SITE", None)
        for role, host in config.docker_hosts.items():
            env[f"RUNBOOK_{role.upper()}_DOCKER_HOST"] = host
        if step is not None and step.stack is not None and step.stack in config.docker_hosts:
            env["DOCKER_HOST"] = config.docker_hosts[step.stack]
        return env

    async def run_command(self, step: Step, command: str | tuple[str, ...], done_when: str | None) -> Result:
        """Run a step's bash command, or (a tuple) the site's argv as it is, without a shell."""
        e = self.engine
        refresh_secrets(e)
        if isinstance(command, tuple):
            import shlex

            masked = e.masker.mask(shlex.join(command))
            e.journal.write(rec.CommandStarted(step=step.id, command=masked, cwd=str(e.config.stack_root),
                                               argv=[e.masker.mask(w) for w in command], shell=False, engine=None))
            self.say(step, f"$ {masked}   (the site's fence command, without a shell)")
        else:
            masked = e.masker.mask(command)
            engine = engine_of(e, step)
            e.journal.write(rec.CommandStarted(step=step.id, command=masked, cwd=str(e.config.stack_root),
                                               stack=step.stack, engine=engine))
            self.say(step, f"$ {masked}" + (f"   (on {engine})" if step.stack else ""))
        try:
            result = await run_command(command, e.config.stack_root, timeout_s=step.timeout_s, masker=e.masker,
                                       on_line=lambda line: self.say(step, line), env=self.command_env(step),
                                       cancel=e.cancel_event)
        except OSError as exc:  # the site's program is missing or not executable: said, and the step fails
            e.journal.write(rec.CommandFinished(step=step.id, command=masked, exit_code=None, timed_out=False,
                                                cancelled=False, duration_s=0.0, output=[f"not run: {exc.strerror or exc}"]))
            return False, f"not run: {command[0] if isinstance(command, tuple) else 'bash'}: {exc.strerror or exc}", []
        refresh_secrets(e)  # the command may have created or changed a .env (section 1, 5)
        e.live.refresh_variables()
        e.journal.write(rec.CommandFinished(step=step.id, command=masked, exit_code=result.exit_code,
                                            timed_out=result.timed_out, cancelled=result.cancelled,
                                            duration_s=round(result.duration_s, 3), output=list(result.output_tail)))
        if result.timed_out:
            return False, f"timed out after {step.timeout_s:g}s (stopped: TERM, then KILL)", []
        if result.cancelled:
            return False, "cancelled by the operator (stopped: TERM, then KILL)", []
        if result.exit_code != 0:
            last = result.output_tail[-1] if result.output_tail else ""
            return False, f"exit code {result.exit_code}" + (f": {last}" if last else ""), []
        if step.capture_as and result.output_tail:
            value = result.output_tail[-1].strip()
            e.values[step.capture_as] = value
            e.journal.write(rec.VariableSet(name=step.capture_as, value=e.masker.mask(value), step=step.id))
        if done_when:
            return await self.wait_for(step, done_when, e.config.settle_s, exited_ok=True)
        if isinstance(command, tuple):  # what the fence rests on, in the step's evidence
            return True, "exit code 0", [f"the site's fence command exited 0: {masked}"]
        return True, "exit code 0", []

    async def wait_for(self, step: Step, condition: str, timeout_s: float, exited_ok: bool = False) -> Result:
        e = self.engine
        deadline = time.monotonic() + timeout_s
        while True:
            evidence = await asyncio.to_thread(e.check, condition)
            cancel = e.cancel_event
            if evidence.holds:
                e.journal.write(rec.EvidenceSeen(step=step.id, condition=condition, holds=True,
                                                 detail=e.masker.mask(evidence.detail)))
                return True, "", [str(evidence)]
            if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
                e.journal.write(rec.EvidenceSeen(step=step.id, condition=condition, holds=False,
                                                 detail=e.masker.mask(evidence.detail)))
                prefix = "exit code 0 but " if exited_ok else ""
                why = "cancelled" if cancel is not None and cancel.is_set() else f"not within {timeout_s:g}s"
                return False, f"{prefix}{condition} does not hold ({why}): {evidence.detail}", [str(evidence)]
            if cancel is None:
                await asyncio.sleep(e.config.wait_poll_s)
                continue
            try:
                await asyncio.wait_for(cancel.wait(), e.config.wait_poll_s)
            except TimeoutError:
                pass


class CommandExecutor(Executor):
    async def perform(self, step: Step) -> Result:
        if step.site_command == "fence_command":
            return await self.run_command(step, self.engine.config.fence_command, None)
        return await self.run_command(step, substitute(step.command or "", self.engine.values, shell=True), step.done_when)


class WaitExecutor(Executor):
    async def perform(self, step: Step) -> Result:
        e = self.engine
        evidence: list[str] = []
        if e.config.lab and step.lab_command:
            ok, reason, evidence = await self.run_command(step, substitute(step.lab_command, e.values, shell=True), None)
            if not ok:
                return ok, reason, evidence
        ok, reason, more = await self.wait_for(step, step.condition or "", step.timeout_s)
        return ok, reason, evidence + more


class EnvEditExecutor(Executor):
    async def perform(self, step: Step) -> Result:
        ok, reason, lines = await self.edit(step)
        if ok and step.done_when:  # the file as read back, by the rule that watches it from now on
            ok, reason, more = await self.wait_for(step, step.done_when, self.engine.config.settle_s)
            lines += more
        return ok, reason, lines

    async def edit(self, step: Step) -> Result:
        e = self.engine
        path = stack_path(e, step.file)
        require = [(k, substitute(v, e.values)) for k, v in step.require]  # filled in as the plan shows them
        changes = {k: substitute(v, e.values) for k, v in step.set_values}

        def edit_file() -> EnvEdit | None:  # None: the file already says it
            # Off the event loop: reading, proving and writing a large file must not freeze the screen.
            snapshot = EnvSnapshot.read(path)
            current = snapshot.values()
            wrong = [f"{k}={current.get(k, '(unset)')} (the step keeps {k}={v})" for k, v in require if current.get(k) != v]
            if wrong:
                raise EnvEditError("refused: " + "; ".join(wrong))
            if step.align_with:  # the source is read now, under the same refusal rules
                source = stack_path(e, step.align_with)
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
            line = (f"{path.name}: already aligned with {stack_path(e, step.align_with)}: nothing written" if step.align_with else
                    f"{path.name}: already says {', '.join(f'{k}={shown(k, v)}' for k, v in changes.items())}: nothing written")
            self.say(step, line)
            return True, "", [line]

        refresh_secrets(e)
        lines = [f"{path.name}: {k}: {shown(k, edit.before[k])} -> {shown(k, v)}" for k, v in changes.items()]
        lines.append(f"backup: {edit.backup.name}; read back and verified")
        e.journal.write(rec.EnvEdited(step=step.id, file=str(path), backup=str(edit.backup),
                                      changes={k: {"from": shown(k, edit.before[k]), "to": shown(k, v)}
                                               for k, v in changes.items()}))
        for line in lines:
            self.say(step, line)
        return True, "", lines


class DispatchSmokeExecutor(Executor):
    async def perform(self, step: Step) -> Result:
        e = self.engine
        creds_file = e.config.stack_root / substitute(step.credentials_from or "", e.values)
        try:
            env = read_env(creds_file)
        except (OSError, ValueError) as exc:
            return False, f"{creds_file}: {getattr(exc, 'strerror', None) or exc}", []
        port = substitute(step.broker_port or "", e.values).strip()
        if not port.isdigit() or not 0 < int(port) < 65536:
            return False, f"the broker port {port!r} is not a port number (1 to 65535): set {step.broker_port}", []
        broker = BrokerEndpoint(substitute(step.broker_host or "", e.values), int(port),
                                env.get("MQTT_USERNAME") or None, env.get("MQTT_PASSWORD") or None)
        try:
            params = json.loads(substitute(step.params or "null", e.values))
        except ValueError:
            params = substitute(step.params or "", e.values)
        request = DispatchRequest(e.room, substitute(step.device or "", e.values), substitute(step.action or "", e.values),
                                  params)
        e.journal.write(rec.DispatchSent(step=step.id, id=request.id, broker=str(broker), device=request.device,
                                         action=request.action))
        self.say(step, f"-> dispatch {request.id} via {broker}: {request.device} {request.action}")
        loop = asyncio.get_running_loop()

        def note(event: FlowEvent) -> None:
            arrow = "->" if event.stage == "dispatch" else "<-"
            loop.call_soon_threadsafe(self.say, step, f"{arrow} {event.stage} +{event.at_ms} ms ({event.topic})")

        # paho is imported here, not at start-up: the first frame does not need it.
        from runbook_tui.smoke_dispatch import Verdict as DispatchVerdict
        from runbook_tui.smoke_dispatch import dispatch_and_wait

        outcome = await asyncio.to_thread(dispatch_and_wait, broker, request, Topics.from_env(env), step.timeout_s, note)
        e.journal.write(rec.DispatchOutcome(step=step.id, id=request.id, verdict=outcome.verdict.name.lower(),
                                            reason=outcome.reason, ack_ms=outcome.latency_ms("ack"),
                                            complete_ms=outcome.latency_ms("complete"),
                                            events=[{"stage": ev.stage, "at_ms": ev.at_ms} for ev in outcome.events]))
        if outcome.verdict is DispatchVerdict.COMPLETE:
            stack = next((ev.detail.get("stack") for ev in outcome.events if ev.stage == "result"), "?")
            expected = substitute(step.expect_core, e.values) if step.expect_core else None
            if expected and stack != expected:
                return False, f"the dispatch completed, but through core {stack}, not {expected}", []
            # Which device, through which endpoint: on a site these are the venue's, and the record says so.
            return True, "", [f"dispatch {request.id} to {request.device} via {broker}: ack {outcome.latency_ms('ack')} ms, "
                              f"complete {outcome.latency_ms('complete')} ms (core {stack})"]
        missing = outcome.missing()
        return False, f"{outcome.verdict.name.lower().replace('_', ' ')}: {outcome.reason}" + (
            f" (not seen: {', '.join(missing)})" if missing else ""), []


EXECUTORS: dict[StepType, type[Executor]] = {
    StepType.COMMAND: CommandExecutor,
    StepType.ENV_EDIT: EnvEditExecutor,
    StepType.WAIT: WaitExecutor,
    StepType.DISPATCH_SMOKE: DispatchSmokeExecutor,
}
