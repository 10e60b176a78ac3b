"""Non-normal procedures as checklist data: the shipped ones load beside the promotion, each
mistake in a procedures file (or in how a checklist names one) is refused with file, line and
field, and `plan` prints the procedures after the normal steps (the paper fallback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
from tests.conftest import REPO, run

CHECKLIST = """\
checklist: {id: nn, name: Normal, revision: "n1"}
non_normal: procs.yaml
variables:
  room: {description: The room.}
  primary_dir: {default: "infra/rooms/{{room}}-primary", description: The primary.}
sections:
  - id: s1
    title: Promote
    steps:
      - {id: stop-primary, title: Stop the primary, type: confirm}
      - {id: repoint, title: Repoint, type: confirm}
"""
PROCEDURES = """\
checklist: {id: procs, name: Procedures, revision: "q1"}
variables:
  room: {description: The room.}
  primary_dir: {default: "infra/rooms/{{room}}-primary", description: The primary.}
procedures:
  - id: dual
    title: Dual control
    trigger: {when: dual_control_standby_promoted, holds_for_s: 1, after: stop-primary}
    holds: [standby_stack_running]
    steps:
      - id: dual-stop
        title: Stop the primary's core
        type: command
        stack: primary
        command: (cd {{primary_dir}} && docker compose --env-file .env stop sentient-core)
        done_when: primary_core_stopped
"""


def load(tmp_path: Path, procedures: str = PROCEDURES, checklist: str = CHECKLIST):
    (tmp_path / "procs.yaml").write_text(procedures)
    (tmp_path / "run.yaml").write_text(checklist)
    return load_checklist(tmp_path / "run.yaml")


def refused(tmp_path: Path, procedures: str = PROCEDURES, checklist: str = CHECKLIST) -> list[str]:
    with pytest.raises(ChecklistInvalid) as e:
        load(tmp_path, procedures, checklist)
    return [str(x) for x in e.value.errors]


def test_the_shipped_promotion_names_its_procedures_and_each_is_whole():
    promotion = load_checklist(REPO / "checklists" / "promotion.yaml")
    ids = [p.id for p in promotion.procedures]
    assert ids == ["dual-control-primary", "dual-control-standby", "primary-back", "controllers-lost", "dns-away",
                   "active-failing", "resolvers-disagree"]
    for procedure in promotion.procedures:
        assert procedure.steps and all(s.procedure == procedure.id for s in procedure.steps)
        assert promotion.step(procedure.steps[0].id) is procedure.steps[0]  # the engine finds them by id
    assert {s.id for s in promotion.steps()}.isdisjoint(s.id for s in promotion.procedure_steps())
    # Each dual-control procedure stops the core that must stop, on that stack's own engine.
    stop = promotion.procedure("dual-control-primary").steps[0]
    assert (stop.stack, stop.done_when) == ("primary", "primary_core_stopped") and "stop sentient-core" in stop.command
    assert promotion.procedure("dual-control-standby").steps[1].stack == "standby"
    assert promotion.procedure("primary-back").trigger.after == "stop-primary"
    # The version of a run covers its procedures: editing them is another checklist version.
    alone = load_checklist(REPO / "checklists" / "non-normal.yaml")
    assert alone.procedures and not alone.sections and alone.sha256 != promotion.sha256


def test_a_checklist_with_procedures_loads_them_and_its_version_covers_both_files(tmp_path):
    first = load(tmp_path)
    assert [p.id for p in first.procedures] == ["dual"]
    trigger = first.procedure("dual").trigger
    assert (trigger.when, trigger.holds_for_s, trigger.after) == ("dual_control_standby_promoted", 1.0, "stop-primary")
    changed = load(tmp_path, PROCEDURES.replace("holds_for_s: 1", "holds_for_s: 2"))
    assert changed.sha256 != first.sha256


@pytest.mark.parametrize("old, new, where", [
    ("when: dual_control_standby_promoted", "when: dual_controll",
     "procs.yaml:8: procedures[0].trigger.when: unknown condition 'dual_controll'"),
    (", holds_for_s: 1", "", "procs.yaml:8: procedures[0].trigger.holds_for_s: missing required field 'holds_for_s'"),
    ("holds_for_s: 1", "holds_for_s: soon", "procs.yaml:8: procedures[0].trigger.holds_for_s: expected a number of seconds"),
    ("holds: [standby_stack_running]", "holds: [standby_up]", "procs.yaml:9: procedures[0].holds: unknown condition 'standby_up'"),
    ("after: stop-primary", "after: stop-primry",
     "procs.yaml:8: dual.trigger.after: 'stop-primry' is not a step of the checklist run.yaml"),
    ("after: stop-primary", "quiet_between: [stop-primary]", "procs.yaml:8: procedures[0].trigger.quiet_between: two step ids"),
    ("        done_when: primary_core_stopped\n", "        done_when: primary_core_stopped\n        end_to_end: true\n",
     "procs.yaml:17: procedures[0].steps[0].end_to_end: not in a procedure"),
    ("        stack: primary\n", "", "procs.yaml:14: procedures[0].steps[0].command: runs docker but names no stack"),
    ("    title: Dual control\n", "", "procs.yaml:6: procedures[0].title: missing required field 'title'"),
    ("id: dual-stop", "id: repoint", "procs.yaml:11: dual.repoint: step id 'repoint' is also a step of run.yaml (line 11)"),
])
def test_a_mistake_in_a_procedure_is_refused_with_file_line_and_field(tmp_path, old, new, where):
    assert old in PROCEDURES
    said = refused(tmp_path, PROCEDURES.replace(old, new))
    assert any(s.startswith(str(tmp_path / where.split(":")[0])) and where.split(":", 1)[1] in s for s in said), said


def test_a_checklist_that_names_a_missing_procedures_file_or_lacks_their_variables_is_refused(tmp_path):
    said = refused(tmp_path, checklist=CHECKLIST.replace("non_normal: procs.yaml", "non_normal: prcs.yaml"))
    assert said == [f"{tmp_path / 'run.yaml'}:2: non_normal: prcs.yaml: no such file beside run.yaml"]
    said = refused(tmp_path, checklist=CHECKLIST.replace(
        '  primary_dir: {default: "infra/rooms/{{room}}-primary", description: The primary.}\n', ""))
    assert said == [f"{tmp_path / 'run.yaml'}:2: non_normal: procs.yaml uses variables this checklist does not declare: "
                    "primary_dir"]
    said = refused(tmp_path, checklist=CHECKLIST.replace("non_normal: procs.yaml", "non_normal: ../procs.yaml"))
    assert said == [f"{tmp_path / 'run.yaml'}:2: non_normal: a file name beside this checklist (e.g. non-normal.yaml)"]


def test_two_procedures_with_one_id_are_refused(tmp_path):
    twice = PROCEDURES + PROCEDURES.split("procedures:\n")[1].replace("id: dual-stop", "id: dual-stop-2")
    said = refused(tmp_path, twice)
    assert any("duplicate procedure id 'dual' (first on line 6)" in s for s in said), said


def test_plan_prints_the_procedures_after_the_normal_steps():
    r = run("runbook-tui plan checklists/promotion.yaml --room clockwork", REPO, check=True)
    normal, _, procedures = r.stdout.partition("Non-normal procedures")
    assert "Verify end-to-end dispatch" in normal and "Recreate sentient-core with critical actions armed" in normal
    assert "  A. Dual control: stop the primary's core (the standby is promoted)" in procedures
    assert "$ (cd infra/rooms/clockwork-primary && docker compose --env-file .env stop sentient-core)" in procedures
    assert "once step stop-primary is done" in procedures and "not between recreate-core and dns-repoint" in procedures
    assert "  G. The resolvers disagree on the broker name" in procedures
    assert "[ ] A1. Stop the primary's sentient-core" in procedures
    assert "{{" not in procedures and "room1" not in procedures


AT_REST = """\
  - id: split
    title: Resolvers disagree
    trigger: {when: resolvers_disagree, holds_for_s: 10}
    steps:
      - {id: split-fixed, title: Fixed, type: confirm}
"""


def test_a_checklist_takes_some_procedures_of_a_file_by_id_and_only_those(tmp_path):
    # Failback has no promotion step for a procedure's `after` to name: it takes those that fit.
    procedures = PROCEDURES + AT_REST
    without_stop = CHECKLIST.replace("      - {id: stop-primary, title: Stop the primary, type: confirm}\n", "")
    said = refused(tmp_path, procedures, without_stop)
    assert any("dual" in s and "stop-primary" in s for s in said), said  # all of them: one names a missing step
    some = without_stop.replace("non_normal: procs.yaml", "non_normal: {file: procs.yaml, only: [split]}")
    checklist = load(tmp_path, procedures, some)
    assert [p.id for p in checklist.procedures] == ["split"]
    assert [s.id for s in checklist.procedure_steps()] == ["split-fixed"]
    # Each mistake in the selection, with file, line and field.
    run_yaml = tmp_path / "run.yaml"
    for selection, words in (
            ("{file: procs.yaml, only: [split, splt]}", f"{run_yaml}:2: non_normal.only: procs.yaml has no procedure 'splt' "
                                                        "(it has: dual, split)"),
            ("{file: procs.yaml, only: []}", f"{run_yaml}:2: non_normal.only: an empty list takes no procedure"),
            ("{only: [split]}", f"{run_yaml}:2: non_normal.file: missing required field 'file'"),
            ("{file: procs.yaml, some: [split]}", f"{run_yaml}:2: non_normal.some:"),
            ("{file: prcs.yaml, only: [split]}", f"{run_yaml}:2: non_normal.file: prcs.yaml: no such file beside run.yaml")):
        said = refused(tmp_path, procedures, without_stop.replace("non_normal: procs.yaml", f"non_normal: {selection}"))
        assert any(s.startswith(words) for s in said), (selection, said)


def test_failback_and_keeping_the_standby_current_queue_dual_control_and_split_resolvers():
    # Seen: only the promotion named procedures; dual control during a failback raised the alarm
    # and nothing said what to do.
    for name in ("failback", "standby-current"):
        checklist = load_checklist(REPO / "checklists" / f"{name}.yaml")
        assert [p.id for p in checklist.procedures] == ["dual-control-primary", "dual-control-standby",
                                                        "resolvers-disagree"], name
        assert all(p.trigger.after is None and not p.trigger.quiet_between for p in checklist.procedures)
