"""The after-action report: a run's journal rendered as Markdown.

Built from the journal alone, so it can be produced after a crash, on another machine, or
long after the incident; every line of it can be traced to a record.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from runbook_tui.engine.journal import alarm_spans, read_journal
from runbook_tui.rules.outcome import alarm_words

OVERRIDE_WORDS = {"guard": "run despite the guard", "step": "marked done without evidence"}


def _clock(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _steps_in_order(started: dict, records: list[dict], states: dict[str, dict]) -> list[tuple[str, str, dict | None]]:
    """(id, title, last state record or None) in the checklist's order, for the steps that apply
    with the run's final choices. Journals written before run_started listed the steps: the
    order the states were recorded in, without titles."""
    steps = started.get("steps")
    if not steps:
        return [(step_id, "", r) for step_id, r in states.items()]
    choices = dict(started.get("choices") or {})
    for r in records:
        if r["kind"] == "choice":
            choices[r["choice"]] = r["option"]
    rows = []
    for step in steps:
        applies = all(choices.get(c) in opts for c, opts in (step.get("when") or {}).items())
        if applies or step["id"] in states:
            rows.append((step["id"], step.get("title", ""), states.get(step["id"])))
    return rows


def render_report(journal_path: Path) -> str:
    contents = read_journal(journal_path)
    records = contents.records
    started = next((r for r in records if r["kind"] == "run_started"), None)
    if started is None:
        raise ValueError(f"{journal_path}: no run_started record: not a run journal")
    finished = next((r for r in reversed(records) if r["kind"] == "run_finished"), None)
    checklist = started["checklist"]
    states: dict[str, dict] = {}
    for r in records:
        if r["kind"] == "step_state":
            states[r["step"]] = r
    out = [
        f"# After-action report: {checklist['name']} ({checklist['revision']})",
        "",
        f"- Room: **{started['room']}**{' (training lab)' if started.get('lab') else ''}",
        *([f"- Drill scenario: {started['drill']}"] if started.get("drill") else []),
        f"- Operator: {started.get('operator', '?')}",
        *([f"- Settings: {started['settings']}"] if started.get("settings") else []),
        f"- Checklist: `{checklist['id']}` {checklist['revision']}, sha256 `{checklist['sha256']}`",
        f"- Started: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started['ts']))}",
    ]
    if finished:
        out.append(f"- Finished: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(finished['ts']))} "
                   f"({_duration(finished['ts'] - started['ts'])})")
        # The outcome names every alarm of the run, also those raised after it was declared finished.
        said = alarm_words(tuple(alarm_spans(records)), records[-1]["ts"])
        out.append(f"- Outcome: **{finished['outcome']}{', with ' + said if said else ''}**")
        if finished.get("lapsed"):
            out.append(f"- Evidence no longer holding at the end: {', '.join(finished['lapsed'])}")
        if finished.get("deferred"):
            out.append(f"- Deferred: {', '.join(finished['deferred'])}")
        if finished.get("open"):
            out.append(f"- Not done: {', '.join(finished['open'])}")
        if finished.get("optional_not_done"):
            out.append(f"- Optional, not done: {', '.join(finished['optional_not_done'])}")
    elif abandoned := next((r for r in records if r["kind"] == "run_abandoned"), None):
        out.append(f"- Outcome: **abandoned** at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(abandoned['ts']))}: "
                   f"{abandoned.get('reason', '')}")
    else:
        out.append("- Outcome: **not finished** (the run did not reach its end; resume it from this journal)")
    if contents.torn:
        out.append(f"- {len(contents.torn)} incomplete record(s) from a crash were skipped")

    out += ["", "## Steps", "", "| step | state | time taken | reason / evidence |", "|---|---|---|---|"]
    for step_id, title, r in _steps_in_order(started, records, states):
        name = f"{title} (`{step_id}`)" if title else step_id
        if r is None and (by := (finished or {}).get("superseded", {}).get(step_id)):
            out.append(f"| {name.replace('|', '/')} | superseded | - | ended on purpose by `{by}` |")
            continue
        if r is None:
            out.append(f"| {name.replace('|', '/')} | not decided | - | |")
            continue
        # A confirmation or a sensed step has no span of its own: "-" rather than a made-up 0.0s.
        taken = (r["finished"] - r["started"]) if r.get("finished") and r.get("started") and r["finished"] > r["started"] else None
        detail = "; ".join(x for x in [r.get("reason", "")] + list(r.get("evidence", [])) if x)
        out.append(f"| {name.replace('|', '/')} | {r['state']} | {_duration(taken)} | {detail.replace('|', '/')} |")

    spans = alarm_spans(records)
    out += ["", "## Alarms", ""]
    for span in spans:
        raised = next(r for r in records if r["kind"] == "alarm_raised" and r["ts"] == span.started)
        lasted = (f"until {_clock(span.ended)} ({_duration(span.ended - span.started)})" if span.ended
                  else "still raised at the end of the journal")
        out.append(f"- {_clock(span.started)} {span.kind.replace('_', ' ')}: {raised.get('reason', '')}; {lasted}")
        seen = raised.get("observation") or {}
        out += [f"  - seen: {k}: {v}" for k, v in seen.items() if k != "at"]
    acknowledged = [r for r in records if r["kind"] == "alarm_acknowledged"]
    out += [f"- {_clock(r['ts'])} acknowledged by {r.get('operator', '?')}: {r.get('reason', '')}" for r in acknowledged]
    if not spans:
        out.append("None.")

    lapses = [r for r in records if r["kind"] in ("condition_lapsed", "condition_restored", "lapse_acknowledged", "lapse_superseded")]
    out += ["", "## Evidence that stopped holding", ""]
    out += [f"- {_clock(r['ts'])} {_timeline_line(r)}" for r in lapses] or ["None."]

    overrides = [r for r in records if r["kind"] == "override"]
    out += ["", "## Overrides", ""]
    out += [f"- {_clock(r['ts'])} {r['step']}: {OVERRIDE_WORDS.get(r['what'], r['what'])} by {r.get('operator', '?')}: {r['reason']}"
            + (f" (failed: {', '.join(r['failed'])})" if r.get("failed") else "")
            + (f"; risked: {'; '.join(r['consequences'])}" if r.get("consequences") else "") for r in overrides] or ["None."]
    refusals = [r for r in records if r["kind"] == "guards" and not all(x["holds"] for x in r["results"])]
    out += ["", "## Guard refusals and overridden guards", ""]
    out += [f"- {_clock(r['ts'])} {r['step']}: " + "; ".join(f"{x['condition']}: {x['detail']}" for x in r["results"] if not x["holds"])
            for r in refusals] or ["None."]
    deferred = [(k, r) for k, r in states.items() if r["state"] in ("deferred", "skipped")]
    out += ["", "## Deferred and skipped", ""]
    out += [f"- {k}: {r['state']}: {r.get('reason', '')}" for k, r in deferred] or ["None."]

    if started.get("drill"):
        out += ["", "## Drill", ""] + _drill_summary(records, started, finished)
        out += ["", "## Drill history (this scenario, in this journal folder)", ""] + _drill_history(journal_path, records)

    out += ["", "## Timeline", ""]
    for r in records:
        line = _timeline_line(r)
        if line:
            out.append(f"- {_clock(r['ts'])} {line}")

    # Every record, one line each, so the report can be checked against the journal.
    out += ["", "## Journal", "", "| seq | time | record |", "|---|---|---|"]
    for r in records:
        out.append(f"| {r.get('seq')} | {_clock(r['ts'])} | {_record_summary(r).replace('|', '/')} |")
    return "\n".join(out) + "\n"


def _verified_at(records: list[dict]) -> float | None:
    return next((r["ts"] for r in records if r["kind"] == "dispatch_outcome" and r.get("verdict") == "complete"), None)


def drill_figures(records: list[dict]) -> dict:
    """What a drill is judged on, from its journal."""
    started = records[0]
    finished = next((r for r in reversed(records) if r["kind"] == "run_finished"), None)
    verified = _verified_at(records)
    return {
        "total_s": (finished["ts"] - started["ts"]) if finished else None,
        "to_verified_dispatch_s": (verified - started["ts"]) if verified else None,
        "guard_refusals": sum(1 for r in records if r["kind"] == "guards" and not all(x["holds"] for x in r["results"])),
        "overrides": sum(1 for r in records if r["kind"] == "override"),
        "failed_steps": [r["step"] for r in records if r["kind"] == "step_state" and r["state"] == "failed"],
        "wrong_room_ids": sum(1 for r in records if r["kind"] == "wrong_room_id"),
        # Faults the trainer added during the run: its figures are not the trainee's own.
        "injected": [r["fault"] for r in records if r["kind"] == "fault_injected"],
    }


def _drill_summary(records: list[dict], started: dict, finished: dict | None) -> list[str]:
    f = drill_figures(records)
    return [
        f"- Scenario: {started['drill']}",
        f"- Time to verified dispatch: {_duration(f['to_verified_dispatch_s'])}",
        f"- Total time: {_duration(f['total_s'])}",
        f"- Mistakes: {_mistakes(f)} (guard refusals {f['guard_refusals']}, wrong room ids {f['wrong_room_ids']}, "
        f"failed steps: {', '.join(f['failed_steps']) or 'none'})",
        f"- Overrides: {f['overrides']}",
        *([f"- Faults the trainer injected during the run: {', '.join(f['injected'])} (this run is not compared "
           "as the trainee's own)"] if f["injected"] else []),
    ]


def _first_record(path: Path) -> dict | None:
    try:
        with open(path, "rb") as f:
            return json.loads(f.readline())
    except (OSError, ValueError):
        return None


def _drill_history(journal_path: Path, records: list[dict]) -> list[str]:
    started = records[0]
    this = Path(journal_path).resolve()
    rows = []
    if any(r["kind"] == "run_finished" for r in records):
        rows.append((this, started, drill_figures(records)))
    for path in sorted(Path(journal_path).parent.glob("*.jsonl")):
        if path.resolve() == this:
            continue
        first = _first_record(path)  # the scenario is on the first line: no need to read other drills' runs
        if not isinstance(first, dict) or first.get("kind") != "run_started" or first.get("drill") != started["drill"]:
            continue
        try:
            other = read_journal(path).records
            if not any(r.get("kind") == "run_finished" for r in other):
                continue
            rows.append((path.resolve(), other[0], drill_figures(other)))
        except (OSError, KeyError, TypeError, ValueError):
            continue  # a damaged journal is left out of the comparison, not the end of the report
    if not rows:
        return ["No finished drill of this scenario yet."]
    rows.sort(key=lambda row: row[1]["ts"])
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
        out.append(f"| {_when(s)} | {_md_cell(s.get('operator', '?'))} | {_duration(f['to_verified_dispatch_s'])} | "
                   f"{_duration(f['total_s'])} | {_mistakes(f)} | {', '.join(marks)} |")
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _when(started: dict) -> str:
    return time.strftime('%Y-%m-%d %H:%M', time.localtime(started['ts']))


def _mistakes(figures: dict) -> int:
    return figures["guard_refusals"] + len(figures["failed_steps"]) + figures["wrong_room_ids"]


def _against(now: float | None, then: float | None) -> str:
    if now is None or then is None:
        return "no comparison (one of them never verified dispatch)"
    delta = now - then
    if abs(delta) < 0.05:
        return "the same"
    return f"{_duration(abs(delta))} {'faster' if delta < 0 else 'slower'}"


def _trainee_comparison(rows: list[tuple[Path, dict, dict]], this: Path, started: dict) -> list[str]:
    """This run against the same trainee's earlier runs of the scenario, and against the best of all."""
    trainee = started.get("operator", "?")
    mine = next((f for p, _s, f in rows if p == this), None)
    if mine is None:  # the report of a run that has not finished yet: nothing to compare
        return [f"This run is not finished; {len(rows)} finished drill(s) of this scenario are listed below."]
    if mine["injected"]:
        return [f"- Not compared: the trainer injected {', '.join(mine['injected'])} during this run."]
    rows = [(p, s, f) for p, s, f in rows if not f["injected"]]  # a run with a trainer's fault is no one's own time
    earlier = [(s, f) for p, s, f in rows if p != this and s.get("operator") == trainee and s["ts"] < started["ts"]]
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
    before = [(s, f) for p, s, f in rows if p != this and s["ts"] < started["ts"] and f["to_verified_dispatch_s"] is not None]
    if before:
        best_s, best = min(before, key=lambda sf: sf[1]["to_verified_dispatch_s"])
        out.append(f"- Against the best run before this one ({_duration(best['to_verified_dispatch_s'])} by "
                   f"{best_s.get('operator', '?')}, {_when(best_s)}): {_against(now, best['to_verified_dispatch_s'])}.")
    return out


def _record_summary(r: dict) -> str:
    line = _timeline_line(r)
    if line:
        return line
    detail = r.get("step") or r.get("name") or ""
    return f"{r['kind']}{(': ' + str(detail)) if detail else ''}"


def _timeline_line(r: dict) -> str | None:
    kind = r["kind"]
    if kind == "run_started":
        return f"run started ({r['checklist']['name']} {r['checklist']['revision']})"
    if kind == "run_resumed":
        return "run resumed from the journal"
    if kind == "run_finished":
        return f"run finished: {r['outcome']}"
    if kind == "wrong_room_id":
        return f"{r['step']}: a wrong room id was typed; nothing was run"
    if kind == "run_abandoned":
        return f"run abandoned: {r.get('reason', '')}"
    if kind == "step_state":
        return f"{r['step']}: {r['state']}" + (f" ({r['reason']})" if r.get("reason") else "")
    if kind == "command_finished":
        return f"{r['step']}: `{r['command']}` exited {r['exit_code']} in {r['duration_s']}s"
    if kind == "choice":
        return f"choice {r['choice']}: {r['option']} ({r['label']})"
    if kind == "env_edit":
        return f"{r['step']}: edited {Path(r['file']).name}: " + ", ".join(f"{k} {v['from']} -> {v['to']}" for k, v in r["changes"].items())
    if kind == "dispatch_outcome":
        return f"{r['step']}: dispatch {r['id']}: {r['verdict']}" + (
            f", ack {r['ack_ms']} ms, complete {r['complete_ms']} ms" if r["verdict"] == "complete" else f": {r['reason']}")
    if kind == "override":
        return f"{r['step']}: {OVERRIDE_WORDS.get(r['what'], r['what'])}: {r['reason']}"
    if kind == "alarm_raised":
        return f"ALARM {r['alarm'].replace('_', ' ')}: {r.get('reason', '')}"
    if kind == "alarm_cleared":
        return f"alarm {r['alarm'].replace('_', ' ')} cleared"
    if kind == "condition_lapsed":
        return f"{r['step']}: no longer holds: {r.get('detail', '')}"
    if kind == "condition_restored":
        return f"{r['step']}: holds again: {r.get('detail', '')}"
    if kind == "lapse_superseded":
        return f"{r['step']}: no longer watched: {r.get('by', '?')} undid it on purpose (supersedes)"
    if kind == "lapse_acknowledged":
        return f"{r['step']}: acknowledged by {r.get('operator', '?')} that it no longer holds: {r.get('reason', '')}"
    if kind == "fault_injected":
        return f"trainer injected {r['fault']}: {r['effect']}"
    if kind == "fault_healed":
        return f"trainer healed {r['fault']}: {r['effect']}"
    if kind == "confirmation" and r.get("note"):
        return f"{r['step']}: confirmed: {r['note']}"
    return None
