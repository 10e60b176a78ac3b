"""A step's state: what the TUI's first frame needs from the engine, without building the
events' dataclasses (engine/events.py)."""

from __future__ import annotations

from enum import StrEnum


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    OVERRIDDEN = "overridden"


PASSED = frozenset({StepState.DONE, StepState.SKIPPED, StepState.OVERRIDDEN})
