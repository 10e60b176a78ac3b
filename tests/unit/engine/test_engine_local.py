"""The run engine on local steps: confirmations, states, timeouts, masking, journal, report,
and a run killed with SIGKILL resumed from its journal. No live system needed: these steps
are plain shell commands and confirmations."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import EngineRefusal, RunConfig, RunEngine, StepOutput, StepState
from runbook_tui.observe.observer import Observer
from tests.conftest import REPO, run, site_without_dns

CHECKLIST = REPO / "tests" / "checklists" / "fixtures" / "drill-steps.yaml"


def new_engine(tmp_path: Path, events: list | None = None) -> RunEngine:
    checklist = load_checklist(CHECKLIST)
    values = resolve_variables(checklist, {"room": "room9"}, tmp_path).values
    sensors = Observer(site_without_dns(values, tmp_path))
    return RunEngine.start(checklist, values, sensors, tmp_path / "run.jsonl", RunConfig(tmp_path),
                           on_event=events.append if events is not None else None)


def test_command_step_streams_output_and_is_journaled(tmp_path: Path):
    events: list = []
    engine = new_engine(tmp_path, events)
    status = asyncio.run(engine.run_step("step-01", confirmed=True))
    assert status.state is StepState.DONE and status.reason == "exit code 0"
    assert StepOutput("step-01", "room9-marker 1") in events
    records = read_journal(tmp_path / "run.jsonl").records
    finished = next(r for r in records if r["kind"] == "command_finished")
    assert finished["exit_code"] == 0 and finished["output"] == ["room9-marker 1"]
    assert records[0]["kind"] == "run_started" and records[0]["checklist"]["sha256"] == engine.checklist.sha256


def test_nothing_runs_without_confirmation_and_risky_steps_need_the_room_typed(tmp_path: Path):
    engine = new_engine(tmp_path)
    with pytest.raises(EngineRefusal, match="needs the operator's confirmation"):
        asyncio.run(engine.run_step("step-01"))
    with pytest.raises(EngineRefusal, match=r"destructive: type the room id \(room9\)"):
        asyncio.run(engine.run_step("danger", confirmed=True))
    with pytest.raises(EngineRefusal, match="type the room id"):
        asyncio.run(engine.run_step("danger", typed_room="room1"))
    assert engine.status("danger").state is StepState.PENDING
    assert not any(r["kind"] == "command_started" for r in read_journal(tmp_path / "run.jsonl").records)
    assert asyncio.run(engine.run_step("danger", typed_room="room9")).state is StepState.DONE
    with pytest.raises(EngineRefusal):
        engine.mark_done("safe", confirmed=True)
    assert engine.mark_done("safe", typed_room="room9").state is StepState.DONE


def test_timeout_kills_the_whole_process_group(tmp_path: Path):
    engine = new_engine(tmp_path)
    t0 = time.monotonic()
    status = asyncio.run(engine.run_step("slow", confirmed=True))
    assert status.state is StepState.FAILED and "timed out after 1s" in status.reason
    assert time.monotonic() - t0 < 10
    # Durations no other process on the machine uses: only this step's sleeps can match.
    left = subprocess.run(["pgrep", "-f", r"sleep 30\.7[12]"], capture_output=True, text=True).stdout.split()
    assert not left  # neither the foreground nor the backgrounded sleep survived


def test_cancel_stops_a_running_command(tmp_path: Path):
    engine = new_engine(tmp_path)

    async def scenario():
        task = asyncio.create_task(engine.run_step("slow", confirmed=True))
        await asyncio.sleep(0.3)
        engine.cancel()
        return await task

    status = asyncio.run(scenario())
    assert status.state is StepState.FAILED and "cancelled by the operator" in status.reason


def test_overriding_a_running_step_is_refused_and_records_nothing(tmp_path: Path):
    # Seen in a drill: the override was journaled, nothing happened, and the report counted two
    # overrides for one decision.
    engine = new_engine(tmp_path)

    async def scenario():
        task = asyncio.create_task(engine.run_step("slow", confirmed=True))
        await asyncio.sleep(0.3)
        with pytest.raises(EngineRefusal, match="already running"):
            engine.override("slow", typed_room="room9", reason="it takes too long")
        with pytest.raises(EngineRefusal, match="needs a reason"):
            engine.override("step-01", typed_room="room9", reason=" ")
        engine.cancel()
        return await task

    asyncio.run(scenario())
    assert [r for r in read_journal(tmp_path / "run.jsonl").records if r["kind"] == "override"] == []


def test_failure_keeps_the_reason(tmp_path: Path):
    status = asyncio.run(new_engine(tmp_path).run_step("fails", confirmed=True))
    assert status.state is StepState.FAILED and status.reason == "exit code 3: about to fail"


def test_secrets_are_masked_in_output_and_journal(tmp_path: Path, monkeypatch):
    secret = "s3cr3t-Value-Long"
    (tmp_path / "infra" / "rooms" / "room9-standby").mkdir(parents=True)
    (tmp_path / "infra" / "rooms" / "room9-standby" / ".env").write_text(f"MQTT_PASSWORD={secret}\n")
    monkeypatch.setenv("DRILL_SECRET", secret)
    events: list = []
    engine = new_engine(tmp_path, events)
    asyncio.run(engine.run_step("leaky", confirmed=True))
    assert secret not in (tmp_path / "run.jsonl").read_text()
    assert StepOutput("leaky", "pw=••••••") in events
    assert all(secret not in getattr(e, "line", "") for e in events)


def test_skip_defer_override_need_reasons_and_set_the_outcome(tmp_path: Path):
    engine = new_engine(tmp_path)
    with pytest.raises(EngineRefusal, match="needs a reason"):
        engine.skip("step-01", " ")
    for step in ("step-01", "step-02", "step-03", "step-04", "step-05", "step-06", "step-07", "slow", "fails", "leaky"):
        engine.skip(step, "not needed in this drill")
    assert engine.outcome().verdict == "incomplete"
    with pytest.raises(EngineRefusal, match="room id"):
        engine.override("step-08", typed_room="wrong", reason="checked by hand")
    engine.override("step-08", typed_room="room9", reason="checked by hand")
    asyncio.run(engine.run_step("danger", typed_room="room9"))
    engine.mark_done("safe", typed_room="room9")
    engine.defer("later", "after the guests leave")
    assert engine.finish() == "complete except deferred items"
    report = render_report(tmp_path / "run.jsonl")
    # The outcome in its own words: the steps skipped and overridden are named with it.
    assert "**complete except deferred items with 11 steps without evidence (step-01," in report
    assert "- Deferred: later" in report
    assert "step-08: marked done without evidence by" in report and "checked by hand" in report
    assert "| Later (`later`) | deferred |" in report
    # The steps table follows the checklist's order, not the order the steps were decided in.
    rows = [line.split(" | ")[0].split("`")[1] for line in report.split("## Steps", 1)[1].split("## Overrides")[0].splitlines()
            if line.startswith("| ") and "`" in line]
    assert rows == [s.id for s in engine.checklist.steps() if s.applies(engine.choices)]


def test_report_command_writes_markdown(tmp_path: Path):
    engine = new_engine(tmp_path)
    asyncio.run(engine.run_step("step-01", confirmed=True))
    engine.finish()
    r = run(f"runbook-tui report {tmp_path / 'run.jsonl'} -o {tmp_path / 'report.md'}", REPO, check=True)
    assert "wrote" in r.stdout
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# After-action report: Drill steps (t1)")
    assert "`echo room9-marker 1; sleep 0.05` exited 0" in text
    bad = run(f"runbook-tui report {tmp_path / 'missing.jsonl'}", REPO)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


RUNNER = """
import asyncio, sys
from pathlib import Path
from tests.unit.engine.test_engine_local import new_engine
engine = new_engine(Path(sys.argv[1]))
async def main():
    while True:
        for n in range(1, 9):
            await engine.run_step(f"step-0{n}", confirmed=True)
asyncio.run(main())
"""


def wait_until_unlocked(path: Path, timeout: float = 10) -> None:
    """Killed as it started a step's command, the runner leaves a child between fork and exec:
    that child shares the journal's open file, and with it the lock, until its exec closes it
    (seen once in the fast tier: the resume below was refused as "in use by another process")."""
    deadline = time.monotonic() + timeout
    with open(path, "rb") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                assert time.monotonic() < deadline, f"{path} still locked {timeout}s after the runner was killed"
                time.sleep(0.01)


def journal_states(path: Path) -> dict[str, str]:
    states = {}
    for r in read_journal(path).records:
        if r["kind"] == "step_state":
            states[r["step"]] = r["state"]
    return states


@pytest.mark.parametrize("delay", [0.0, 0.031, 0.077, 0.113])
def test_kill_9_during_a_run_loses_no_record_and_resumes_with_the_same_states(tmp_path: Path, delay: float):
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    journal = tmp_path / "run.jsonl"
    deadline = time.monotonic() + 30
    # Let the run get going (several steps done), then kill it at an arbitrary moment.
    while not (journal.exists() and journal.read_text().count('"command_finished"') >= 3):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_until_unlocked(journal)
    contents = read_journal(tmp_path / "run.jsonl")
    assert not contents.torn
    seqs = [r["seq"] for r in contents.records]
    assert seqs == list(range(1, len(seqs) + 1))  # none lost, none out of order
    assert sum(1 for r in contents.records if r["kind"] == "command_finished") >= 1
    before = journal_states(tmp_path / "run.jsonl")
    checklist = load_checklist(CHECKLIST)
    values = resolve_variables(checklist, {"room": "room9"}, tmp_path).values
    engine, notes = RunEngine.resume(tmp_path / "run.jsonl", checklist,
                                     Observer(site_without_dns(values, tmp_path)), RunConfig(tmp_path))
    for step_id, state in before.items():
        if state == "running":
            assert engine.status(step_id).state is StepState.PENDING
            assert any(n.startswith(f"{step_id}: was running") for n in notes)
        else:
            assert engine.status(step_id).state.value == state
    assert read_journal(tmp_path / "run.jsonl").records[-1]["seq"] > seqs[-1]  # resume appended after the last record


def test_resume_refuses_another_checklist_version(tmp_path: Path):
    engine = new_engine(tmp_path)
    asyncio.run(engine.run_step("step-01", confirmed=True))
    changed = tmp_path / "drill-steps.yaml"
    changed.write_text(CHECKLIST.read_text().replace('revision: "t1"', 'revision: "t2"'))
    checklist = load_checklist(changed)
    with pytest.raises(EngineRefusal, match="one checklist version per run"):
        RunEngine.resume(tmp_path / "run.jsonl", checklist, engine.observer, RunConfig(tmp_path))


def test_torn_last_record_is_skipped_and_sealed(tmp_path: Path):
    engine = new_engine(tmp_path)
    asyncio.run(engine.run_step("step-01", confirmed=True))
    engine.journal.close()
    with open(tmp_path / "run.jsonl", "ab") as f:
        f.write(b'{"seq": 99, "kind": "step_st')  # a writer cut short
    checklist = load_checklist(CHECKLIST)
    resumed, notes = RunEngine.resume(tmp_path / "run.jsonl", checklist, engine.observer, RunConfig(tmp_path))
    assert "1 torn record(s) at a crash were skipped" in notes
    assert resumed.status("step-01").state is StepState.DONE
    contents = read_journal(tmp_path / "run.jsonl")
    assert len(contents.torn) == 1 and contents.records[-1]["kind"] == "run_resumed"
    assert json.loads((tmp_path / "run.jsonl").read_text().splitlines()[-1])["kind"] == "run_resumed"


def test_report_agrees_with_the_journal_record_for_record(tmp_path: Path):
    engine = new_engine(tmp_path)
    asyncio.run(engine.run_step("step-01", confirmed=True))
    asyncio.run(engine.run_step("fails", confirmed=True))
    engine.skip("step-02", "not today")
    engine.finish()
    records = read_journal(tmp_path / "run.jsonl").records
    report = render_report(tmp_path / "run.jsonl")
    journal_rows = report.split("## Journal", 1)[1].strip().splitlines()[2:]
    assert len(journal_rows) == len(records)
    for row, record in zip(journal_rows, records, strict=True):
        assert row.startswith(f"| {record['seq']} |")
        assert record["kind"] in row or record.get("step", "") in row


def test_a_drill_report_times_the_run_and_compares_with_earlier_drills(tmp_path: Path):
    from runbook_tui.engine.drill_report import drill_figures

    for attempt in range(2):
        checklist = load_checklist(CHECKLIST)
        values = resolve_variables(checklist, {"room": "room9"}, tmp_path).values
        sensors = Observer(site_without_dns(values, tmp_path))
        engine = RunEngine.start(checklist, values, sensors, tmp_path / f"drill-{attempt}.jsonl",
                                 RunConfig(tmp_path, drill="controller-never-acks"))
        asyncio.run(engine.run_step("fails", confirmed=True))  # a mistake in each run
        if attempt == 1:
            engine.wrong_room_id("danger")  # and a wrong room id typed in the second
        engine.finish()
        engine.journal.close()
    report = render_report(tmp_path / "drill-1.jsonl")
    assert "- Scenario: controller-never-acks" in report and "- Drill scenario: controller-never-acks" in report
    assert "- Mistakes: 2 (guard refusals 0, wrong room ids 1, failed steps: fails)" in report
    assert "danger: a wrong room id was typed; nothing was run" in report
    history = report.split("## Drill history", 1)[1].split("## Timeline", 1)[0]
    assert history.count("| 20") == 2 and "this run" in history
    figures = drill_figures(read_journal(tmp_path / "drill-0.jsonl").records)
    assert figures["failed_steps"] == ["fails"] and figures["to_verified_dispatch_s"] is None


def _drill_journal(path: Path, operator: str, start: float, verified_after: float | None, failed: int = 0) -> None:
    """A finished drill's journal, written record by record (the report reads nothing else)."""
    records = [{"kind": "run_started", "ts": start, "operator": operator, "drill": "dns-not-repointed", "room": "room9", "lab": True,
                "checklist": {"id": "promotion", "name": "Promotion", "revision": "v8", "sha256": "0" * 64}}]
    records += [{"kind": "step_state", "ts": start + 1, "step": "smoke-test", "state": "failed", "reason": "no ack"}] * failed
    if verified_after is not None:
        records.append({"kind": "dispatch_outcome", "ts": start + verified_after, "step": "smoke-test", "id": "x", "verdict": "complete",
                        "ack_ms": 5, "complete_ms": 9})
    records.append({"kind": "run_finished", "ts": start + (verified_after or 60) + 10, "outcome": "complete", "deferred": [], "open": []})
    path.write_text("".join(json.dumps({"seq": i + 1, **r}) + "\n" for i, r in enumerate(records)))


def test_a_drill_report_compares_the_trainee_with_their_own_runs_and_the_best(tmp_path: Path):
    day = 1_790_000_000.0
    _drill_journal(tmp_path / "a1.jsonl", "ana", day, 300, failed=2)
    _drill_journal(tmp_path / "b1.jsonl", "ben", day + 1000, 150)
    _drill_journal(tmp_path / "a2.jsonl", "ana", day + 2000, 240, failed=1)
    _drill_journal(tmp_path / "a3.jsonl", "ana", day + 3000, 200)
    report = render_report(tmp_path / "a3.jsonl")
    history = report.split("## Drill history", 1)[1].split("## Timeline", 1)[0]
    assert "- ana's earlier drills of this scenario: 2." in history
    assert "to verified dispatch 40.0s faster; mistakes 0 against 1." in history  # against a2, her last
    assert "- Against ana's own best (4m00s): 40.0s faster." in history
    assert "- Against the best run before this one (2m30s by ben" in history and "): 50.0s slower." in history
    assert history.count("| ana |") == 3 and "| ben | 2m30s |" in history
    rows = [line for line in history.splitlines() if line.startswith("| 20")]
    assert "best" in rows[1] and "this run" in rows[3]  # oldest first
    # ben's report compares with what came before it only, so it reads the same when exported again.
    (tmp_path / "broken.jsonl").write_text('{"seq": 1, "kind": "run_started", "drill": "dns-not-repointed"}\n{"seq": 2}\n')
    first = render_report(tmp_path / "b1.jsonl").split("## Drill history", 1)[1]
    assert "- First drill of this scenario for ben." in first
    assert "- Against the best run before this one (5m00s by ana" in first and "2m30s faster" in first
    # A finished journal copied under another name still counts as finished (its own records decide).
    (tmp_path / "kept").mkdir()
    copy = tmp_path / "kept" / "a3.jsonl.bak"
    copy.write_bytes((tmp_path / "a3.jsonl").read_bytes())
    assert "This run is not finished" not in render_report(copy) and "| ana | 3m20s | 3m30s | 0 | this run, best |" in render_report(copy)


def test_the_runs_of_a_purged_room_are_closed_not_offered_for_resuming(tmp_path: Path):
    from runbook_tui.engine.journal import abandon_unfinished, ended

    checklist = load_checklist(CHECKLIST)
    values = resolve_variables(checklist, {"room": "room9"}, tmp_path).values
    runs = tmp_path / "runs"

    def engine(name: str) -> RunEngine:
        sensors = Observer(site_without_dns(values, tmp_path))
        return RunEngine.start(checklist, values, sensors, runs / name, RunConfig(tmp_path))

    crashed = engine("room9-drill-steps-1.jsonl")
    asyncio.run(crashed.run_step("step-01", confirmed=True))
    crashed.journal.close()  # the console dropped: no run_finished
    finished = engine("room9-drill-steps-2.jsonl")
    finished.finish()
    finished.journal.close()
    still_open = engine("room9-drill-steps-3.jsonl")  # a runbook-tui still holds this one
    before = {p.name: p.read_bytes() for p in runs.iterdir()}

    abandoned, busy = abandon_unfinished(runs, "room9", "the lab room room9 was purged")
    assert [p.name for p in abandoned] == ["room9-drill-steps-1.jsonl"]
    assert [p.name for p in busy] == ["room9-drill-steps-3.jsonl"]
    for name in ("room9-drill-steps-2.jsonl", "room9-drill-steps-3.jsonl"):
        assert (runs / name).read_bytes() == before[name]  # untouched
    # Append-only: the crashed run's records are all still there, one record more at the end.
    after = (runs / "room9-drill-steps-1.jsonl").read_bytes()
    assert after.startswith(before["room9-drill-steps-1.jsonl"])
    records = read_journal(runs / "room9-drill-steps-1.jsonl").records
    assert records[-1]["kind"] == "run_abandoned" and ended(records)
    report = render_report(runs / "room9-drill-steps-1.jsonl")
    assert "- Outcome: **abandoned** at " in report and "the lab room room9 was purged" in report
    assert "run abandoned: the lab room room9 was purged" in report
    assert "(`step-01`) | done |" in report and "(`step-02`) | not decided |" in report  # what was left open
    # A second purge finds nothing more to close.
    assert abandon_unfinished(runs, "room9", "again")[0] == []
    still_open.journal.close()
