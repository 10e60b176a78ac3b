"""A run's journal is its own file: two runs of a room started within one second (journals are
named by the second) never share one, and every reader still takes the newest as the newest."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runbook_tui.engine.journal import journal_order, new_journal, read_journal
from runbook_tui.session import Session
from tests.conftest import REPO, settings_without_dns

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "ui-steps.yaml"
REAL_STRFTIME = time.strftime


def session(root: Path) -> Session:
    (root / "infra").mkdir(parents=True, exist_ok=True)
    return Session(settings_without_dns(root, lab=True), "room9", CHECKLIST)


def one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every journal name of this test stamped with the same second."""
    monkeypatch.setattr(time, "strftime", lambda fmt, *t: "20261207T112000" if fmt == "%Y%m%dT%H%M%S"
                        else REAL_STRFTIME(fmt, *t))


def test_two_runs_of_a_room_started_in_one_second_get_two_journals(tmp_path: Path, monkeypatch):
    one_second(monkeypatch)
    first = session(tmp_path)
    engine = first.start_engine()
    engine.journal.close()
    first.release()  # the first console closed: the room is free for the next
    second = session(tmp_path)
    other = second.start_engine()
    other.journal.close()
    second.release()
    assert engine.journal.path != other.journal.path
    assert [p.name for p in sorted(engine.journal.path.parent.glob("*.jsonl"), key=journal_order)] == [
        "room9-ui-steps-20261207T112000.jsonl", "room9-ui-steps-20261207T112000_2.jsonl"]
    for path in (engine.journal.path, other.journal.path):  # each holds one run, from its start
        kinds = [r["kind"] for r in read_journal(path).records]
        assert kinds.count("run_started") == 1 and kinds[0] == "run_started", (path, kinds)


def test_an_unfinished_run_is_offered_and_abandoned_though_its_successor_started_in_its_second(tmp_path, monkeypatch):
    one_second(monkeypatch)
    first = session(tmp_path)
    engine = first.start_engine()
    engine.mark_done("safe", confirmed=True)  # a step changed: the run is worth resuming
    engine.journal.close()
    first.release()
    second = session(tmp_path)
    assert second.unfinished() is not None and second.unfinished().journal == engine.journal.path
    newer = second.start_engine()  # a new run instead: the first is abandoned in its own journal
    newer.journal.close()
    second.release()
    assert read_journal(engine.journal.path).records[-1]["kind"] == "run_abandoned"
    assert second.unfinished() is None  # the newest run (the _2) changed no step: nothing to offer


def test_names_taken_in_one_second_sort_as_their_runs_started(tmp_path: Path):
    paths = [new_journal(tmp_path / "runs", "room1-promotion-20261207T112000") for _ in range(11)]
    assert len(set(paths)) == 11 and all(p.stat().st_size == 0 for p in paths)
    assert paths[1].name == "room1-promotion-20261207T112000_2.jsonl"
    # By name alone, _10 would sort before _2 and every suffix before the plain name.
    assert sorted(reversed(paths), key=journal_order) == paths
    later = tmp_path / "runs" / "room1-promotion-20261207T112001.jsonl"
    assert journal_order(later) > journal_order(paths[-1])
    # A checklist id with an underscore is part of the name, not a suffix.
    assert journal_order(Path("room1-standby_current-20261207T112000.jsonl")) == (
        "room1-standby_current-20261207T112000", 1)
