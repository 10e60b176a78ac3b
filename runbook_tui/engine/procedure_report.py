"""The report's "Non-normal procedures" section, and the timeline's words for their records: each
episode of each procedure with its times (queued, opened, its steps worked, worked to its end,
cleared, dismissed), and every breach of a continuously applicable condition. From the journal's
records alone, like the rest of the report.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from runbook_tui.engine import records as rec


def _clock(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "-"


def _after(ts: float, since: float) -> str:
    return f" ({round(ts - since)} s after it was queued)"


def procedures_section(typed: Sequence[rec.Record]) -> list[str]:
    """The section's lines (after its heading): one block per episode, then the breaches. Each
    record goes to its own procedure's block: two procedures open at once (resolvers that disagree
    point the name away too) have their records interleaved in the journal, and a line under the
    other's heading would be read as the other's."""
    blocks: list[list[str]] = []
    current: dict[str, tuple[list[str], float]] = {}  # procedure -> its newest episode's block, queued at
    for r in typed:
        if isinstance(r, rec.ProcedureQueued):
            by = "raised from the venue view" if r.source == "venue" else f"{r.condition} held {r.held_s:g} s"
            block = [f"### {r.title or r.procedure} (`{r.procedure}`)" + (f", episode {r.episode}" if r.episode > 1 else ""),
                     "", f"- {_clock(r.ts)} queued: {by}: {r.detail}"]
            block += [f"  - seen: {k}: {v}" for k, v in (r.observation or {}).items() if k != "at"]
            blocks.append(block)
            current[r.procedure] = (block, r.ts)
        elif isinstance(r, rec.StepStateRecord) and r.procedure in current and r.state != "running":
            current[r.procedure][0].append(f"- {_clock(r.ts)} worked: `{r.step}` {r.state}"
                                           + (f" ({r.reason})" if r.reason else ""))
        elif isinstance(r, rec.ProcedureOpened | rec.ProcedureWorked | rec.ProcedureDismissed | rec.ProcedureCleared):
            if r.procedure in current:
                block, since = current[r.procedure]
                block.append(f"- {_clock(r.ts)} {procedure_said(r, with_name=False)}{_after(r.ts, since)}")
    out = [line for i, block in enumerate(blocks) for line in ([""] if i else []) + block]
    holds = [r for r in typed if isinstance(r, rec.HoldBreached | rec.HoldRestored)]
    if holds:
        out += ["", "### Conditions that hold throughout", ""]
        out += [f"- {_clock(r.ts)} {procedure_said(r)}" for r in holds]
    return out or ["None."]


def procedure_said(r: rec.Record, with_name: bool = True) -> str | None:
    """A procedure's record in the timeline's words (None: not one of them)."""
    name = f"procedure {getattr(r, 'procedure', '')}: " if with_name else ""
    match r:
        case rec.ProcedureQueued():
            return f"{name}queued ({r.title}): {r.detail}"
        case rec.ProcedureOpened():
            return f"{name}opened by {r.operator or '?'}"
        case rec.ProcedureWorked():
            return f"{name}worked to its end"
        case rec.ProcedureDismissed():
            return f"{name}dismissed by {r.operator or '?'}: {r.reason}"
        case rec.ProcedureCleared():
            how = "by itself, none of its steps worked" if r.by_itself else "while it was worked (or after it was dismissed)"
            return f"{name}its condition cleared {how} (held {r.held_s:g} s): {r.detail}"
        case rec.HoldBreached():
            where = f" ({r.procedure})" if r.procedure else ""
            return f"no longer holds throughout{where}: {r.condition}, at step {r.step or '-'}: {r.detail}"
        case rec.HoldRestored():
            where = f" ({r.procedure})" if r.procedure else ""
            return f"holds again{where}: {r.condition}, at step {r.step or '-'}: {r.detail}"
    return None
