"""A non-normal procedure queued by the room and worked by the engine, against the real lab.

Room1 at rest, a promotion run open on it with the live watcher feeding the engine (as the TUI
does): the standby's core is started with dispatch on from the environment of whoever started it
(its .env still says off: the runbook's own "started with a value its .env does not say"). Both
cores dispatch: the procedure for it is queued within 2 s, worked to its end through run_step
(the standby's .env kept disarmed, its core recreated from it, proven quiet), the condition clears,
and the journal and the report show each record. The room ends as it was found.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine import records as rec
from runbook_tui.engine.events import ProcedureChanged
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import RunConfig, RunEngine, StepState
from runbook_tui.live.watcher import RoomWatcher
from runbook_tui.observe.model import ROLES
from runbook_tui.observe.observer import Observer
from runbook_tui.observe.site import site_context
from runbook_tui.rules.room import alarms, started_epoch
from runbook_tui.settings import LAB_VARIABLES
from tests.conftest import REPO, TEST_DNS_PORT

ROOM = "room1"
PROCEDURE = "dual-control-standby"


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def compose(lab, role: str, args: str, prefix: str = ""):
    stack = f"{ROOM}-{role}"
    return lab.sh(f"cd infra/rooms/{stack} && {prefix}docker compose --env-file .env {args}",
                  env=lab.stack_docker_env(stack), timeout=180)


@pytest.fixture
def fresh_room1(lab):
    """room1 as `lab up` leaves it: earlier lab tests promote it (its primary down, its standby
    active), and dual control needs both cores up with their brokers."""
    reset = lab.sh(f"runbook-tui lab reset {ROOM}", timeout=600)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    return lab


def test_dual_control_made_during_a_run_is_queued_worked_by_the_engine_and_cleared(fresh_room1, tmp_path):
    lab = fresh_room1
    checklist = load_checklist(REPO / "checklists" / "promotion.yaml")
    given = {"room": ROOM} | {k: v for k, v in LAB_VARIABLES.items() if k in checklist.variables}
    values = resolve_variables(checklist, given, lab.root).values
    hosts = {r: h for r in ROLES if (h := lab.docker_host(f"{ROOM}-{r}"))}
    site = site_context(values, lab.root, (("127.0.0.1", int(TEST_DNS_PORT)),), tuple(hosts.items()))
    events: list = []
    journal_path = tmp_path / "promotion.jsonl"
    engine = RunEngine.start(checklist, values, Observer(site), journal_path,
                             RunConfig(lab.root, lab=True, docker_hosts=hosts), on_event=events.append)
    watcher = RoomWatcher(site, on_observation=engine.observe)
    watcher.start()
    try:
        def both_cores_said() -> bool:
            obs = watcher.observation()
            return len(obs.brokers) == 2 and all(b.state == "ok" and b.core is not None for b in obs.brokers)

        wait_for(both_cores_said, 20, "both brokers read, each with its core's status")
        time.sleep(3)  # the room at rest for a while: nothing is queued for it
        assert engine.procedures.queued() == (), engine.procedures.queued()
        assert alarms(watcher.observation()) == ()

        made = compose(lab, "standby", "up -d --force-recreate sentient-core", prefix="CORE_DISPATCH_ENABLED=true ")
        assert made.returncode == 0, made.stdout + made.stderr
        started_at = compose(lab, "standby", "ps --format '{{.State}} {{.ID}}' sentient-core")  # running, and which
        container = started_at.stdout.split()[-1]
        inspect = lab.sh(f"docker inspect -f '{{{{.State.StartedAt}}}}' {container}",
                         env=lab.stack_docker_env(f"{ROOM}-standby"))
        fault_at = started_epoch(inspect.stdout.strip())
        assert fault_at is not None, inspect.stdout + inspect.stderr

        wait_for(lambda: engine.procedures.status(PROCEDURE) is not None, 15, "the dual-control procedure queued")
        status = engine.procedures.status(PROCEDURE)
        assert status.queued_at - fault_at <= 2.0, f"queued {status.queued_at - fault_at:.2f} s after the core started"
        assert "both run with dispatch enabled" in status.detail and status.source == "trigger"
        assert engine.outcome().procedures_open == (PROCEDURE,)
        # The other way round (the standby promoted) is not this: only one procedure for one fault.
        assert [p.id for p in engine.procedures.queued()] == [PROCEDURE]

        # Worked to its end through the engine's ordinary calls, on the standby's own engine.
        engine.procedures.open(PROCEDURE)
        steps = [s.id for s in engine.procedures.steps(PROCEDURE)]
        assert steps == ["dual-disarm-standby", "dual-recreate-standby-core", "dual-standby-quiet"]
        disarm = asyncio.run(engine.run_step("dual-disarm-standby", confirmed=True))
        assert disarm.state is StepState.DONE, disarm
        assert any("nothing written" in e for e in disarm.evidence), disarm.evidence  # the .env said off all along
        recreate = asyncio.run(engine.run_step("dual-recreate-standby-core", typed_room=ROOM))
        assert recreate.state is StepState.DONE, recreate
        assert any("standby_core_dispatch_disabled: yes" in e for e in recreate.evidence), recreate.evidence
        quiet = asyncio.run(engine.run_step("dual-standby-quiet", confirmed=True))
        assert quiet.state is StepState.DONE, quiet
        status = engine.procedures.status(PROCEDURE)
        assert status.worked_at is not None and not status.open

        wait_for(lambda: engine.procedures.status(PROCEDURE).cleared_at is not None, 15, "the condition cleared")
        assert engine.outcome().procedures_open == ()
        said = [e.what for e in events if isinstance(e, ProcedureChanged)]
        # Recreating the standby's core ends dual control before the last step has proven it quiet.
        assert said[:2] == ["queued", "opened"] and sorted(said[2:]) == ["cleared", "worked"], said
    finally:
        watcher.stop()
        engine.journal.close()
        if lab.stack_env(f"{ROOM}-standby").get("CORE_DISPATCH_ENABLED") == "false":
            compose(lab, "standby", "up -d --force-recreate sentient-core")  # as found: from its .env

    records = rec.read_all(read_journal(journal_path).records)
    kinds = [type(r) for r in records if isinstance(r, (rec.ProcedureQueued, rec.ProcedureOpened, rec.ProcedureWorked,
                                                        rec.ProcedureCleared))]
    assert kinds[:2] == [rec.ProcedureQueued, rec.ProcedureOpened] and len(kinds) == 4
    assert set(kinds[2:]) == {rec.ProcedureWorked, rec.ProcedureCleared}
    cleared = next(r for r in records if isinstance(r, rec.ProcedureCleared))
    assert not cleared.by_itself  # its own steps ended it
    worked = [r.step for r in records if isinstance(r, rec.StepStateRecord) and r.procedure == PROCEDURE
              and r.state == "done"]
    # An opened procedure's steps also turn done on the room's evidence (the standby quiet as soon
    # as its core is recreated, before its own step is run): each step done, in whatever order.
    assert set(worked) == set(steps), worked
    report = render_report(journal_path)
    section = report.split("## Non-normal procedures")[1].split("\n## ")[0]
    assert "Dual control: stop the standby's dispatch (the primary is active) (`dual-control-standby`)" in section
    for said in ("queued: dual_control_standby_not_promoted held", "opened by", "worked: `dual-disarm-standby` done",
                 "worked: `dual-recreate-standby-core` done", "worked: `dual-standby-quiet` done", "worked to its end",
                 "its condition cleared while it was worked"):
        assert said in section, (said, section)
