"""A drill's score and history, from the last drill walk: a fault's own symptom is not the
trainee's mistake, "best" weighs mistakes before speed, a scenario without a smoke test is timed
to its complete end, and an old drill's report does not change when later drills are run."""

from __future__ import annotations

import json
from pathlib import Path

from runbook_tui.engine.drill_report import drill_figures
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report

DAY = 1_790_000_000.0
CURRENT_STEPS = [{"id": "align-standby-env", "title": "Align", "type": "env_edit"},
                 {"id": "recreate-standby-core", "title": "Recreate", "type": "command"}]


def _journal(path: Path, *, operator: str = "ana", start: float = DAY, drill: str = "controller-never-acks",
             symptoms: tuple[str, ...] = ("smoke-test",), failed: tuple[str, ...] = (), verified_after: float | None = 120,
             steps: list[dict] | None = None, middle: list[dict] | None = None) -> Path:
    records: list[dict] = [{"kind": "run_started", "ts": start, "operator": operator, "drill": drill, "room": "room9",
                            "lab": True, "drill_symptoms": list(symptoms), "steps": steps or [],
                            "checklist": {"id": "promotion", "name": "Promotion", "revision": "v8", "sha256": "0" * 64}}]
    records += middle or []
    records += [{"kind": "step_state", "ts": start + 5, "step": s["id"], "state": "done"} for s in steps or ()]
    records += [{"kind": "step_state", "ts": start + 1 + i, "step": s, "state": "failed", "reason": "no ack"}
                for i, s in enumerate(failed)]
    if verified_after is not None:
        records.append({"kind": "dispatch_outcome", "ts": start + verified_after, "step": "smoke-test", "id": "x",
                        "verdict": "complete", "ack_ms": 5, "complete_ms": 9})
    records.append({"kind": "run_finished", "ts": start + (verified_after or 60) + 10, "outcome": "complete",
                    "deferred": [], "open": []})
    path.write_text("".join(json.dumps({"seq": i + 1, **r}) + "\n" for i, r in enumerate(records)))
    return path


def _history(report: str) -> str:
    return report.split("## Drill history", 1)[1].split("## Timeline", 1)[0]


def test_the_scenarios_own_symptom_is_not_a_mistake_and_a_flawless_trainee_scores_zero(tmp_path: Path):
    # Seen: controller-never-acks' smoke test fails by design (no ack), and the trainee who then had
    # the controller power-cycled and verified dispatch was given one mistake.
    path = _journal(tmp_path / "a.jsonl", failed=("smoke-test",))
    figures = drill_figures(read_journal(path).records)
    assert figures["failed_steps"] == [] and figures["fault_symptoms"] == ["smoke-test (controller-never-acks)"]
    report = render_report(path)
    assert "- Mistakes: 0 (guard refusals 0, wrong room ids 0, failed steps: none)" in report
    assert "- The fault showing itself (not mistakes): smoke-test (controller-never-acks) failed" in report


def test_the_same_failure_again_is_the_trainees(tmp_path: Path):
    # The smoke test run again without the power-cycle fails again: that one is the trainee's.
    path = _journal(tmp_path / "a.jsonl", failed=("smoke-test", "smoke-test", "recreate-core"))
    figures = drill_figures(read_journal(path).records)
    assert figures["failed_steps"] == ["smoke-test", "recreate-core"]
    assert figures["fault_symptoms"] == ["smoke-test (controller-never-acks)"]


def test_a_failure_the_trainers_fault_made_is_not_a_mistake(tmp_path: Path):
    injected = [{"kind": "fault_injected", "ts": DAY + 0.5, "fault": "standby-passwd-stale", "effect": "stale",
                 "symptoms": ["recreate-core"]}]
    path = _journal(tmp_path / "a.jsonl", drill="flapping-primary", symptoms=(), failed=("recreate-core",), middle=injected)
    figures = drill_figures(read_journal(path).records)
    assert figures["failed_steps"] == [] and figures["fault_symptoms"] == ["recreate-core (standby-passwd-stale)"]


def test_best_is_the_fewest_mistakes_before_the_fastest(tmp_path: Path):
    # Seen: a fast run with three mistakes was marked best above a slower flawless one.
    _journal(tmp_path / "a.jsonl", operator="ana", start=DAY, verified_after=90, failed=("recreate-core",) * 3)
    _journal(tmp_path / "b.jsonl", operator="ben", start=DAY + 1000, verified_after=150)
    report = render_report(_journal(tmp_path / "c.jsonl", operator="cy", start=DAY + 2000, verified_after=200))
    rows = {line.split("|")[2].strip(): line for line in _history(report).splitlines() if line.startswith("| 20")}
    assert "best" in rows["ben"] and "best" not in rows["ana"], rows
    assert "Best: the fewest mistakes, then overrides, then the fastest to verified dispatch." in report
    assert "- Against the best run before this one (2m30s by ben" in report


def test_a_scenario_without_a_smoke_test_is_timed_to_its_complete_end_and_gets_a_best(tmp_path: Path):
    # Seen: standby-drift (standby-current has no smoke test) never got a best and was never compared.
    _journal(tmp_path / "a.jsonl", drill="standby-drift", symptoms=(), verified_after=None, steps=CURRENT_STEPS, start=DAY)
    later = _journal(tmp_path / "b.jsonl", drill="standby-drift", symptoms=(), verified_after=None,
                     steps=CURRENT_STEPS, start=DAY + 1000, operator="ana")
    figures = drill_figures(read_journal(later).records)
    assert figures["measure"] == "to a complete run" and figures["measured_s"] == 70
    report = render_report(later)
    history = _history(report)
    assert "| when | operator | to a complete run | total | mistakes | |" in history
    assert "| best" in history or ", best" in history
    assert "- Time to a complete run (this scenario's measure: its checklist runs no smoke test): 1m10s" in report
    assert "to a complete run the same; mistakes 0 against 0." in history


def test_an_old_drills_report_reads_the_same_after_later_drills(tmp_path: Path):
    # Seen: exporting an old drill's report again listed the drills run since in its history table.
    old = _journal(tmp_path / "a.jsonl", operator="ana", start=DAY, verified_after=200)
    before = render_report(old)
    _journal(tmp_path / "b.jsonl", operator="ben", start=DAY + 1000, verified_after=100)
    assert render_report(old) == before
    assert "| ben |" not in _history(before)
