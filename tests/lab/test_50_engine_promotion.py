"""The promotion checklist run end to end through the engine's API, against the real lab.

A room of its own (room3), so it starts from the runbook's starting state whatever the
other lab tests did to room1.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import GuardRefused, RunConfig, RunEngine, StepState
from runbook_tui.observe.observer import Observer
from runbook_tui.observe.site import site_context
from runbook_tui.settings import LAB_VARIABLES
from tests.conftest import REPO, TEST_DNS_PORT
from tests.lab.rooms import confirmed_at_room

ROOM = "room3"


def lab_given(checklist) -> dict[str, str]:
    """The variables the lab's settings give, as a session takes them: those the checklist declares."""
    return {"room": ROOM} | {k: v for k, v in LAB_VARIABLES.items() if k in checklist.variables}


@pytest.fixture(scope="module")
def room3(lab):
    with lab.extra_room(ROOM):
        yield lab


def test_promotion_checklist_end_to_end_through_the_engine(room3, monkeypatch, tmp_path):
    lab = room3
    for key, value in lab.env().items():  # the lab's DNS step runs `runbook-tui lab dns point`
        monkeypatch.setenv(key, value)
    checklist = load_checklist(REPO / "checklists" / "promotion.yaml")
    values = resolve_variables(checklist, lab_given(checklist), lab.root).values
    env = lab.stack_env(f"{ROOM}-standby")
    assert values["standby_endpoint_port"] == env["MQTT_LOCAL_PORT"]  # read from the standby's .env
    sensors = Observer(site_context(values, lab.root, (("127.0.0.1", int(TEST_DNS_PORT)),)))
    journal_path = tmp_path / "promotion.jsonl"
    engine = RunEngine.start(checklist, values, sensors, journal_path, RunConfig(lab.root, lab=True))

    # Section 1 was done by `lab up`: its closed-loop steps turn done on evidence.
    notes = engine.reconcile()
    for step in ("create-dirs", "passwd-primary", "passwd-standby", "up-primary", "up-standby"):
        assert engine.status(step).state is StepState.DONE, (step, notes)
    assert any("room3-primary: mosquitto running, sentient-core running, db running" in e
               for e in engine.status("up-primary").evidence)
    engine.mark_done("edit-env", confirmed=True)
    engine.choose("controller_reach", "B")
    confirmed_at_room(engine, "room-safe")
    engine.mark_done("room-safe", typed_room=ROOM)

    # The central guard: no dispatch on the standby while the primary core is alive.
    standby_env = lab.root / "infra" / "rooms" / f"{ROOM}-standby" / ".env"
    before = standby_env.read_bytes()
    with pytest.raises(GuardRefused) as refused:
        asyncio.run(engine.run_step("enable-dispatch", typed_room=ROOM))
    assert refused.value.failures[0].condition == "primary_not_dispatching"
    assert "room3-primary sentient-core: running" in refused.value.failures[0].detail
    assert "dispatch enabled" in refused.value.failures[0].detail
    assert standby_env.read_bytes() == before  # nothing written
    assert engine.status("enable-dispatch").state is StepState.PENDING

    stop = asyncio.run(engine.run_step("stop-primary", typed_room=ROOM))
    assert stop.state is StepState.DONE, stop
    assert any("primary_stack_down: yes" in e for e in stop.evidence)
    # The stopped primary is disarmed: brought up again before failback, it cannot dispatch.
    disarm = asyncio.run(engine.run_step("disarm-primary", confirmed=True))
    assert disarm.state is StepState.DONE, disarm
    assert lab.stack_env(f"{ROOM}-primary")["CORE_DISPATCH_ENABLED"] == "false"
    assert asyncio.run(engine.run_step("standby-up", confirmed=True)).state is StepState.DONE

    # Re-evaluated now: the same guard accepts once the primary is down.
    enable = asyncio.run(engine.run_step("enable-dispatch", typed_room=ROOM))
    assert enable.state is StepState.DONE, enable
    assert any("guard primary_not_dispatching: yes" in e for e in enable.evidence)
    assert any(".env: CORE_DISPATCH_ENABLED: false -> true" in e for e in enable.evidence)
    text = standby_env.read_text()
    assert "CORE_DISPATCH_ENABLED=true" in text and "CORE_CRITICAL_ARMED=false" in text
    assert "# true on the active stack only." in text  # comments kept

    recreate = asyncio.run(engine.run_step("recreate-core", typed_room=ROOM))
    assert recreate.state is StepState.DONE, recreate
    assert any("standby_core_dispatch_enabled: yes" in e and "online, dispatch enabled" in e for e in recreate.evidence)

    # The console drops here: a new process resumes from the journal, reconciled with the room.
    before_crash = dict(engine.statuses)
    engine.journal.close()
    engine, notes = RunEngine.resume(journal_path, checklist, sensors, RunConfig(lab.root, lab=True))
    for step_id, status in before_crash.items():
        assert engine.status(step_id).state is status.state, (step_id, notes)
    assert engine.choices["controller_reach"] == "B"
    # The room still matches the journal. The one change this run made on purpose (the primary
    # shut down after it was brought up) is not a lapse: "Shut the primary down" supersedes it.
    assert [n for n in notes if "no longer holds" in n] == [], notes
    assert engine.superseded() == {"up-primary": "stop-primary"} and not engine.lapses

    dns = asyncio.run(engine.run_step("dns-repoint", confirmed=True))
    assert dns.state is StepState.DONE, dns
    standby_addr = env["MQTT_BIND_ADDR"]
    assert any(f"-> {standby_addr}" in e and "dns_points_to_standby: yes" in e for e in dns.evidence)

    reconnected = asyncio.run(engine.run_step("controllers-reconnected", confirmed=True))
    assert reconnected.state is StepState.DONE, reconnected
    assert any("online on the standby broker: sim1" in e for e in reconnected.evidence)

    smoke = asyncio.run(engine.run_step("smoke-test", confirmed=True))
    assert smoke.state is StepState.DONE, smoke
    assert any(re.search(r"ack [\d.]+ ms, complete [\d.]+ ms \(core room3-standby\)", e) for e in smoke.evidence)
    confirmed_at_room(engine, "device-reacts")
    engine.mark_done("device-reacts", confirmed=True)

    assert engine.finish() == "complete"
    records = read_journal(journal_path).records
    outcome = next(r for r in records if r["kind"] == "dispatch_outcome")
    assert outcome["verdict"] == "complete" and outcome["ack_ms"] > 0 and outcome["complete_ms"] >= outcome["ack_ms"]
    times = [e["at_ms"] for e in outcome["events"]]
    assert times == sorted(times) and times[0] == 0.0 and all(t > 0 for t in times[1:]), outcome["events"]
    assert [r["step"] for r in records if r["kind"] == "guards" and not all(x["holds"] for x in r["results"])] == ["enable-dispatch"]
    journal_text = journal_path.read_text()
    for secret in (env["MQTT_PASSWORD"], env["POSTGRES_PASSWORD"]):
        assert secret not in journal_text
    report = render_report(journal_path)
    assert "**complete**" in report and "enable-dispatch: primary_not_dispatching" in report
    assert secret not in report

    # Seen before: after promotion, `compose up` of the primary started a second dispatching core.
    lab.sh(f"cd infra/rooms/{ROOM}-primary && docker compose --env-file .env up -d", check=True, timeout=300)
    deadline = time.monotonic() + 60
    while True:
        look = sensors.look(frozenset({"docker:primary", "docker:standby"}))
        core = look.stack("primary").service("sentient-core")
        if core is not None and core.state == "running":
            break
        assert time.monotonic() < deadline, look.stack("primary")
        time.sleep(0.5)
    assert dict(core.flags)["CORE_DISPATCH_ENABLED"] is False
    from runbook_tui.rules.room import dual_control

    assert dual_control(look) is None
    lab.sh(f"cd infra/rooms/{ROOM}-primary && docker compose --env-file .env down", check=True, timeout=300)


def test_after_the_promotion_no_plain_run_undoes_it_and_what_is_undone_by_hand_lapses(room3, monkeypatch, tmp_path):
    """From the room the promotion above left (standby active, primary down and disarmed), a new
    run of the promotion. Seen before: the primary's .env edited back to dispatch was never
    noticed; "Bring up the primary" then ran compose up (22.7 s of dual control); with the name
    pointed back at the stopped primary, the smoke test ran and ticked."""
    lab = room3
    for key, value in lab.env().items():
        monkeypatch.setenv(key, value)
    checklist = load_checklist(REPO / "checklists" / "promotion.yaml")
    values = resolve_variables(checklist, lab_given(checklist), lab.root).values
    sensors = Observer(site_context(values, lab.root, (("127.0.0.1", int(TEST_DNS_PORT)),)))
    journal_path = tmp_path / "again.jsonl"
    engine = RunEngine.start(checklist, values, sensors, journal_path, RunConfig(lab.root, lab=True))
    notes = engine.reconcile()
    for step in ("stop-primary", "disarm-primary", "enable-dispatch", "recreate-core", "dns-repoint"):
        assert engine.status(step).state is StepState.DONE, (step, notes)

    def settle(predicate, what: str) -> None:
        deadline = time.monotonic() + 30
        while not predicate():
            assert time.monotonic() < deadline, (what, engine.lapses, engine.statuses)
            time.sleep(0.3)
            engine.reconcile()

    # The primary's .env edited back by hand: the disarm no longer holds, journaled.
    primary_env = lab.root / "infra" / "rooms" / f"{ROOM}-primary" / ".env"
    disarmed = primary_env.read_text()
    assert "CORE_DISPATCH_ENABLED=false" in disarmed
    primary_env.write_text(disarmed.replace("CORE_DISPATCH_ENABLED=false", "CORE_DISPATCH_ENABLED=true"))
    settle(lambda: "disarm-primary" in engine.lapses, "the disarm lapses")
    assert engine.outcome().verdict == "incomplete"

    # A plain run of "Bring up the primary" is refused by its guard: nothing starts.
    with pytest.raises(GuardRefused) as refused:
        asyncio.run(engine.run_step("up-primary", confirmed=True))
    assert [f.condition for f in refused.value.failures] == ["primary_start_safe"]
    assert "primary .env CORE_DISPATCH_ENABLED=true" in refused.value.failures[0].detail
    assert "dispatch enabled" in refused.value.failures[0].detail
    core = sensors.look(frozenset({"docker:primary"})).stack("primary").service("sentient-core")
    assert core is None or core.state != "running"

    primary_env.write_text(disarmed)
    settle(lambda: "disarm-primary" not in engine.lapses, "the disarm holds again")

    # The name pointed back at the stopped primary: the repoint lapses, and the smoke test is refused.
    try:
        lab.sh(f"runbook-tui lab dns point {ROOM} primary", check=True, timeout=60)
        settle(lambda: "dns-repoint" in engine.lapses, "the repoint lapses")
        preview = engine.preview("smoke-test")
        assert any(e.endswith("(no longer holds)") and "Repoint" in e for e in preview.earlier_open), preview.earlier_open
        from runbook_tui.engine.run import EngineRefusal

        with pytest.raises(EngineRefusal, match=r"these no longer hold: Repoint .* \(no longer holds\)"):
            asyncio.run(engine.run_step("smoke-test", confirmed=True))
    finally:
        lab.sh(f"runbook-tui lab dns point {ROOM} standby", check=True, timeout=60)
    settle(lambda: "dns-repoint" not in engine.lapses, "the repoint holds again")
    engine.journal.close()

    records = read_journal(journal_path).records
    assert [(r["step"], r["condition"]) for r in records if r["kind"] == "condition_lapsed"] == [
        ("disarm-primary", "primary_env_dispatch_disabled"), ("dns-repoint", "dns_points_to_standby")]
    assert [r["step"] for r in records if r["kind"] == "condition_restored"] == ["disarm-primary", "dns-repoint"]
    guards = [r for r in records if r["kind"] == "guards" and r["step"] == "up-primary"]
    assert [(x["condition"], x["holds"]) for x in guards[0]["results"]] == [("primary_start_safe", False)]
    assert not any(r["kind"] in ("command_started", "dispatch_sent") for r in records)


def test_smoke_test_names_what_is_missing_when_nobody_answers(room3, tmp_path):
    """Against the primary broker's address after it was shut down: unreachable, said plainly."""
    lab = room3
    checklist = load_checklist(REPO / "checklists" / "failback.yaml")
    values = resolve_variables(checklist, lab_given(checklist), lab.root).values
    sensors = Observer(site_context(values, lab.root, (("127.0.0.1", int(TEST_DNS_PORT)),)))
    engine = RunEngine.start(checklist, values, sensors, tmp_path / "failback.jsonl", RunConfig(lab.root, lab=True))
    status = asyncio.run(engine.run_step("smoke-test", confirmed=True))
    assert status.state is StepState.FAILED
    assert status.reason.startswith("unreachable: broker localhost:") and "Connection refused" in status.reason


def test_failback_after_the_promotion_ends_with_the_controllers_on_the_primary_and_never_two_dispatching_cores(
        room3, monkeypatch, tmp_path):
    """From the room the promotion above left (standby active, primary down and disarmed), the
    failback checklist through the engine: sim1 back on the primary broker, proven; the standby
    disarmed and not dispatching; the primary dispatching. A monitor looks at both stacks every
    0.3 s throughout: never two dispatching cores."""
    import threading

    from runbook_tui.rules.room import dual_control

    lab = room3
    for key, value in lab.env().items():
        monkeypatch.setenv(key, value)
    checklist = load_checklist(REPO / "checklists" / "failback.yaml")
    values = resolve_variables(checklist, lab_given(checklist), lab.root).values
    sensors = Observer(site_context(values, lab.root, (("127.0.0.1", int(TEST_DNS_PORT)),)))
    seen_dual: list[str] = []
    looks: list[float] = []  # when each look ended
    stop = threading.Event()

    def monitor() -> None:
        parts = frozenset({"files", "docker:primary", "docker:standby", "broker:primary", "broker:standby"})
        while not stop.is_set():
            alarm = dual_control(sensors.look(parts))
            looks.append(time.monotonic())
            if alarm is not None:
                seen_dual.append(alarm.reason)
            stop.wait(0.3)

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    while not looks:  # the monitor is looking before the failback's first step
        time.sleep(0.05)
    try:
        engine = RunEngine.start(checklist, values, sensors, tmp_path / "failback.jsonl", RunConfig(lab.root, lab=True))
        confirmed_at_room(engine, "room-safe")
        engine.mark_done("room-safe", typed_room=ROOM)
        for step in ("disable-standby-dispatch", "recreate-standby-core", "primary-dispatch-off", "up-primary"):
            status = asyncio.run(engine.run_step(step, typed_room=ROOM, confirmed=True))
            assert status.state is StepState.DONE, (step, status)
        standby = lab.stack_env(f"{ROOM}-standby")
        assert standby["CORE_DISPATCH_ENABLED"] == "false" and standby["CORE_CRITICAL_ARMED"] == "false"
        engine.choose("controller_reach", "B")
        assert asyncio.run(engine.run_step("dns-primary", confirmed=True)).state is StepState.DONE
        # The controllers reconnect through the name only when their connection drops: the
        # proof waits for them; the way forward (restart the standby's broker) moves them.
        back = engine.sense("controllers-back")
        if not back.holds:
            assert "still online on the standby broker: sim1" in back.detail
            nudged = asyncio.run(engine.run_step("nudge-controllers", confirmed=True))
            assert nudged.state is StepState.DONE, nudged
        proved = asyncio.run(engine.run_step("controllers-back", confirmed=True))
        assert proved.state is StepState.DONE, proved
        assert any("online on the primary broker: sim1" in e for e in proved.evidence), proved.evidence
        engine.mark_done("reverify-primary", confirmed=True)
        for step in ("enable-primary-dispatch", "recreate-primary-core", "smoke-test"):
            status = asyncio.run(engine.run_step(step, typed_room=ROOM, confirmed=True))
            assert status.state is StepState.DONE, (step, status)
        assert any("core room3-primary" in e for e in engine.status("smoke-test").evidence)
        assert engine.finish() in ("complete", "complete except deferred items")
        final = sensors.look(frozenset({"docker:primary", "docker:standby", "broker:primary", "broker:standby"}))
        assert dict(final.stack("standby").service("sentient-core").flags)["CORE_DISPATCH_ENABLED"] is False
        assert dict(final.stack("primary").service("sentient-core").flags)["CORE_DISPATCH_ENABLED"] is True
        assert ("sim1", True) in final.broker("primary").controllers
        engine.journal.close()
        ended = time.monotonic()
        while looks[-1] < ended:  # and looks once more after its last
            time.sleep(0.05)
    finally:
        stop.set()
        watcher.join(10)
    gaps = [b - a for a, b in zip(looks, looks[1:], strict=False)]
    # Throughout: from before the first step to after the last, never more than 5 s without a look.
    assert len(looks) >= 3 and max(gaps) < 5.0 and seen_dual == [], (len(looks), max(gaps, default=None), seen_dual)
