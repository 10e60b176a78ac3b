"""A drill's figures and its place among the scenario's earlier drills, from journals alone.

What a drill is judged on: the time to its goal (verified dispatch where the checklist runs a
smoke test; a run finished complete where it has none, as keeping the standby current), and the
trainee's own mistakes. A fault showing itself is not one: the first failure of a step the
scenario's fault (or a fault the trainer injected) is known to fail is the fault's, said apart.
And the reaction to each non-normal procedure the fault brought on: from its trigger firing (the
procedure queued) to the trainee opening it, to its condition clearing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from runbook_tui.engine import records as rec
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.replay import plan_from_record, replay, started_of
from runbook_tui.files import CHECKLIST_CAP, open_regular

# The two goals a drill is timed to, as the report names them.
TO_DISPATCH = "to verified dispatch"
TO_COMPLETE = "to a complete run"


class Reaction(TypedDict):
    """One episode of a non-normal procedure, timed from its trigger firing (the record that
    queued it: its condition had then held its hold time, `held_s`)."""
    procedure: str
    title: str
    episode: int
    held_s: float
    source: str  # "trigger", or "venue": raised by hand from the venue view (no hold time of its own)
    to_opened_s: float | None
    to_worked_s: float | None
    to_cleared_s: float | None
    cleared_by_itself: bool
    dismissed: bool


class DrillFigures(TypedDict):
    total_s: float | None
    to_verified_dispatch_s: float | None
    measure: str  # TO_DISPATCH or TO_COMPLETE: what `measured_s` times
    measured_s: float | None
    guard_refusals: int
    overrides: int
    failed_steps: list[str]  # the trainee's: failures that are no fault's symptom
    fault_symptoms: list[str]  # failures the faults made, not counted as mistakes
    wrong_room_ids: int
    injected: list[str]  # faults the trainer added during the run
    reactions: list[Reaction]  # one per procedure episode queued, in the order they fired


def reactions(typed: Sequence[rec.Record]) -> list[Reaction]:
    """Each episode's times, from the journal's procedure records: an episode's opening, working,
    clearing and dismissal are the first such records after it was queued (until it is queued again)."""
    out: list[Reaction] = []
    current: dict[str, tuple[float, Reaction]] = {}  # procedure -> (when its episode fired, its reaction)
    for r in typed:
        if isinstance(r, rec.ProcedureQueued):
            reaction: Reaction = {"procedure": r.procedure, "title": r.title or r.procedure, "episode": r.episode,
                                  "held_s": r.held_s, "source": r.source, "to_opened_s": None, "to_worked_s": None, "to_cleared_s": None,
                                  "cleared_by_itself": False, "dismissed": False}
            out.append(reaction)
            current[r.procedure] = (r.ts, reaction)
        elif isinstance(r, rec.ProcedureOpened | rec.ProcedureWorked | rec.ProcedureCleared | rec.ProcedureDismissed):
            if r.procedure not in current:
                continue
            fired, reaction = current[r.procedure]
            after = round(r.ts - fired, 3)
            if isinstance(r, rec.ProcedureOpened) and reaction["to_opened_s"] is None:
                reaction["to_opened_s"] = after
            elif isinstance(r, rec.ProcedureWorked) and reaction["to_worked_s"] is None:
                reaction["to_worked_s"] = after
            elif isinstance(r, rec.ProcedureCleared) and reaction["to_cleared_s"] is None:
                reaction["to_cleared_s"], reaction["cleared_by_itself"] = after, r.by_itself
            elif isinstance(r, rec.ProcedureDismissed):
                reaction["dismissed"] = True
    return out


def reaction_said(r: Reaction) -> str:
    episode = f", episode {r['episode']}" if r["episode"] > 1 else ""
    opened = ("opened after " + duration(r["to_opened_s"])) if r["to_opened_s"] is not None else "never opened"
    parts = [opened]
    if r["to_worked_s"] is not None:
        parts.append(f"worked to its end after {duration(r['to_worked_s'])}")
    if r["dismissed"]:
        parts.append("dismissed")
    if r["to_cleared_s"] is not None:
        parts.append(f"its condition cleared{' by itself' if r['cleared_by_itself'] else ''} after "
                     f"{duration(r['to_cleared_s'])}")
    else:
        parts.append("its condition never cleared")
    fired = ("raised from the venue view" if r["source"] == "venue"
             else f"its condition held {r['held_s']:g} s when it fired")
    return f"  - {r['title']} (`{r['procedure']}`{episode}), {fired}: " + "; ".join(parts)


def _measure(started: rec.RunStarted) -> str:
    """A checklist that runs no smoke test is timed to its complete end (journals written before
    the steps' types were recorded: to verified dispatch, as they always were)."""
    types = [s.get("type") for s in started.steps or ()]
    if any(t is not None for t in types) and "dispatch_smoke" not in types:
        return TO_COMPLETE
    return TO_DISPATCH


def _failures(typed: Sequence[rec.Record], started: rec.RunStarted) -> tuple[list[str], list[str]]:
    """(the trainee's failed steps, the faults' symptoms). The scenario's fault is in from the run's
    start; an injected one from its record until healed. Each fault excuses the first failure of
    each step it is known to fail: the same failure again is the trainee's (the fix not made)."""
    expected: dict[str, set[str]] = {}  # fault -> its steps not failed yet
    if started.drill:
        expected[started.drill] = set(started.drill_symptoms)
    mistakes: list[str] = []
    symptoms: list[str] = []
    for r in typed:
        if isinstance(r, rec.FaultInjected):
            expected[r.fault] = set(r.symptoms)
        elif isinstance(r, rec.FaultHealed) and r.fault != started.drill:
            expected.pop(r.fault, None)
        elif isinstance(r, rec.StepStateRecord) and r.state == "failed":
            fault = next((f for f, steps in expected.items() if r.step in steps), None)
            if fault is None:
                mistakes.append(r.step)
            else:
                expected[fault].discard(r.step)
                symptoms.append(f"{r.step} ({fault})")
    return mistakes, symptoms


def drill_figures(records: list[dict[str, Any]]) -> DrillFigures:
    """What a drill is judged on, from its journal."""
    # With the plan run_started lists (when it says enough), as the report's own replay has it.
    run = replay(records, plan_from_record(started_of(records)))
    started = run.started
    typed = rec.read_all(records)
    # Until it last became finished, as the report's "Finished" says; a run reopened since: its declared end.
    finished = run.finished_at or (run.declared.at if run.declared is not None else None)
    verified = next((r.ts for r in typed if isinstance(r, rec.DispatchOutcome) and r.verdict == "complete"), None)
    mistakes, symptoms = _failures(typed, started)
    measure = _measure(started)
    complete = finished is not None and run.outcome.verdict == "complete"
    to_dispatch = (verified - started.ts) if verified else None
    return {
        "total_s": (finished - started.ts) if finished else None,
        "to_verified_dispatch_s": to_dispatch,
        "measure": measure,
        "measured_s": to_dispatch if measure == TO_DISPATCH else (
            (finished - started.ts) if complete and finished else None),
        "guard_refusals": sum(1 for r in typed if isinstance(r, rec.GuardsJudged) and r.refused),
        "overrides": sum(1 for r in typed if isinstance(r, rec.Overridden)),
        "failed_steps": mistakes,
        "fault_symptoms": symptoms,
        "wrong_room_ids": sum(1 for r in typed if isinstance(r, rec.WrongRoomId)),
        # Faults the trainer added during the run: its figures are not the trainee's own.
        "injected": [r.fault for r in typed if isinstance(r, rec.FaultInjected)],
        "reactions": reactions(typed),
    }


def mistakes(figures: DrillFigures) -> int:
    return figures["guard_refusals"] + len(figures["failed_steps"]) + figures["wrong_room_ids"]


def _rank(figures: DrillFigures) -> tuple[int, int, float]:
    """Best first: the fewest mistakes, then the fewest overrides, then the fastest to the goal.
    A fast run full of mistakes is no one's model."""
    measured = figures["measured_s"]
    return mistakes(figures), figures["overrides"], measured if measured is not None else float("inf")


def drill_summary(records: list[dict[str, Any]], started: rec.RunStarted) -> list[str]:
    f = drill_figures(records)
    return [
        f"- Scenario: {started.drill}" + (" (blind: the trainee's screens said DRILL only)" if started.blind else ""),
        f"- Time to verified dispatch: {duration(f['to_verified_dispatch_s'])}",
        *([f"- Time {TO_COMPLETE} (this scenario's measure: its checklist runs no smoke test): "
           f"{duration(f['measured_s'])}"] if f["measure"] == TO_COMPLETE else []),
        f"- Total time: {duration(f['total_s'])}",
        f"- Mistakes: {mistakes(f)} (guard refusals {f['guard_refusals']}, wrong room ids {f['wrong_room_ids']}, "
        f"failed steps: {', '.join(f['failed_steps']) or 'none'})",
        *([f"- The fault showing itself (not mistakes): {', '.join(f['fault_symptoms'])} failed"]
          if f["fault_symptoms"] else []),
        f"- Overrides: {f['overrides']}",
        *(["- Reaction to the non-normal procedures, timed from each one's trigger firing (queued):",
           *(reaction_said(r) for r in f["reactions"])] if f["reactions"] else
          ["- Non-normal procedures: none queued"]),
        *([f"- Faults the trainer injected during the run: {', '.join(f['injected'])} (this run is not compared "
           "as the trainee's own)"] if f["injected"] else []),
    ]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _first_record(path: Path) -> rec.RunStarted | None:
    try:
        # The first line only, and never more of it than a run_started record of the largest
        # checklist takes (a regular file: a FIFO named *.jsonl does not hang the report).
        with open(open_regular(path, "run journal"), "rb") as f:
            first = json.loads(f.readline(4 * CHECKLIST_CAP))
    except (OSError, ValueError):
        return None
    started = rec.read(first) if isinstance(first, dict) else None
    return started if isinstance(started, rec.RunStarted) else None


Row = tuple[Path, rec.RunStarted, DrillFigures]


def drill_history(journal_path: Path, records: list[dict[str, Any]]) -> list[str]:
    started = started_of(records)
    this = Path(journal_path).resolve()
    rows: list[Row] = []
    if rec.first(records, rec.RunFinished) is not None:
        rows.append((this, started, drill_figures(records)))
    for path in sorted(Path(journal_path).parent.glob("*.jsonl")):
        if path.resolve() == this:
            continue
        first = _first_record(path)  # the scenario is on the first line: no need to read other drills' runs
        # Runs started before this one only: a drill's report reads the same when exported again later.
        if first is None or first.drill != started.drill or first.ts > started.ts:
            continue
        try:
            other = read_journal(path).records
            if rec.first(other, rec.RunFinished) is None:
                continue
            rows.append((path.resolve(), first, drill_figures(other)))
        except (OSError, KeyError, TypeError, ValueError):
            continue  # a damaged journal is left out of the comparison, not the end of the report
    if not rows:
        return ["No finished drill of this scenario yet."]
    rows.sort(key=lambda row: row[1].ts)
    compared = [f for _p, _s, f in rows if f["measured_s"] is not None and not f["injected"]]
    best = min(compared, key=_rank) if compared else None
    goal = rows[0][2]["measure"]
    out = [*_trainee_comparison(rows, this, started), "",
           f"Best: the fewest mistakes, then overrides, then the fastest {goal}.", ""]
    out += [f"| when | operator | {goal} | total | mistakes | |", "|---|---|---|---|---|---|"]
    for path, s, f in rows:
        marks = []
        if path == this:
            marks.append("this run")
        if f["injected"]:
            marks.append(f"trainer injected {', '.join(f['injected'])}: not compared")
        elif f is best:
            marks.append("best")
        out.append(f"| {_when(s)} | {_md_cell(s.operator or '?')} | {duration(f['measured_s'])} | "
                   f"{duration(f['total_s'])} | {mistakes(f)} | {', '.join(marks)} |")
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _when(started: rec.RunStarted) -> str:
    return time.strftime('%Y-%m-%d %H:%M', time.localtime(started.ts))


def _against(now: float | None, then: float | None) -> str:
    if now is None or then is None:
        return "no comparison (one of them never reached the goal)"
    delta = now - then
    if abs(delta) < 0.05:
        return "the same"
    return f"{duration(abs(delta))} {'faster' if delta < 0 else 'slower'}"


def _trainee_comparison(rows: Sequence[Row], this: Path, started: rec.RunStarted) -> list[str]:
    """This run against the same trainee's earlier runs of the scenario, and against the best before it."""
    trainee = started.operator or "?"
    mine = next((f for p, _s, f in rows if p == this), None)
    if mine is None:  # the report of a run that has not finished yet: nothing to compare
        return [f"This run is not finished; {len(rows)} finished drill(s) of this scenario are listed below."]
    if mine["injected"]:
        return [f"- Not compared: the trainer injected {', '.join(mine['injected'])} during this run."]
    own = [(p, s, f) for p, s, f in rows if not f["injected"]]  # a run with a trainer's fault is no one's own time
    earlier = [(s, f) for p, s, f in own if p != this and (s.operator or "?") == trainee and s.ts < started.ts]
    now, goal = mine["measured_s"], mine["measure"]
    if not earlier:
        out = [f"- First drill of this scenario for {trainee}."]
    else:
        last_s, last = earlier[-1]
        own_timed = [f for _s, f in earlier if f["measured_s"] is not None]
        own_best = min(own_timed, key=_rank)["measured_s"] if own_timed else None
        out = [f"- {trainee}'s earlier drills of this scenario: {len(earlier)}.",
               f"- Against {trainee}'s last ({_when(last_s)}): {goal} {_against(now, last['measured_s'])}; "
               f"mistakes {mistakes(mine)} against {mistakes(last)}.",
               f"- Against {trainee}'s own best ({duration(own_best)}): {_against(now, own_best)}."]
    before = [(s, f) for p, s, f in own if p != this and s.ts < started.ts and f["measured_s"] is not None]
    if before:
        best_s, best = min(before, key=lambda sf: _rank(sf[1]))
        out.append(f"- Against the best run before this one ({duration(best['measured_s'])} by "
                   f"{best_s.operator or '?'}, {_when(best_s)}, {mistakes(best)} mistakes): "
                   f"{_against(now, best['measured_s'])}.")
    return out
