"""The after-action report: a run's journal rendered as Markdown.

Built from the journal alone, so it can be produced after a crash, on another machine, or
long after the incident; every line of it can be traced to a record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from runbook_tui.engine import records as rec
from runbook_tui.engine.drill_report import drill_history, drill_summary
from runbook_tui.engine.events import StepStatus
from runbook_tui.engine.journal import read_journal, read_run
from runbook_tui.engine.procedure_report import procedure_said, procedures_section
from runbook_tui.engine.replay import RunState

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
        if outcome.procedures_open:
            out.append(f"- Non-normal procedures open (neither worked nor dismissed): {', '.join(outcome.procedures_open)}")
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
    out += ["", "## Non-normal procedures", ""] + procedures_section(typed)

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
        out += ["", "## Drill", ""] + drill_summary(records, started)
        out += ["", "## Drill history (this scenario, in this journal folder)", ""] + drill_history(journal_path, records)

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


def _record_summary(raw: dict[str, Any], r: rec.Record) -> str:
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
    return procedure_said(r)
