"""The non-normal procedures the person at the room sees on the floor view: each one queued in the
run, still open, that has a step for them to confirm. Told as the floor tells steps (floor.py):
titles and states from the journal's replay, no command and no variable value. A procedure's
steps are read from the checklist the run was started with (same version, by its sha256), as
the replay reads a plan the journal does not list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook_tui.checklist.kinds import procedure_letter, substitute
from runbook_tui.engine.events import PASSED, StepState

if TYPE_CHECKING:
    from runbook_tui.engine.floor import FloorStep
    from runbook_tui.engine.replay import RunState

ProcedureSteps = tuple[tuple[str, str, bool, bool], ...]  # (step id, title, confirmed at the room, optional)


@dataclass(frozen=True)
class FloorProcedure:
    id: str
    title: str
    detail: str  # what its trigger saw, without .env values
    steps: tuple[FloorStep, ...]  # numbered 1, 2, ... within the procedure (shown A1, A2, ... with its letter)
    letter: str = "A"  # its letter among the checklist's procedures, as on paper and on the console


def procedures_at_room(run: RunState, checklist: Mapping[str, Any],
                       without_values: Callable[[str], str]) -> tuple[FloorProcedure, ...]:
    """The run's open procedures with a step the room confirms, in the order they were queued."""
    from runbook_tui.engine.floor import FloorStep

    out = []
    every = _steps_of(checklist)
    for status in sorted(run.procedures.values(), key=lambda p: p.queued_at):
        steps = every.get(status.id, ())
        if not status.open or not any(at_room for _id, _title, at_room, _optional in steps):
            continue
        told: list[FloorStep] = []
        reached = True  # every required step before it passed: the room may confirm it
        for number, (step_id, title, at_room, optional) in enumerate(steps, 1):
            step = run.statuses.get(step_id)
            state = step.state if step is not None else StepState.PENDING
            detail = ((step.evidence[-1] if step.evidence else "") or step.reason) if step is not None else ""
            confirmation = run.room_confirmations.get(step_id)
            told.append(FloorStep(step_id, number, substitute(title, dict(run.values)), state.value,
                                  without_values(detail), at_room, confirmation.name if confirmation else "",
                                  (step.finished or step.started) if step is not None else None, reached=reached,
                                  confirmation_id=confirmation.id if confirmation else ""))
            if not optional and state not in PASSED and state is not StepState.DEFERRED:
                reached = False
        out.append(FloorProcedure(status.id, status.title, without_values(status.detail), tuple(told),
                                  procedure_letter(list(every).index(status.id))))
    return tuple(out)


def _steps_of(checklist: Mapping[str, Any]) -> dict[str, ProcedureSteps]:
    path = checklist.get("path")
    if not isinstance(path, str):
        return {}
    try:
        stat = Path(path).stat()
    except OSError:
        return {}
    sha256 = checklist.get("sha256")
    return _read_steps(path, sha256 if isinstance(sha256, str) else None, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _read_steps(path: str, sha256: str | None, _mtime_ns: int, _size: int) -> dict[str, ProcedureSteps]:
    """Each procedure's steps, read once per version of the file (the floor view looks twice a second)."""
    from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist

    try:
        checklist = load_checklist(path)
    except (ChecklistInvalid, OSError):
        return {}
    if checklist.sha256 != sha256:
        return {}  # another version of the checklist than the run's: its steps are not the run's
    return {p.id: tuple((s.id, s.title, s.confirm_at_room, s.optional) for s in p.steps) for p in checklist.procedures}
