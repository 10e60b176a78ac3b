"""The after-action report: a run's journal rendered as Markdown.

Built from the journal alone, so it can be produced after a crash, on another machine, or
long after the incident; every line of it can be traced to a record.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from runbook_tui.engine import records as rec
from runbook_tui.engine.events import StepStatus
from runbook_tui.engine.journal import read_journal, read_run
from runbook_tui.engine.replay import RunState, replay, started_of
from runbook_tui.files import CHECKLIST_CAP, open_regular

OVERRIDE_WORDS = {"guard": "run despite the guard", "step": "marked done without evidence"}


def _clock(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _steps_in_order(run: RunState) -> list[tuple[str, str, StepStatus | None]]:
    """(id, title, status or None) in the checklist's order, for the steps that apply with the
    run's final choices (and those decided under another). Journals written before run_started
    listed the steps: the order the states were recorded in, without titles."""
    if not run.started.steps:
        return [(step_id, "", status) for step_id, status in run.statuses.items()]
    return [(s.id, s.title, run.statuses.get(s.id)) for s in run.plan if s.applies(run.choices) or s.id in run.statuses]


def _when_said(ts: float) -> str:
    return time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts))


def render_report(journal_path: Path) -> str:
    contents = read_journal(journal_path)
    records = contents.records
    # The run's state by the one replay (engine/replay.py) the console and the floor view use.
    run = read_run(journal_path, records)
    started = run.started
    checklist = started.checklist
    outcome = run.outcome
    out = [
        f"# After-action report: {checklist['name']} ({checklist['revision']})",
        "",
        f"- Room: **{started.room}**{' (training lab)' if started.lab else ''}",
        *([f"- Drill scenario: {started.drill}"] if started.drill else []),
        f"- Operator: {started.operator or '?'}",
        *([f"- Settings: {started.settings}"] if started.settings else []),
        f"- Checklist: `{checklist['id']}` {checklist['revision']}, sha256 `{checklist['sha256']}`",
        f"- Started: {_when_said(started.ts)}",
    ]
    for fenced in rec.of_kind(records, rec.Fenced):
        # A lost host passed by evidence of its own kind: said as what it was, never as an override.
        out.append(f"- {fenced.role.capitalize()} host lost, fenced by {fenced.by} at "
                   f"{time.strftime('%H:%M:%S', time.localtime(fenced.ts))}: {fenced.how}")
    if run.declared is not None:
        if run.finished_at is not None:
            # When it last became finished: evidence lost and regained after a finish moves it.
            out.append(f"- Finished: {_when_said(run.finished_at)} ({_duration(run.finished_at - started.ts)})")
        else:
            out.append(f"- Finished: declared at {_when_said(run.declared.at)}, then reopened: not finished at the end "
                       "of the journal")
        # In the outcome's own words: every step passed without evidence, every alarm of the run
        # (also those raised after it was declared finished).
        out.append(f"- Outcome: **{outcome.text(records[-1]['ts'])}**")
    elif run.abandoned is not None:
        out.append(f"- Outcome: **abandoned** at {_when_said(run.abandoned[0])}: {run.abandoned[1]}")
    else:
        out.append("- Outcome: **not finished** (the run did not reach its end; resume it from this journal)")
        out.append(f"- So far: **{outcome.text(records[-1]['ts'])}**")
    if run.abandoned is None:
        if outcome.lapsed:
            out.append(f"- Evidence no longer holding at the end: {', '.join(outcome.lapsed)}")
        if outcome.deferred:
            out.append(f"- Deferred: {', '.join(outcome.deferred)}")
        if outcome.open:
            out.append(f"- Not done: {', '.join(outcome.open)}")
        if outcome.optional_open:
            out.append(f"- Optional, not done: {', '.join(outcome.optional_open)}")
    if contents.torn:
        out.append(f"- {len(contents.torn)} incomplete record(s) from a crash were skipped")

    out += ["", "## Steps", "", "| step | state | time taken | reason / evidence |", "|---|---|---|---|"]
    superseded = run.superseded()
    for step_id, title, status in _steps_in_order(run):
        name = f"{title} (`{step_id}`)" if title else step_id
        if status is None and (by := superseded.get(step_id)):
            out.append(f"| {name.replace('|', '/')} | superseded | - | ended on purpose by `{by}` |")
            continue
        if status is None:
            out.append(f"| {name.replace('|', '/')} | not decided | - | |")
            continue
        # A confirmation or a sensed step has no span of its own: "-" rather than a made-up 0.0s.
        taken = (status.finished - status.started) if status.finished and status.started and status.finished > status.started \
            else None
        state, parts = status.state.value, [status.reason, *status.evidence]
        if (lapse := run.lapses.get(step_id)) is not None and status.state.value == "done":
            # As the console shows it: done once, and its evidence no longer holds.
            state = "done, no longer holds" + (" (acknowledged)" if lapse.acknowledged else "")
            parts = [f"no longer holds since {_clock(lapse.since)}: {lapse.detail}",
                     *([f"acknowledged: {lapse.acknowledged}"] if lapse.acknowledged else []), *parts]
        detail = "; ".join(x for x in parts if x)
        out.append(f"| {name.replace('|', '/')} | {state} | {_duration(taken)} | {detail.replace('|', '/')} |")

    spans = run.alarm_spans
    out += ["", "## Alarms", ""]
    typed = rec.read_all(records)
    raised_at = {r.ts: r for r in typed if isinstance(r, rec.AlarmRaised)}
    for span in spans:
        raised = raised_at.get(span.started) or rec.AlarmRaised(alarm=span.kind)
        lasted = (f"until {_clock(span.ended)} ({_duration(span.ended - span.started)})" if span.ended
                  else "still raised at the end of the journal")
        out.append(f"- {_clock(span.started)} {span.kind.replace('_', ' ')}: {raised.reason}; {lasted}")
        seen = raised.observation or {}
        out += [f"  - seen: {k}: {v}" for k, v in seen.items() if k != "at"]
    out += [f"- {_clock(r.ts)} acknowledged by {r.operator or '?'}: {r.reason}" for r in typed
            if isinstance(r, rec.AlarmAcknowledged)]
    if not spans:
        out.append("None.")

    lapses = [r for r in typed if isinstance(r, (rec.ConditionLapsed, rec.ConditionRestored, rec.LapseAcknowledged,
                                                 rec.LapseSuperseded))]
    out += ["", "## Evidence that stopped holding", ""]
    out += [f"- {_clock(r.ts)} {_said(r)}" for r in lapses] or ["None."]

    overrides = [r for r in typed if isinstance(r, rec.Overridden)]
    out += ["", "## Overrides", ""]
    out += [f"- {_clock(r.ts)} {r.step}: {OVERRIDE_WORDS.get(r.what, r.what)} by {r.operator or '?'}: {r.reason}"
            + (f" (failed: {', '.join(r.failed)})" if r.failed else "")
            + (f"; risked: {'; '.join(r.consequences)}" if r.consequences else "") for r in overrides] or ["None."]
    refusals = [r for r in typed if isinstance(r, rec.GuardsJudged) and r.refused]
    out += ["", "## Guard refusals and overridden guards", ""]
    out += [f"- {_clock(r.ts)} {r.step}: " + "; ".join(f"{x['condition']}: {x['detail']}" for x in r.results if not x["holds"])
            for r in refusals] or ["None."]
    deferred = [(k, st) for k, st in run.statuses.items() if st.state.value in ("deferred", "skipped")]
    out += ["", "## Deferred and skipped", ""]
    out += [f"- {k}: {st.state.value}: {st.reason}" for k, st in deferred] or ["None."]

    if started.drill:
        out += ["", "## Drill", ""] + _drill_summary(records, started)
        out += ["", "## Drill history (this scenario, in this journal folder)", ""] + _drill_history(journal_path, records)

    out += ["", "## Timeline", ""]
    for r in typed:
        line = _said(r)
        if line:
            out.append(f"- {_clock(r.ts)} {line}")

    # Every record, one line each, so the report can be checked against the journal.
    out += ["", "## Journal", "", "| seq | time | record |", "|---|---|---|"]
    for raw, r in zip(records, typed, strict=True):
        out.append(f"| {raw.get('seq')} | {_clock(r.ts)} | {_record_summary(raw, r).replace('|', '/')} |")
    return "\n".join(out) + "\n"


def drill_figures(records: list[dict]) -> dict:
    """What a drill is judged on, from its journal."""
    run = replay(records)
    started = run.started
    typed = rec.read_all(records)
    # Until it last became finished, as the report's "Finished" says; a run reopened since: its declared end.
    finished = run.finished_at or (run.declared.at if run.declared is not None else None)
    verified = next((r.ts for r in typed if isinstance(r, rec.DispatchOutcome) and r.verdict == "complete"), None)
    return {
        "total_s": (finished - started.ts) if finished else None,
        "to_verified_dispatch_s": (verified - started.ts) if verified else None,
        "guard_refusals": sum(1 for r in typed if isinstance(r, rec.GuardsJudged) and r.refused),
        "overrides": sum(1 for r in typed if isinstance(r, rec.Overridden)),
        "failed_steps": [r.step for r in typed if isinstance(r, rec.StepStateRecord) and r.state == "failed"],
        "wrong_room_ids": sum(1 for r in typed if isinstance(r, rec.WrongRoomId)),
        # Faults the trainer added during the run: its figures are not the trainee's own.
        "injected": [r.fault for r in typed if isinstance(r, rec.FaultInjected)],
    }


def _drill_summary(records: list[dict], started: rec.RunStarted) -> list[str]:
    f = drill_figures(records)
    return [
        f"- Scenario: {started.drill}",
        f"- Time to verified dispatch: {_duration(f['to_verified_dispatch_s'])}",
        f"- Total time: {_duration(f['total_s'])}",
        f"- Mistakes: {_mistakes(f)} (guard refusals {f['guard_refusals']}, wrong room ids {f['wrong_room_ids']}, "
        f"failed steps: {', '.join(f['failed_steps']) or 'none'})",
        f"- Overrides: {f['overrides']}",
        *([f"- Faults the trainer injected during the run: {', '.join(f['injected'])} (this run is not compared "
           "as the trainee's own)"] if f["injected"] else []),
    ]


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


def _drill_history(journal_path: Path, records: list[dict]) -> list[str]:
    started = started_of(records)
    this = Path(journal_path).resolve()
    rows = []
    if rec.first(records, rec.RunFinished) is not None:
        rows.append((this, started, drill_figures(records)))
    for path in sorted(Path(journal_path).parent.glob("*.jsonl")):
        if path.resolve() == this:
            continue
        first = _first_record(path)  # the scenario is on the first line: no need to read other drills' runs
        if first is None or first.drill != started.drill:
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
    timed = [f["to_verified_dispatch_s"] for _p, _s, f in rows if f["to_verified_dispatch_s"] is not None and not f["injected"]]
    best = min(timed) if timed else None
    out = [*_trainee_comparison(rows, this, started), ""]
    out += ["| when | operator | to verified dispatch | total | mistakes | |", "|---|---|---|---|---|---|"]
    for path, s, f in rows:
        marks = []
        if path == this:
            marks.append("this run")
        if f["injected"]:
            marks.append(f"trainer injected {', '.join(f['injected'])}: not compared")
        elif best is not None and f["to_verified_dispatch_s"] == best:
            marks.append("best")
        out.append(f"| {_when(s)} | {_md_cell(s.operator or '?')} | {_duration(f['to_verified_dispatch_s'])} | "
                   f"{_duration(f['total_s'])} | {_mistakes(f)} | {', '.join(marks)} |")
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _when(started: rec.RunStarted) -> str:
    return time.strftime('%Y-%m-%d %H:%M', time.localtime(started.ts))


def _mistakes(figures: dict) -> int:
    return figures["guard_refusals"] + len(figures["failed_steps"]) + figures["wrong_room_ids"]


def _against(now: float | None, then: float | None) -> str:
    if now is None or then is None:
        return "no comparison (one of them never verified dispatch)"
    delta = now - then
    if abs(delta) < 0.05:
        return "the same"
    return f"{_duration(abs(delta))} {'faster' if delta < 0 else 'slower'}"


def _trainee_comparison(rows: list[tuple[Path, rec.RunStarted, dict]], this: Path, started: rec.RunStarted) -> list[str]:
    """This run against the same trainee's earlier runs of the scenario, and against the best of all."""
    trainee = started.operator or "?"
    mine = next((f for p, _s, f in rows if p == this), None)
    if mine is None:  # the report of a run that has not finished yet: nothing to compare
        return [f"This run is not finished; {len(rows)} finished drill(s) of this scenario are listed below."]
    if mine["injected"]:
        return [f"- Not compared: the trainer injected {', '.join(mine['injected'])} during this run."]
    rows = [(p, s, f) for p, s, f in rows if not f["injected"]]  # a run with a trainer's fault is no one's own time
    earlier = [(s, f) for p, s, f in rows if p != this and (s.operator or "?") == trainee and s.ts < started.ts]
    now = mine["to_verified_dispatch_s"]
    if not earlier:
        out = [f"- First drill of this scenario for {trainee}."]
    else:
        last_s, last = earlier[-1]
        own_timed = [f["to_verified_dispatch_s"] for _s, f in earlier if f["to_verified_dispatch_s"] is not None]
        own_best = min(own_timed) if own_timed else None
        out = [f"- {trainee}'s earlier drills of this scenario: {len(earlier)}.",
               f"- Against {trainee}'s last ({_when(last_s)}): to verified dispatch {_against(now, last['to_verified_dispatch_s'])}; "
               f"mistakes {_mistakes(mine)} against {_mistakes(last)}.",
               f"- Against {trainee}'s own best ({_duration(own_best)}): {_against(now, own_best)}."]
    # Runs before this one only: the report of a drill reads the same when exported again later.
    before = [(s, f) for p, s, f in rows if p != this and s.ts < started.ts and f["to_verified_dispatch_s"] is not None]
    if before:
        best_s, best = min(before, key=lambda sf: sf[1]["to_verified_dispatch_s"])
        out.append(f"- Against the best run before this one ({_duration(best['to_verified_dispatch_s'])} by "
                   f"{best_s.operator or '?'}, {_when(best_s)}): {_against(now, best['to_verified_dispatch_s'])}.")
    return out


def _record_summary(raw: dict, r: rec.Record) -> str:
    line = _said(r)
    if line:
        return line
    detail = raw.get("step") or raw.get("name") or ""
    return f"{rec.kind_name(raw)}{(': ' + str(detail)) if detail else ''}"


def _said(r: rec.Record) -> str | None:
    """A record in the timeline's words (None: a record the timeline does not show)."""
    match r:
        case rec.RunStarted():
            return f"run started ({r.checklist.get('name')} {r.checklist.get('revision')})"
        case rec.RunResumed():
            return "run resumed from the journal"
        case rec.RunFinished():
            return f"run finished: {r.outcome}"
        case rec.WrongRoomId():
            return f"{r.step}: a wrong room id was typed; nothing was run"
        case rec.RunAbandoned():
            return f"run abandoned: {r.reason}"
        case rec.StepStateRecord():
            return f"{r.step}: {r.state}" + (f" ({r.reason})" if r.reason else "")
        case rec.CommandFinished():
            return f"{r.step}: `{r.command}` exited {r.exit_code} in {r.duration_s}s"
        case rec.Chosen():
            return f"choice {r.choice}: {r.option} ({r.label})"
        case rec.EnvEdited():
            return f"{r.step}: edited {Path(r.file).name}: " + ", ".join(f"{k} {v['from']} -> {v['to']}" for k, v in r.changes.items())
        case rec.DispatchOutcome():
            return f"{r.step}: dispatch {r.id}: {r.verdict}" + (
                f", ack {r.ack_ms} ms, complete {r.complete_ms} ms" if r.verdict == "complete" else f": {r.reason}")
        case rec.Overridden():
            return f"{r.step}: {OVERRIDE_WORDS.get(r.what, r.what)}: {r.reason}"
        case rec.AlarmRaised():
            return f"ALARM {r.alarm.replace('_', ' ')}: {r.reason}"
        case rec.AlarmCleared():
            return f"alarm {r.alarm.replace('_', ' ')} cleared"
        case rec.ConditionLapsed():
            return f"{r.step}: no longer holds: {r.detail}"
        case rec.ConditionRestored():
            return f"{r.step}: holds again: {r.detail}"
        case rec.LapseSuperseded():
            return f"{r.step}: no longer watched: {r.by or '?'} undid it on purpose (supersedes)"
        case rec.LapseAcknowledged():
            return f"{r.step}: acknowledged by {r.operator or '?'} that it no longer holds: {r.reason}"
        case rec.FaultInjected():
            return f"trainer injected {r.fault}: {r.effect}"
        case rec.FaultHealed():
            return f"trainer healed {r.fault}: {r.effect}"
        case rec.Confirmed() if r.note:
            return f"{r.step}: confirmed: {r.note}"
    return None
