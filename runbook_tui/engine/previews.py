"""What running a step would do, said before it runs: the exact commands and what they touch, what
an alignment would write, the steps before it still open, what it already did in this run, and the
variables it needs that this site has not set. Reads the run; changes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from runbook_tui.checklist.model import Risk, Step, substitute, unset_in
from runbook_tui.checklist.plan import step_action
from runbook_tui.engine.events import PASSED, ActionPreview, StepState
from runbook_tui.engine.replay import open_before, plan_from_checklist
from runbook_tui.envfile import read_env
from runbook_tui.secrets import MASK, SECRET_KEY
from runbook_tui.stacks import alignment

if TYPE_CHECKING:
    from runbook_tui.engine.run import RunEngine


def shown(key: str, value: str | None) -> str:
    """A .env value as the screen and the journal say it: a secret's never."""
    return MASK if SECRET_KEY.search(key) else (value if value is not None else "(unset)")


def stack_path(engine: RunEngine, template: str | None) -> Path:
    """A stack file the step names, inside the stack root (OutsideRoot, a ValueError, when
    its variables lead out of it: `../outside/x` once had an .env edit rewrite a file there)."""
    from runbook_tui.files import inside

    return inside(engine.config.stack_root, substitute(template or "", engine.values), "the file")


def unset_for(engine: RunEngine, step: Step) -> list[str]:
    """The variables a step's action needs that have no value here (shown as not set)."""
    fields = [step.command, step.file, step.broker_host, step.broker_port, step.credentials_from, step.device,
              step.action, step.params, step.expect_core, step.align_with, *(v for _k, v in step.set_values),
              *(v for _k, v in step.require), step.lab_command if engine.config.lab else None]
    return unset_in("\n".join(substitute(f, engine.values) for f in fields if f))


def earlier_open(engine: RunEngine, step: Step, same_section: bool = False) -> tuple[str, ...]:
    """The required steps before this one (in its section) still open, by the replay's rule
    (replay.open_before), titled with the run's values now. A procedure's step: the steps of its
    procedure before it not passed."""
    if step.procedure is not None:
        before = []
        for s in engine.checklist.procedure(step.procedure).steps:
            if s.id == step.id:
                break
            if not s.optional and engine.statuses[s.id].state not in PASSED and engine.statuses[s.id].state is not StepState.DEFERRED:
                before.append(substitute(s.title, engine.values))
        return tuple(before)
    return open_before(plan_from_checklist(engine.checklist, engine.values), engine.choices, engine.statuses,
                       engine.lapses, step.id, same_section)


def preview(engine: RunEngine, step_id: str) -> ActionPreview:
    step = engine.checklist.step(step_id)
    config = engine.config
    lines = step_action(step, engine.values, config.lab, config.docker_hosts, config.fence_command)
    if step.align_with:
        lines += _alignment_said(engine, step)
    if (at_room := engine.room_confirmations.get(step_id)) is not None:
        lines.append(f"  confirmed at the room by {at_room.name} at "
                     f"{time.strftime('%H:%M:%S', time.localtime(at_room.at))}; you confirm after them")
    return ActionPreview(step.id, substitute(step.title, engine.values), step.risk, tuple(lines),
                         tuple(substitute(a, engine.values) for a in step.affects), step.guards,
                         step.risk is not Risk.NORMAL, earlier_open(engine, step), _already(engine, step_id),
                         tuple(unset_for(engine, step)))


def _alignment_said(engine: RunEngine, step: Step) -> list[str]:
    """What aligning would write now, for the confirmation (secret values never shown)."""
    try:
        target = read_env(stack_path(engine, step.file))
        changes, extra = alignment(target, read_env(stack_path(engine, step.align_with)))
    except (OSError, ValueError) as exc:
        return [f"  cannot read the files now: {getattr(exc, 'strerror', None) or exc}"]
    said = [f"  {k}: {shown(k, target.get(k))} -> {shown(k, v)}" for k, v in changes.items()]
    if extra:
        said.append(f"  refused while only this file has: {', '.join(extra)} (remove them by hand first)")
    return said or ["  already aligned: nothing to write"]


def _already(engine: RunEngine, step_id: str) -> str:
    status = engine.statuses[step_id]
    if status.state in (StepState.PENDING, StepState.RUNNING):
        return ""
    when = time.strftime(" at %H:%M:%S", time.localtime(status.finished)) if status.finished else ""
    why = f" ({status.reason})" if status.reason else ""
    lapse = engine.lapses.get(step_id)
    if lapse is not None:
        return f"Done{when}, no longer holds: {lapse.detail}. Running it again repeats it."
    if status.state is StepState.FAILED:
        return f"It failed{when}{why}: this is another try."
    if (by := engine.superseded().get(step_id)) is not None:
        # Seen: "Bring up the primary" run again after the promotion said only "repeats it".
        return (f"Already {status.state.value}{when}{why}, and undone on purpose since by "
                f"{substitute(engine.checklist.step(by).title, engine.values)}: running it again undoes that step.")
    return f"Already {status.state.value}{when}{why}: running it again repeats it."
