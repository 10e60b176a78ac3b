"""What the engine tells the rest of the product: step states and statuses, the events it
posts while a run goes on, its refusals, and the preview of an action.

Apart from engine/run.py so that the TUI can draw the checklist's states and take the engine's
events without loading the engine's actions, journal, observer and rules: this module imports
nothing of the product at run time but engine/states.py (the step states, all the TUI's first
frame needs of the engine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

# Re-exported: the engine, the rules and the UI name them through the events.
from runbook_tui.engine.states import PASSED as PASSED
from runbook_tui.engine.states import StepState as StepState
from runbook_tui.errors import RunbookError

if TYPE_CHECKING:
    from runbook_tui.checklist.model import Risk
    from runbook_tui.rules.conditions import Verdict
    from runbook_tui.rules.room import Alarm


@dataclass(frozen=True)
class Lapse:
    """A step done on evidence whose condition no longer holds."""

    condition: str
    since: float
    detail: str
    acknowledged: str = ""  # the operator's reason, once acknowledged


@dataclass(frozen=True)
class LapseChanged:
    step_id: str
    lapse: Lapse | None  # None: the condition holds again (or the step was decided anew)
    news: bool = True  # False: the same lapse, described anew (what is seen now)


@dataclass(frozen=True)
class AlarmChanged:
    alarm: Alarm | None  # None: cleared
    kind: str


@dataclass(frozen=True)
class StepStatus:
    state: StepState = StepState.PENDING
    reason: str = ""
    evidence: tuple[str, ...] = ()
    started: float | None = None
    finished: float | None = None


@dataclass(frozen=True)
class StepChanged:
    step_id: str
    status: StepStatus


@dataclass(frozen=True)
class StepSensed:
    """A step turned done on evidence the engine sensed in the room (nobody ran it just now)."""

    step_id: str
    detail: str


@dataclass(frozen=True)
class StepOutput:
    step_id: str
    line: str


class EngineRefusal(RunbookError):
    """The call was refused before anything was changed; the message says why."""


class GuardRefused(EngineRefusal):
    def __init__(self, step_id: str, failures: list[Verdict]) -> None:
        super().__init__(f"{step_id}: guard refused: " + "; ".join(str(f) for f in failures))
        self.step_id = step_id
        self.failures = failures

    def consequences(self) -> list[str]:
        """What each failed guard protects against: what running the step anyway may cause."""
        from runbook_tui.rules.conditions import protects

        return list(dict.fromkeys(c for f in self.failures if (c := protects(f.condition))))


@dataclass(frozen=True)
class ActionPreview:
    """What running a step would do, for the confirmation: exact commands and what they touch."""

    step_id: str
    title: str
    risk: Risk
    lines: tuple[str, ...]
    affects: tuple[str, ...]
    guards: tuple[str, ...]
    needs_typed_room: bool
    earlier_open: tuple[str, ...] = ()  # titles of required steps before this one not yet passed or deferred
    already: str = ""  # the step's state when it has been decided before: running it again is a second run
    unset: tuple[str, ...] = ()  # variables its action needs that are not set on this site: it will not run


@dataclass(frozen=True)
class ProcedureStatus:
    """A non-normal procedure queued in this run, as the journal tells it (engine/procedures.py)."""

    id: str
    title: str
    condition: str
    detail: str  # the trigger's words when it was queued
    queued_at: float
    episode: int = 1
    source: str = "trigger"  # "trigger": the room raised it; "venue": raised by hand from the venue view
    opened_at: float | None = None
    worked_at: float | None = None
    dismissed_at: float | None = None
    dismissed_reason: str = ""
    cleared_at: float | None = None  # the condition stopped holding
    cleared_by_itself: bool = False  # ... with none of its steps worked and not dismissed (the record says)

    @property
    def open(self) -> bool:
        """Queued and neither worked to its end nor dismissed: the run cannot end complete."""
        return self.worked_at is None and self.dismissed_at is None


@dataclass(frozen=True)
class ProcedureChanged:
    procedure: str
    what: str  # queued / opened / worked / dismissed / cleared
    status: ProcedureStatus


@dataclass(frozen=True)
class HoldChanged:
    """A continuously applicable condition stopped holding (breached) or holds again."""

    condition: str
    breached: bool
    detail: str
    step_id: str | None  # the step the operator is at, which the breach is journaled against
    procedure: str | None = None  # the procedure whose `holds` it is (None: the checklist's)
