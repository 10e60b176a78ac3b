"""The drill scenarios whose fault has a non-normal procedure, solved through it, as a trainee
solves them: `runbook-tui drill` starts the room over and injects the fault, the room raises the
procedure (queued in the run once its condition has held its hold time), the trainee opens it,
works its steps with the runbook's own commands, and the run ends "complete" with no override.
The drill's report then times the reaction: from the trigger firing to the procedure opened, to
it worked to its end and to its condition clearing.

Which scenarios: flapping-primary and primary-broker-dead ("The active broker is down, or its
core crash-loops", before the promotion), resolvers-disagree ("The resolvers disagree", once
the name is repointed on one resolver only), primary-host-lost (after the promotion, the host
powered on: "Dual control: stop the primary's core", then "The primary came back"). The others
(standby-passwd-stale, controller-never-acks, standby-drift) raise none: their controllers stay
online and their active stack answers. One room (room8, as test_78), started over per scenario.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from runbook_tui.engine import records as rec
from runbook_tui.engine.drill_report import drill_figures
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import RunEngine, StepState
from runbook_tui.lab.readiness import wait_for
from tests.conftest import TEST_DNS_PORT

# The drill's start, the trainee's console and the promotion's moves, as test_78 has them.
from tests.lab.test_78_drills_solved import (
    OPENED,
    ROOM,
    finish_as_complete,
    promote_to_the_end,
    promote_until_fenced,
    promote_until_stop,
    run,
    skip_where_the_host_is_shared,
    start_drill,
    typed,
    while_waiting,
)

FAILING = "active-failing"


@pytest.fixture(scope="module")
def drill_room(lab):
    with lab.extra_room(ROOM):
        yield lab


@pytest.fixture
def trainee_env(drill_room, monkeypatch):
    """The trainee's terminal (the lab's DNS step runs `runbook-tui lab dns point`), and their
    console letting the room go when the test ends, so that the next drill's can open it."""
    for key, value in drill_room.env().items():
        monkeypatch.setenv(key, value)
    yield drill_room
    while OPENED:
        session = OPENED.pop()
        if session.engine is not None:
            session.engine.journal.close()
        session.release()


def queued_by_the_room(engine: RunEngine, procedure: str, timeout: float) -> rec.ProcedureQueued:
    """The run looks at the room (a fresh look twice a second, as the console's watcher feeds it)
    until the procedure is queued; returns its record."""
    def queued() -> bool:
        engine.reconcile()
        return engine.procedures.status(procedure) is not None

    assert wait_for(queued, timeout, 0.5), f"{procedure} not queued within {timeout} s"
    return records_of(engine, rec.ProcedureQueued)[-1]


def records_of(engine: RunEngine, cls: type[rec.Record]) -> list:
    return [r for r in rec.read_all(read_journal(engine.journal.path).records) if isinstance(r, cls)]


READ_S = 2.0  # the trainee reads the banner before opening the procedure


def opened(engine: RunEngine, procedure: str) -> None:
    """The trainee reads the banner, then opens the queued procedure (its key, n)."""
    time.sleep(READ_S)
    engine.procedures.open(procedure)
    assert engine.procedures.status(procedure).opened_at is not None


def reaction(report: str, procedure: str) -> str:
    drill = report.split("## Drill\n", 1)[1].split("\n## ", 1)[0]
    assert "- Reaction to the non-normal procedures, timed from each one's trigger firing (queued):" in drill, drill
    lines = [line for line in drill.splitlines() if f"(`{procedure}`" in line]
    assert lines, drill
    print("\n" + "\n".join(lines))
    return lines[0]


def worked_and_cleared(engine: RunEngine, procedure: str) -> None:
    """Worked to its end, and its condition cleared (journaled while it was worked)."""
    status = engine.procedures.status(procedure)
    assert status.worked_at is not None and not status.open, status
    assert wait_for(lambda: (engine.reconcile() or True) and engine.procedures.status(procedure).cleared_at is not None,
                    30), f"{procedure}: its condition never cleared"
    cleared = [r for r in records_of(engine, rec.ProcedureCleared) if r.procedure == procedure]
    assert cleared and not cleared[-1].by_itself, cleared


def failing_solved_by_promoting(lab, scenario: str, setup_done: tuple[str, ...] | None = None) -> tuple[str, Path]:
    """The active primary fails (its core crash-loops, or its broker is dead): the procedure is
    queued, opened, the primary's containers and logs looked at, and the way out is the promotion;
    once the standby is active and healthy its last step passes."""
    engine = start_drill(lab, scenario)
    queued = queued_by_the_room(engine, FAILING, 120)
    assert queued.condition == "active_stack_failing" and "the active primary" in queued.detail, queued
    opened(engine, FAILING)
    run(engine, "failing-look-primary")  # the primary's containers and logs, on its own engine
    if setup_done is None:
        promote_until_stop(engine)
    else:
        promote_until_stop(engine, setup_done)
    for step in ("enable-dispatch", "recreate-core"):
        run(engine, step)
    run(engine, "failing-fixed")  # the standby is the active stack now, and healthy
    worked_and_cleared(engine, FAILING)
    for step in ("dns-repoint", "controllers-reconnected", "smoke-test"):
        run(engine, step)
    promote_to_the_end(engine)
    # The standby's look step was not needed (its stack was not the failing one).
    assert engine.status("failing-look-standby").state is StepState.PENDING
    return finish_as_complete(engine), engine.journal.path


def test_flapping_primary_solved_through_active_failing(trainee_env):
    report = finish_reaction(*failing_solved_by_promoting(trainee_env, "flapping-primary"), FAILING)
    assert "crash-looping" in report or "restarting" in report


def test_dead_primary_broker_solved_through_active_failing(trainee_env):
    setup = ("create-dirs", "passwd-primary", "passwd-standby", "up-standby")  # "Bring up the primary": its broker is dead
    finish_reaction(*failing_solved_by_promoting(trainee_env, "primary-broker-dead", setup), FAILING)


def finish_reaction(report: str, journal: Path, procedure: str) -> str:
    """The drill report's reaction to PROCEDURE: opened as the trainee did (after reading the
    banner), worked to its end, its condition cleared by the trainee's steps, not by itself."""
    said = reaction(report, procedure)
    assert "opened after " in said and "worked to its end after " in said, said
    assert "its condition cleared after " in said, said
    (timed,) = [r for r in drill_figures(read_journal(journal).records)["reactions"] if r["procedure"] == procedure]
    # Queued on one of the console's looks, read for READ_S, opened: the report times just that.
    assert READ_S <= timed["to_opened_s"] <= READ_S + 3, timed
    assert timed["to_opened_s"] <= timed["to_worked_s"] and timed["to_cleared_s"] is not None, timed
    return report


def test_resolvers_that_disagree_solved_through_their_procedure(trainee_env):
    lab = trainee_env
    engine = start_drill(lab, "resolvers-disagree")
    second = f"127.0.0.1:{int(TEST_DNS_PORT) + 1}"
    promote_until_stop(engine)
    for step in ("enable-dispatch", "recreate-core"):
        run(engine, step)
    # The trainee repoints the name on the UDM Pro (the lab's first resolver): the second still
    # answers the primary, and "Repoint" does not pass.
    typed(lab, f"runbook-tui lab dns point {ROOM} standby")
    fired_from = time.time()
    queued = queued_by_the_room(engine, "resolvers-disagree", 60)
    # Its hold time is 10 s: queued once the disagreement has held that long (and the run had
    # looked at the room when it started, the drill's repoint just made).
    assert queued.held_s >= 10 and queued.ts - fired_from < 10 + 5, (queued.held_s, queued.ts - fired_from)
    assert engine.status("dns-repoint").state is StepState.PENDING
    opened(engine, "resolvers-disagree")

    def repoint_the_second() -> None:
        status = typed(lab, "runbook-tui lab status")
        assert f"(primary) at resolver {second}" in status, status  # the resolver that answers otherwise
        typed(lab, f"runbook-tui lab dns point {ROOM} standby --resolver {second}")

    asyncio.run(while_waiting(engine, "disagree-fixed", repoint_the_second))
    worked_and_cleared(engine, "resolvers-disagree")
    # The checklist's own repoint holds now: it ticks on the evidence.
    assert wait_for(lambda: (engine.reconcile() or True) and engine.status("dns-repoint").state is StepState.DONE, 30)
    for step in ("controllers-reconnected", "smoke-test"):
        run(engine, step)
    promote_to_the_end(engine)
    finish_reaction(finish_as_complete(engine), engine.journal.path, "resolvers-disagree")


def test_a_lost_primary_hosts_return_solved_through_dual_control_then_primary_back(trainee_env):
    """The promotion with the host fenced, as test_78; then the trainer powers the host on: its old
    core comes back dispatching. "Dual control: stop the primary's core" is queued and worked (the
    core stopped on the primary's own engine), then "The primary came back" for what is still live
    there (its broker and database): shut down again, and why it came back said."""
    lab = trainee_env
    skip_where_the_host_is_shared(lab, ROOM)
    engine = start_drill(lab, "primary-host-lost")
    promote_until_fenced(engine)
    for step in ("disarm-primary", "standby-up", "enable-dispatch", "recreate-core", "dns-repoint",
                 "controllers-reconnected", "smoke-test"):
        run(engine, step)
    promote_to_the_end(engine)

    healed = typed(lab, f"runbook-tui lab fault {ROOM} primary-host-lost --heal")
    assert "sentient-core=running" in healed, healed
    dual = queued_by_the_room(engine, "dual-control-primary", 90)
    assert dual.condition == "dual_control_standby_promoted", dual
    opened(engine, "dual-control-primary")
    for step in ("dual-stop-primary-core", "dual-disarm-primary", "dual-control-ended"):
        run(engine, step)
    worked_and_cleared(engine, "dual-control-primary")

    # The primary's broker and database are still up on the host: it came back.
    queued_by_the_room(engine, "primary-back", 60)
    opened(engine, "primary-back")
    for step in ("back-disarm-primary", "back-stop-primary"):
        run(engine, step)
    engine.mark_done("back-why", confirmed=True)  # the trainee says why: the host powered on by itself
    worked_and_cleared(engine, "primary-back")
    assert not lab.sh("docker ps -q", env={"DOCKER_HOST": lab.engine.url}, check=True).stdout.strip()
    engine.reconcile()
    assert engine.finish() == "complete", engine.outcome()
    journal = engine.journal.path
    engine.journal.close()
    assert not [r for r in read_journal(journal).records if "override" in r["kind"]], "solved without an override"
    report = render_report(journal)
    # Complete, and the host's return said with it: the seconds of dual control it caused.
    assert "- Outcome: **complete, with " in report and " s of dual control at " in report
    for procedure in ("dual-control-primary", "primary-back"):
        finish_reaction(report, journal, procedure)
