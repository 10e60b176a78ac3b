"""The journal's records as types (engine/records.py): no record kind is a string anywhere else in
the product, they read back tolerantly, a new kind is added the way ARCHITECTURE.md says, and the
engine stays split along its seams (no class of the product over 30 methods)."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from runbook_tui.engine import records as rec
from runbook_tui.engine.journal import Journal, read_journal, read_run
from runbook_tui.engine.replay import replay
from runbook_tui.engine.report import render_report
from tests.conftest import REPO

PRODUCT = REPO / "runbook_tui"
RECORDS = PRODUCT / "engine" / "records.py"
MAX_METHODS = 30


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module (docstrings left out: they may name a kind in prose)."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


# Kinds that are words of the checklist's format or the keys' actions too (a step type, a field,
# an action's name): flagged only where they would be a record's kind, as what a journal is asked to
# write. Every other kind, and the line's "kind" key, may not be a string at all.
SHARED_WORDS = frozenset({"choice", "guards", "override", "env_edit"})


def kind_literals(root: Path) -> list[str]:
    """Where a module of `root` writes a record kind, or the journal's "kind" key, as a string."""
    kinds = (set(rec.KINDS) | {"kind"}) - SHARED_WORDS
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == RECORDS:
            continue
        where = path.relative_to(root)
        found += [f"{where}:{line}: {value!r}" for line, value in _strings(path) if value in kinds]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("append", "write")
                    and node.args and isinstance(arg := node.args[0], ast.Constant) and arg.value in SHARED_WORDS):
                found.append(f"{where}:{node.lineno}: {arg.value!r}")
    return found


def test_no_record_kind_is_a_string_outside_the_records_module():
    assert len(rec.KINDS) >= 25
    assert kind_literals(PRODUCT) == []


def test_the_check_finds_a_kind_written_as_a_string(tmp_path: Path):
    (tmp_path / "writer.py").write_text('journal.append("step_state", step="a")\nif r["kind"] == "alarm_raised": pass\n'
                                        'journal.append("choice", choice="c")\n')
    (tmp_path / "prose.py").write_text('"""Writes a step_state record."""\nSTEP = "choice"  # a step type\n')
    assert sorted(f.split(": ", 1)[1] for f in kind_literals(tmp_path)) == ["'alarm_raised'", "'choice'", "'kind'",
                                                                          "'step_state'"]


def classes_over(root: Path, limit: int) -> list[str]:
    over = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                if len(methods) > limit:
                    over.append(f"{path.relative_to(REPO)}: {node.name} has {len(methods)} methods")
    return over


def test_no_class_of_the_product_has_more_than_30_methods():
    assert classes_over(PRODUCT, MAX_METHODS) == []
    assert classes_over(PRODUCT, 20), "the check counts methods (some class has more than 20)"


# ---- reading back ---------------------------------------------------------------------------------

def test_every_kind_round_trips_through_a_journal(tmp_path: Path):
    journal = Journal(tmp_path / "kinds.log")  # not a run: no .jsonl for the views to replay
    written = []
    for cls in rec.KINDS.values():
        needed = {f.name: _sample(f) for f in dataclasses.fields(cls)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        written.append(journal.write(cls(**needed)))
    journal.close()
    lines = read_journal(tmp_path / "kinds.log").records
    assert [line["kind"] for line in lines] == list(rec.KINDS)
    assert all(line["v"] == rec.KINDS[line["kind"]].VERSION for line in lines)
    back = rec.read_all(lines)
    assert [type(r) for r in back] == list(rec.KINDS.values())
    assert [r.seq for r in back] == [r.seq for r in written] == list(range(1, len(rec.KINDS) + 1))
    assert _json(back) == _json(written)


def _sample(f: dataclasses.Field):
    annotation = str(f.type)
    if annotation.startswith("Mapping"):
        return {"id": "x", "name": "n", "revision": "r", "sha256": "0"} if f.name == "checklist" else {}
    if annotation.startswith("Sequence"):
        return []
    if annotation.startswith("bool"):
        return True
    if annotation.startswith(("int", "float")):
        return 1
    return f"{f.name}-value"


def _json(records):
    return [json.dumps(rec.to_line(r, r.seq, r.ts), sort_keys=True, default=list) for r in records]


def test_old_and_unknown_lines_are_read_as_far_as_they_can_be():
    old = rec.read({"seq": 3, "ts": 5.0, "kind": "step_state", "step": "a", "state": "done"})  # no v, no reason
    assert old == rec.StepStateRecord(seq=3, ts=5.0, v=1, step="a", state="done")
    newer = rec.read({"seq": 4, "ts": 6.0, "kind": "choice", "v": 7, "choice": "c", "option": "A", "colour": "red"})
    assert isinstance(newer, rec.Chosen) and newer.option == "A" and newer.v == 7
    unknown = rec.read({"seq": 5, "ts": 7.0, "kind": "from_the_future", "x": 1})
    assert isinstance(unknown, rec.Unknown) and unknown.raw["x"] == 1 and unknown.seq == 5
    damaged = rec.read({"seq": 6, "kind": "step_state", "state": "done"})  # no step: cannot be one
    assert isinstance(damaged, rec.Unknown)
    with pytest.raises(TypeError):
        rec.to_line(unknown, 1, 1.0)  # what cannot be read is never written back


# ---- adding a record kind, the way ARCHITECTURE.md says -------------------------------------------

def test_a_new_record_kind_added_as_documented_is_written_read_and_passed_over_by_the_replay(tmp_path: Path):
    # 1. A dataclass registered under its kind, its fields with defaults for what older lines lack.
    @rec.kind("coffee_break")
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class CoffeeBreak(rec.Record):
        operator: str
        minutes: int = 5

    try:
        # 2. The writer hands the journal the record.
        journal = Journal(tmp_path / "room1-x-1.jsonl")
        journal.write(rec.RunStarted(checklist={"id": "x", "name": "X", "revision": "1", "sha256": "0"}, room="room1",
                                     steps=[{"id": "a", "title": "A", "acting": False, "supersedes": []}]))
        journal.write(CoffeeBreak(operator="olga"))
        journal.write(rec.StepStateRecord(step="a", state="done", reason="ok"))
        journal.close()
        lines = read_journal(journal.path).records
        # 3. Readers take it back typed; the replay passes over what does not change the run's state,
        # and the report lists every record.
        assert rec.first(lines, CoffeeBreak) == CoffeeBreak(seq=2, ts=lines[1]["ts"], operator="olga")
        run = read_run(journal.path)
        assert run.outcome.finished and run.status("a").reason == "ok"
        assert replay([line for line in lines if line["kind"] != "coffee_break"]).outcome == run.outcome
        assert "| 2 |" in render_report(journal.path) and "coffee_break" in render_report(journal.path)
    finally:
        del rec.KINDS["coffee_break"]
    # Once the kind is gone again (a journal read by an older tool), the line reads as Unknown.
    assert isinstance(rec.read(lines[1]), rec.Unknown)
