"""Every drill scenario solved, as a trainee solves it: `runbook-tui drill` starts the room over
and injects the fault; the scenario's checklist is then worked through the engine with the
tool's actions and the runbook's own commands (typed in a second terminal) until the run says
"complete", with no override anywhere in its journal. One room (room8), started over per scenario.
"""

from __future__ import annotations

import asyncio

import pytest

from runbook_tui.cli.drill import drill_options, drill_settings
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import RunEngine, StepState
from runbook_tui.lab.readiness import wait_for
from runbook_tui.session import Session
from runbook_tui.settings import lab_defaults
from tests.conftest import TEST_DNS_PORT
from tests.lab.rooms import confirmed_at_room

ROOM = "room8"
TRAINEE = "trainee8"
SETUP = ("create-dirs", "passwd-primary", "passwd-standby", "up-primary", "up-standby")


@pytest.fixture(scope="module")
def room8(lab):
    with lab.extra_room(ROOM):
        yield lab


@pytest.fixture
def trainee_env(room8, monkeypatch):
    for key, value in room8.env().items():  # the lab's DNS step runs `runbook-tui lab dns point`
        monkeypatch.setenv(key, value)
    return room8


OPENED: list[Session] = []


@pytest.fixture(autouse=True)
def consoles_closed():
    """Each test is one trainee's console: it lets the room go when the test ends (one console
    acts on a room, so the next drill's console could not open it otherwise)."""
    yield
    while OPENED:
        session = OPENED.pop()
        if session.engine is not None:
            session.engine.journal.close()
        session.release()


def start_drill(lab, scenario: str) -> RunEngine:
    """What the trainer types, then the checklist the trainee opens (the drill's own settings)."""
    started = lab.sh(f"runbook-tui drill {ROOM} --scenario {scenario} --trainee {TRAINEE}", timeout=600)
    assert started.returncode == 0 and "open the checklist with" in started.stdout, started.stdout + started.stderr
    # A trainee's drill is blind: the command prints no fault, and the checklist opens as one.
    assert f"--room {ROOM} --blind --operator {TRAINEE}" in started.stdout and f"DRILL in {ROOM}" in started.stdout, started.stdout
    assert scenario not in started.stdout, started.stdout  # the command it prints names none either
    settings = drill_settings(lab_defaults(), scenario)
    session = Session(settings, ROOM, settings.checklist, drill=scenario, operator=TRAINEE, **drill_options(scenario, True))
    OPENED.append(session)
    return session.start_engine()


def run(engine: RunEngine, step: str) -> None:
    status = asyncio.run(engine.run_step(step, confirmed=True, typed_room=ROOM))
    assert status.state is StepState.DONE, (step, status)


def typed(lab, command: str) -> str:
    """A runbook command typed by the trainee in a second terminal, from the stack root."""
    done = lab.sh(command, timeout=300)
    assert done.returncode == 0, command + "\n" + done.stdout + done.stderr
    return done.stdout


async def while_waiting(engine: RunEngine, step: str, fix) -> None:
    """Run a wait step; while it waits, the trainee does what it waits for (`fix`, blocking)."""
    task = asyncio.create_task(engine.run_step(step, confirmed=True, typed_room=ROOM))
    await asyncio.sleep(1.0)
    assert not task.done(), "the step should wait for the trainee"
    await asyncio.to_thread(fix)
    status = await task
    assert status.state is StepState.DONE, (step, status)


def finish_as_complete(engine: RunEngine) -> str:
    engine.reconcile()
    assert engine.finish() == "complete", engine.outcome()
    journal = engine.journal.path
    engine.journal.close()
    records = read_journal(journal).records
    assert not [r for r in records if "override" in r["kind"]], "solved without an override"
    assert next(r for r in records if r["kind"] == "run_started")["operator"] == TRAINEE
    report = render_report(journal)
    assert "**complete**" in report
    return report


def promote_until_stop(engine: RunEngine, setup: tuple[str, ...] = SETUP) -> None:
    notes = engine.reconcile()
    for step in setup:
        assert engine.status(step).state is StepState.DONE, (step, notes)
    engine.mark_done("edit-env", confirmed=True)
    engine.choose("controller_reach", "B")
    confirmed_at_room(engine, "room-safe")
    engine.mark_done("room-safe", typed_room=ROOM)
    for step in ("stop-primary", "disarm-primary", "standby-up"):
        run(engine, step)


def promote_straight(engine: RunEngine) -> None:
    """After the shutdown, the promotion as the runbook has it, nothing in the way."""
    for step in ("enable-dispatch", "recreate-core", "dns-repoint", "controllers-reconnected", "smoke-test"):
        run(engine, step)
    promote_to_the_end(engine)


def promote_to_the_end(engine: RunEngine) -> None:
    confirmed_at_room(engine, "device-reacts")
    engine.mark_done("device-reacts", confirmed=True)
    engine.skip("arm-critical", "no critical actions needed in this drill")
    engine.skip("recreate-core-armed", "critical actions stay disarmed")


def test_flapping_primary_solved_by_shutting_it_down(trainee_env):
    lab = trainee_env
    engine = start_drill(lab, "flapping-primary")
    promote_until_stop(engine)
    promote_straight(engine)
    report = finish_as_complete(engine)
    assert "flapping-primary" in report


def test_dead_primary_broker_solved_by_promoting(trainee_env):
    lab = trainee_env
    engine = start_drill(lab, "primary-broker-dead")
    # "Bring up the primary" does not hold (its broker is dead); shutting the primary down ends
    # it on purpose, so it holds nothing open (the report says so).
    promote_until_stop(engine, tuple(s for s in SETUP if s != "up-primary"))
    assert engine.status("up-primary").state is StepState.PENDING
    promote_straight(engine)
    report = finish_as_complete(engine)
    assert "| superseded | - | ended on purpose by `stop-primary` |" in report


def test_stale_standby_passwd_solved_with_runbook_5s_commands(trainee_env):
    lab = trainee_env
    engine = start_drill(lab, "standby-passwd-stale")
    promote_until_stop(engine)
    run(engine, "enable-dispatch")
    # The recreated core cannot be seen dispatching: its own broker refuses the room's credentials.
    failed = asyncio.run(engine.run_step("recreate-core", confirmed=True, typed_room=ROOM))
    assert failed.state is StepState.FAILED and "standby_core_dispatch_enabled" in failed.reason, failed
    assert "Not authorized" in failed.reason or "not authorized" in failed.reason, failed.reason
    # Runbook 5, typed by the trainee: regenerate the standby's passwd, recreate its broker.
    typed(lab, f"scripts/mosquitto-make-passwd.sh infra/rooms/{ROOM}-standby/.env")
    typed(lab, f"(cd infra/rooms/{ROOM}-standby && docker compose --env-file .env up -d --force-recreate mosquitto)")
    assert wait_for(lambda: (engine.reconcile() or True) and engine.status("recreate-core").state is StepState.DONE, 60)
    for step in ("dns-repoint", "controllers-reconnected", "smoke-test"):
        run(engine, step)
    promote_to_the_end(engine)
    report = finish_as_complete(engine)
    # The failed recreate was the fault showing itself: a flawless trainee makes no mistake.
    assert "- Mistakes: 0 (guard refusals 0, wrong room ids 0, failed steps: none)" in report
    assert "- The fault showing itself (not mistakes): recreate-core (standby-passwd-stale) failed" in report


def test_resolvers_that_disagree_solved_by_repointing_each(trainee_env):
    lab = trainee_env
    engine = start_drill(lab, "resolvers-disagree")
    second = f"127.0.0.1:{int(TEST_DNS_PORT) + 1}"
    assert [f"{h}:{p}" for h, p in engine.observer.site.resolvers] == [f"127.0.0.1:{TEST_DNS_PORT}", second]
    promote_until_stop(engine)
    for step in ("enable-dispatch", "recreate-core"):
        run(engine, step)

    def repoint_the_second() -> None:
        status = typed(lab, "runbook-tui lab status")
        assert f"(primary) at resolver {second}" in status, status  # the stale one, in plain sight
        typed(lab, f"runbook-tui lab dns point {ROOM} standby --resolver {second}")

    # The step repoints the lab's own resolver and waits for every resolver the room uses.
    asyncio.run(while_waiting(engine, "dns-repoint", repoint_the_second))
    for step in ("controllers-reconnected", "smoke-test"):
        run(engine, step)
    promote_to_the_end(engine)
    finish_as_complete(engine)


def test_a_controller_that_never_acks_solved_by_power_cycling_it(trainee_env):
    lab = trainee_env
    engine = start_drill(lab, "controller-never-acks")
    promote_until_stop(engine)
    for step in ("enable-dispatch", "recreate-core", "dns-repoint", "controllers-reconnected"):
        run(engine, step)
    failed = asyncio.run(engine.run_step("smoke-test", confirmed=True))
    assert failed.state is StepState.FAILED and "no ack from device" in failed.reason, failed
    # Found at the room: the controller is switched off and on (the lab's stand-in for it).
    said = typed(lab, f"runbook-tui lab power-cycle {ROOM}")
    assert "power-cycled" in said
    assert wait_for(lambda: engine.sense("controllers-reconnected").holds, 30)
    run(engine, "smoke-test")
    promote_to_the_end(engine)
    report = finish_as_complete(engine)
    # The failed smoke test was the fault showing itself: a flawless trainee makes no mistake.
    assert "- Mistakes: 0 (guard refusals 0, wrong room ids 0, failed steps: none)" in report
    assert "- The fault showing itself (not mistakes): smoke-test (controller-never-acks) failed" in report


def test_a_drifted_standby_solved_while_keeping_it_current(trainee_env):
    lab = trainee_env
    engine = start_drill(lab, "standby-drift")
    assert engine.checklist.id == "standby-current"  # the work in which a drifted standby is met
    engine.reconcile()
    for step in ("version-sync", "config-sync"):
        assert engine.status(step).state is StepState.PENDING, step
    # Nothing was done yet: no action is credited for what already held at open.
    for step in ("recreate-standby-core", "reload-primary-broker", "reload-standby-broker"):
        assert engine.status(step).state is StepState.PENDING, step
    preview = "\n".join(engine.preview("align-standby-env").lines)
    assert "CORE_VERSION: 7.9.0 -> 8.0.0" in preview and "CORE_ACK_TIMEOUT_S: 1 -> 3" in preview, preview
    run(engine, "align-standby-env")
    assert lab.stack_env(f"{ROOM}-standby")["CORE_VERSION"] == "8.0.0"
    engine.reconcile()
    assert engine.status("config-sync").state is StepState.DONE
    # The .env is newer than the running core: it runs with the old settings until recreated.
    assert not engine.sense("recreate-standby-core").holds
    run(engine, "recreate-standby-core")
    run(engine, "version-sync")
    for step in ("passwd-primary", "reload-primary-broker", "passwd-standby", "reload-standby-broker",
                 "backup-primary-db", "restore-standby-db"):
        engine.skip(step, "not part of this drill")
    report = finish_as_complete(engine)
    # No smoke test in keeping the standby current: timed to its complete end, and so compared.
    assert "- Time to a complete run (this scenario's measure: its checklist runs no smoke test): " in report
    assert "| when | operator | to a complete run |" in report and "this run, best |" in report


def test_a_lost_primary_host_solved_by_fencing_it_and_its_return_caught(trainee_env):
    """The drill puts room8's primary on the lab's own engine and stops it (the host dies); the
    trainee promotes with the host fenced at the room. Then the trainer powers the host on: its
    old core comes back by its restart policy, as it was (dispatch enabled), dual control is
    raised and journaled, and "Shut the primary down", on the primary's own engine, ends it."""
    lab = trainee_env
    assert "primary-host-lost" in lab.sh("runbook-tui drill --list", check=True).stdout
    skip_where_the_host_is_shared(lab, ROOM)
    engine = start_drill(lab, "primary-host-lost")
    assert lab.docker_host(f"{ROOM}-primary") == lab.engine.url and lab.docker_host(f"{ROOM}-standby") is None
    assert engine.observer.site.docker_host("primary") == lab.engine.url  # the console looks at that host
    assert lab.engine.pid() is None, "the lab's engine (the primary's host) is down"
    promote_until_fenced(engine)
    for step in ("disarm-primary", "standby-up"):
        run(engine, step)
    promote_straight(engine)
    engine.reconcile()
    assert engine.finish() == "complete", engine.outcome()
    assert engine.outcome().without_evidence == ()
    assert any("guard primary_not_dispatching: yes: primary host fenced at" in e
               for e in engine.status("enable-dispatch").evidence)

    # The trainer powers the host on; what its restart policy does is what a real host does.
    healed = typed(lab, f"runbook-tui lab fault {ROOM} primary-host-lost --heal")
    assert "the primary's host powered on" in healed and "sentient-core=running" in healed, healed
    assert wait_for(lambda: (engine.reconcile() or True) and any(a.kind == "dual_control" for a in engine.active_alarms),
                    60), "the old primary core dispatches again: dual control must be raised"
    assert "stop-primary" in engine.lapses  # the run offers the step that ends it
    run(engine, "stop-primary")  # on the primary's own engine
    assert wait_for(lambda: (engine.reconcile() or True) and not engine.active_alarms, 30), engine.active_alarms
    assert not lab.sh("docker ps -q", env={"DOCKER_HOST": lab.engine.url}, check=True).stdout.strip()

    journal = engine.journal.path
    engine.journal.close()
    records = read_journal(journal).records
    assert not [r for r in records if "override" in r["kind"]], "solved without an override"
    report = render_report(journal)
    # Complete, and the host's return said with it: the seconds of dual control it caused.
    outcome = next(line for line in report.splitlines() if line.startswith("- Outcome: "))
    assert outcome.startswith("- Outcome: **complete, with ") and " s of dual control at " in outcome, outcome
    assert "- Primary host lost, fenced by Rui at the room at " in report
    assert [r["kind"] for r in records if r["kind"] in ("alarm_raised", "alarm_cleared")] == ["alarm_raised",
                                                                                              "alarm_cleared"]
    assert next(r for r in records if r["kind"] == "alarm_raised")["alarm"] == "dual_control"
    assert "dual control" in report.split("## Alarms", 1)[1].split("##", 1)[0]


def skip_where_the_host_is_shared(lab, room: str) -> None:
    """With RUNBOOK_LAB_TWO_ENGINES=1 the session's room1 has its standby on the lab's engine: the
    host's death would take it too, so the drill refuses (checked here), and the test cannot run."""
    if lab.docker_host("room1-standby") != lab.engine.url:
        return
    refused = lab.sh(f"runbook-tui drill {room} --scenario primary-host-lost", timeout=60)
    assert refused.returncode == 2 and "the lab's engine also holds room1-standby" in refused.stderr, refused.stderr
    pytest.skip("room1's standby lives on the lab's engine (RUNBOOK_LAB_TWO_ENGINES=1): the drill refuses, as it must")


def promote_until_fenced(engine: RunEngine) -> None:
    """Up to the shutdown, with the primary's host gone: unreachable is not stopped, so nothing
    passes until the person at the room confirms the host is off (the fence)."""
    engine.reconcile()
    for step in SETUP:
        want = StepState.PENDING if step == "up-primary" else StepState.DONE  # its host is down
        assert engine.status(step).state is want, (step, engine.status(step))
    engine.mark_done("edit-env", confirmed=True)
    engine.choose("controller_reach", "B")
    confirmed_at_room(engine, "room-safe")
    engine.mark_done("room-safe", typed_room=ROOM)
    assert wait_for(lambda: engine.check("primary_host_unreachable").holds, 30)
    assert not engine.check("primary_not_dispatching").holds
    assert engine.status("stop-primary").state is StepState.PENDING
    confirmed_at_room(engine, "fence-primary", "Rui")
    engine.mark_done("fence-primary", typed_room=ROOM)
    assert wait_for(lambda: (engine.reconcile() or True) and engine.status("stop-primary").state is StepState.DONE, 10)
    assert "primary host fenced at" in engine.status("stop-primary").evidence[0]
