"""The venue's non-normal procedures: for each room with no run open, the triggers of the
procedures its checklist names, judged by the same pure rules as a run's (rules/triggers.py) on
each of the venue's looks. A procedure whose trigger fired and has not cleared is raised on the
room's row; Enter there opens the room's run on it (ui/venue.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbook_tui.checklist.kinds import substitute
from runbook_tui.rules.triggers import RoomTriggers

if TYPE_CHECKING:
    from runbook_tui.checklist.model import Checklist
    from runbook_tui.observe.model import RoomObservation
    from runbook_tui.rules.triggers import TriggerChange


@dataclass(frozen=True)
class Raised:
    """A procedure raised on a room's row: its trigger fired and its condition still holds."""

    procedure: str
    title: str
    detail: str  # the condition's words on the newest look
    since: float  # when the condition was first seen holding

    @property
    def short(self) -> str:
        """For a table cell: the title up to its colon ("Dual control")."""
        return self.title.split(":", 1)[0]


class VenueProcedures:
    """Per room: its procedures' triggers, and what is raised. Judged on the looks' threads."""

    def __init__(self, checklists: dict[str, Path]) -> None:
        self.checklists = checklists  # room -> the checklist its run opens with (which names its procedures)
        self.lock = threading.Lock()
        self.triggers: dict[str, RoomTriggers] = {}
        self.loaded: dict[str, Checklist | None] = {}

    def checklist(self, room: str) -> Checklist | None:
        """The room's checklist, loaded at its first look (None: it names no procedure, or does not load;
        the chooser says why when the room is opened)."""
        if room not in self.loaded:
            from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
            from runbook_tui.engine.procedures import venue_specs

            try:
                loaded: Checklist | None = load_checklist(self.checklists[room])
            except (ChecklistInvalid, OSError, KeyError):
                loaded = None
            self.loaded[room] = loaded
            self.triggers[room] = RoomTriggers(venue_specs(loaded) if loaded is not None else ())
        return self.loaded[room]

    def see(self, room: str, obs: RoomObservation) -> tuple[tuple[Raised, ...], tuple[TriggerChange, ...], float | None]:
        """What is raised on the room after this look, what fired or cleared on it, and the
        soonest time (obs.at) an episode under way will have held long enough (None: none under way)."""
        with self.lock:
            checklist = self.checklist(room)
            triggers = self.triggers[room]
            changes = triggers.see(obs)
            values = {"room": room}
            raised = tuple(Raised(e.procedure, substitute(checklist.procedure(e.procedure).title, values), e.detail, e.since)
                           for e in triggers.fired() if checklist is not None)
            holds = {s.procedure: s.holds_for_s for s in triggers.specs}
            pending = [e.since + holds[e.procedure] for e in triggers.episodes.values() if e.fired_at is None]
            return raised, changes, min(pending) if pending else None
