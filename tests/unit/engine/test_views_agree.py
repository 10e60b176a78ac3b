"""The check tests/conftest.py runs on every journal the suite writes (tests/journals.py) finds
a disagreement where there is one: it is not a check that cannot fail."""

from __future__ import annotations

import json
from pathlib import Path

from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import StepSensed
from tests.journals import run_journals, views_disagree
from tests.observations import quiet_room
from tests.unit.engine.test_replay import new_engine


def test_the_views_agree_on_a_run_and_the_check_sees_a_journal_they_read_differently(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(quiet_room())  # the stop and the repoint done on evidence; the confirmation open
    engine.journal.close()
    [(path, records)] = run_journals(tmp_path)
    assert views_disagree(path, records) == ([], True)

    # The floor view and the report take the steps from run_started; a resumed console from the
    # checklist. A run_started that says the open step is optional is read one way by the first two
    # and another by the console: the check says so (kept out of the .jsonl files it replays).
    lines = path.read_text().splitlines()
    started = json.loads(lines[0])
    for step in started["steps"]:
        step["optional"] = step["id"] == "controllers"
    tampered = tmp_path / "tampered.journal"
    tampered.write_text("\n".join([json.dumps(started), *lines[1:]]) + "\n")
    problems, resumed = views_disagree(tampered, read_journal(tampered).records)
    assert resumed and any("outcome" in p for p in problems), problems


def test_a_step_done_on_evidence_is_posted_as_a_typed_event(tmp_path: Path):
    events: list[object] = []
    engine = new_engine(tmp_path)
    engine.emit = events.append
    engine.observe(quiet_room())
    assert [e.step_id for e in events if isinstance(e, StepSensed)] == ["stop-primary", "repoint"]
    engine.observe(quiet_room())  # seen again: nothing new is said
    assert len([e for e in events if isinstance(e, StepSensed)]) == 2


def test_a_resume_reads_its_journal_once(tmp_path: Path, monkeypatch):
    from runbook_tui.engine import journal as journal_module
    from runbook_tui.engine.run import RunConfig, RunEngine
    from tests.unit.engine.test_replay import Sees

    engine = new_engine(tmp_path)
    engine.observe(quiet_room())
    engine.journal.close()
    path, checklist = engine.journal.path, engine.checklist
    reads: list[Path] = []
    read_bounded = journal_module.read_bounded

    def counted(p, *args, **kwargs):
        reads.append(Path(p))
        return read_bounded(p, *args, **kwargs)

    monkeypatch.setattr(journal_module, "read_bounded", counted)
    resumed, _notes = RunEngine.resume(path, checklist, Sees(), RunConfig(tmp_path, operator="olga"))
    resumed.journal.close()
    assert reads.count(path) == 1 and resumed.status("stop-primary") == engine.status("stop-primary")
