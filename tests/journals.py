"""The floor view, a resumed console and the report tell the same run: checked on every journal
the test suite writes (tests/conftest.py replays each test's journals after it).

Each view is taken as its reader takes it, not through a shared shortcut:
- the floor view: engine.floor.floor_state, what the phone draws (each step's state, whether the
  room may confirm it, its lapse, the outcome in the header's words);
- the resume: the real RunEngine.resume on a copy of the journal, with the checklist the run was
  started with and a room it cannot see (so reconciling changes nothing): the console's states,
  lapses, earlier-open steps and its own outcome, by the engine's rules;
- the report: engine.report.render_report's Markdown, its step table read back row by row, and
  its outcome line.
"""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from pathlib import Path

from runbook_tui.engine import records as rec
from runbook_tui.engine.journal import read_journal
from tests.observations import Unseen


@functools.lru_cache(maxsize=64)
def _checklist(path: str, sha256: str, _mtime_ns: int):
    from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist

    try:
        checklist = load_checklist(path)
    except (ChecklistInvalid, OSError, ValueError):
        return None
    return checklist if checklist.sha256 == sha256 else None


def run_journals(root: Path) -> list[tuple[Path, list[dict]]]:
    """The run journals under a folder (a journal is a .jsonl whose first record starts a run)."""
    found = []
    for path in sorted(root.rglob("*.jsonl")):
        try:
            records = read_journal(path).records
        except (OSError, ValueError):
            continue
        if records and rec.is_kind(records[0], rec.RunStarted) and rec.first(records, rec.RunStarted) is not None:
            found.append((path, records))
    return found


_ROW = re.compile(r"^\| (?P<name>.*) \| (?P<state>[^|]*) \| [^|]* \| .*\|$")


def _report_rows(report: str) -> dict[str, str]:
    """The report's step table: step id -> the state it says."""
    table = report.split("## Steps", 1)[1].split("## Alarms", 1)[0]
    rows = {}
    for line in table.splitlines():
        m = _ROW.match(line)
        if m and (ident := re.search(r"\(`([^`]+)`\)$", m["name"])):
            rows[ident[1]] = m["state"]
    return rows


def views_disagree(path: Path, records: list[dict]) -> tuple[list[str], bool]:
    """What the floor view, the resume and the report say differently about this journal
    ([] when they agree), and whether the resume could be taken (the run's checklist readable)."""
    from runbook_tui.engine.floor import floor_state
    from runbook_tui.engine.previews import earlier_open
    from runbook_tui.engine.replay import outcome_words
    from runbook_tui.engine.report import render_report
    from runbook_tui.engine.run import RunConfig, RunEngine

    started = rec.first(records, rec.RunStarted)
    floor = floor_state(path, records)
    report = render_report(path)
    rows = _report_rows(report)
    problems: list[str] = []
    for s in floor.steps:
        said = rows.get(s.id)
        want = "done, no longer holds" if s.lapse and s.state == "done" else s.state
        # A pending step: "pending" once decided back to it (a cancelled wait), else not decided yet,
        # or ended on purpose by a later step (superseded).
        if said is None or not (said.startswith(want) or (s.state == "pending" and said in ("not decided", "superseded"))):
            problems.append(f"{s.id}: the floor view says {s.state!r}{' (lapsed)' if s.lapse else ''}, the report {said!r}")

    # A run not finished says so, then "So far: **...**"; a finished one "Outcome: **...**".
    said_outcome = (re.search(r"^- So far: \*\*(.*)\*\*", report, re.M)
                    or re.search(r"^- Outcome: \*\*(.*)\*\*", report, re.M))
    if floor.run is not None and floor.run.abandoned is None and (
            said_outcome is None or not said_outcome[1].startswith(floor.run.outcome.verdict)):
        problems.append(f"outcome: the report says {said_outcome and said_outcome[1]!r}, the floor view's replay "
                        f"{floor.run.outcome.verdict!r}")

    checklist_info = started.checklist
    checklist_path = checklist_info.get("path")
    try:
        mtime = Path(checklist_path).stat().st_mtime_ns if isinstance(checklist_path, str) else None
    except OSError:
        mtime = None
    checklist = _checklist(checklist_path, str(checklist_info.get("sha256")), mtime) if mtime is not None else None
    if checklist is None:
        return problems, False
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / path.name
        shutil.copyfile(path, copy)
        engine, _notes = RunEngine.resume(copy, checklist, Unseen(started.room),
                                          RunConfig(Path(scratch), lab=started.lab, fence_command=("true",)))
        try:
            for s in floor.steps:
                console = engine.status(s.id).state.value
                phone = "pending" if s.state == "running" else s.state  # a resumed run is back to pending
                if console != phone:
                    problems.append(f"{s.id}: the floor view says {s.state!r}, the resumed console {console!r}")
                if bool(s.lapse) != (s.id in engine.lapses and console == "done"):
                    problems.append(f"{s.id}: the floor view's lapse {s.lapse!r}, the console's {engine.lapses.get(s.id)}")
                reached = not earlier_open(engine, checklist.step(s.id), same_section=True)
                if reached != s.reached:
                    problems.append(f"{s.id}: the floor view says {'' if s.reached else 'not '}reached, the console "
                                    f"{'' if reached else 'not '}reached")
            outcome = engine.outcome()
            numbers = {s.id: s.number for s in floor.steps}
            if not floor.outcome.startswith(outcome_words(outcome, numbers)):
                problems.append(f"outcome: the floor view says {floor.outcome!r}, the console {outcome_words(outcome, numbers)!r}")
            if floor.run is not None and (floor.run.outcome.verdict, floor.run.outcome.open, floor.run.outcome.lapsed) != (
                    outcome.verdict, outcome.open, outcome.lapsed):
                problems.append(f"outcome: the replay says {floor.run.outcome}, the console {outcome}")
        finally:
            engine.journal.close()
    return problems, True
