"""When a non-normal procedure's trigger fires: its condition held for its hold time,
continuously, on the room's observations. Pure: the run's engine and the venue view judge the
same observations the same way.

An episode starts at the first observation on which the condition holds and ends at the first on
which it is seen not holding; it fires once, when it has held `holds_for_s`, and says when it
cleared. An observation that cannot see a part the condition needs (Verdict.seen False) neither
advances nor ends an episode: what cannot be seen says nothing about the room.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from runbook_tui.observe.model import RoomObservation
from runbook_tui.rules.conditions import Verdict, evaluate_many


@dataclass(frozen=True)
class TriggerSpec:
    """What the rules judge of a procedure's trigger (the checklist's Trigger, without steps)."""

    procedure: str
    condition: str
    holds_for_s: float


@dataclass(frozen=True)
class Episode:
    procedure: str
    since: float  # the first observation on which the condition held
    fired_at: float | None  # when it had held holds_for_s (None: not long enough yet)
    detail: str  # the condition's words on the newest observation it held on


@dataclass(frozen=True)
class TriggerChange:
    procedure: str
    what: str  # "fired" or "cleared"
    at: float
    detail: str
    held_s: float  # how long the condition had held


FIRED, CLEARED = "fired", "cleared"
Judge = Callable[[Iterable[str], RoomObservation], Mapping[str, Verdict]]


def advance(specs: Sequence[TriggerSpec], obs: RoomObservation, episodes: Mapping[str, Episode],
            judge: Judge = evaluate_many) -> tuple[dict[str, Episode], tuple[TriggerChange, ...]]:
    """The episodes after `obs`, and what fired or cleared on it. `specs`: the triggers armed now
    (an episode of a trigger no longer armed is dropped without a word: nothing judged it)."""
    now = obs.at
    out: dict[str, Episode] = {}
    changes: list[TriggerChange] = []
    verdicts = judge({spec.condition for spec in specs}, obs)
    for spec in specs:
        before = episodes.get(spec.procedure)
        verdict = verdicts[spec.condition]
        if not verdict.seen:
            if before is not None:
                out[spec.procedure] = before
            continue
        if verdict.holds:
            since = before.since if before is not None else now
            fired_at = before.fired_at if before is not None else None
            if fired_at is None and now - since >= spec.holds_for_s:
                fired_at = now
                changes.append(TriggerChange(spec.procedure, FIRED, now, verdict.detail, now - since))
            out[spec.procedure] = Episode(spec.procedure, since, fired_at, verdict.detail)
        elif before is not None and before.fired_at is not None:
            changes.append(TriggerChange(spec.procedure, CLEARED, now, verdict.detail, now - before.since))
    return out, tuple(changes)


class RoomTriggers:
    """One room's episodes over time (the venue keeps one per room with no run open). No I/O."""

    def __init__(self, specs: Sequence[TriggerSpec]) -> None:
        self.specs = tuple(specs)
        self.episodes: dict[str, Episode] = {}

    def see(self, obs: RoomObservation) -> tuple[TriggerChange, ...]:
        self.episodes, changes = advance(self.specs, obs, self.episodes)
        return changes

    def fired(self) -> tuple[Episode, ...]:
        """The episodes that fired and have not cleared."""
        return tuple(e for e in self.episodes.values() if e.fired_at is not None)
