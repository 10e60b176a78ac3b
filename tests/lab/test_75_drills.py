"""Drill faults on the lab: each shows in the live view, the checklist reacts, and the runbook's
recovery path (or heal) works. One room (room6); the promoting scenario comes last."""

from __future__ import annotations

import asyncio

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.run import GuardRefused, RunConfig, RunEngine, StepState
from runbook_tui.lab.readiness import read_retained, wait_for
from runbook_tui.observe.observer import Observer
from runbook_tui.observe.site import site_context
from runbook_tui.probes.dns_probe import DnsProbe
from runbook_tui.probes.docker_probe import DockerProbe
from runbook_tui.probes.mqtt_probe import MqttProbe
from runbook_tui.settings import LAB_VARIABLES
from tests.conftest import REPO, TEST_DNS_PORT
from tests.lab.rooms import confirmed_at_room, contract, docker_targets, known_addresses, mqtt_brokers

ROOM = "room6"


@pytest.fixture(scope="module")
def room6(lab):
    with lab.extra_room(ROOM):
        yield lab


def dirs(lab):
    return {role: lab.root / "infra" / "rooms" / f"{ROOM}-{role}" for role in ("primary", "standby")}


def fault(lab, name: str, heal: bool = False) -> str:
    r = lab.sh(f"runbook-tui lab fault {ROOM} {name}{' --heal' if heal else ''}", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def engine_for(lab, checklist: str, tmp_path, resolvers=None) -> RunEngine:
    c = load_checklist(REPO / "checklists" / checklist)
    lab_vars = {k: v for k, v in LAB_VARIABLES.items() if k in c.variables}  # what the lab's settings give
    values = resolve_variables(c, {"room": ROOM} | lab_vars, lab.root).values
    sensors = Observer(site_context(values, lab.root, resolvers or (("127.0.0.1", int(TEST_DNS_PORT)),)))
    return RunEngine.start(c, values, sensors, tmp_path / f"{checklist}.jsonl", RunConfig(lab.root, lab=True))


def test_drill_list_names_every_scenario(room6):
    out = room6.sh("runbook-tui drill --list", check=True).stdout
    for name in ("flapping-primary", "primary-broker-dead", "standby-passwd-stale", "resolvers-disagree",
                 "controller-never-acks", "standby-drift"):
        assert name in out


def test_controller_that_never_acks_fails_verification_with_the_reason(room6, tmp_path):
    lab = room6
    assert "never acks" in fault(lab, "controller-never-acks")
    probe = MqttProbe(mqtt_brokers(dirs(lab)), contract=contract(dirs(lab)), room=ROOM)
    probe.start()
    try:
        assert wait_for(lambda: all(b.connected for b in probe.snapshot().brokers), 10)
        engine = engine_for(lab, "failback.yaml", tmp_path)  # its smoke test goes through the primary
        status = asyncio.run(engine.run_step("smoke-test", confirmed=True))
        assert status.state is StepState.FAILED and "no ack from device" in status.reason
        # The live view: the flow has the device command, and no ack.
        assert wait_for(lambda: any(f.result and "no ack" in f.result for f in probe.snapshot().flows), 5)
        flow = next(f for f in probe.snapshot().flows if f.result and "no ack" in f.result)
        assert "command" in [s for s, _r, _t in flow.seen] and "ack" not in [s for s, _r, _t in flow.seen]
    finally:
        probe.stop()
    fault(lab, "controller-never-acks", heal=True)
    assert wait_for(lambda: lab.sh("runbook-tui lab status").stdout.count("controller sim1: connected") == 2, 20)
    status = asyncio.run(engine.run_step("smoke-test", confirmed=True))
    assert status.state is StepState.DONE, status


def test_stale_standby_password_file_fails_authentication_until_regenerated(room6, tmp_path):
    lab = room6
    fault(lab, "standby-passwd-stale")
    # The live view: the standby broker refuses the probe (it uses the stack's credentials).
    probe = MqttProbe(mqtt_brokers(dirs(lab)), contract=contract(dirs(lab)), room=ROOM)
    probe.start()
    try:
        assert wait_for(lambda: "Not authorized" in (next(b for b in probe.snapshot().brokers if b.role == "standby").error
                                                      or ""), 10)
    finally:
        probe.stop()
    # The checklist's verification meets it: the standby broker refuses the room's credentials.
    engine = engine_for(lab, "promotion.yaml", tmp_path)
    status = asyncio.run(engine.run_step("smoke-test", confirmed=True))
    assert status.state is StepState.FAILED and "not authorized" in status.reason and "Not authorized" in status.reason
    cmd = f"scripts/core-dispatch.sh --env-file infra/rooms/{ROOM}-standby/.env --room {ROOM} --device sim1 --action SET"
    r = lab.sh(cmd)
    assert r.returncode == 6 and "NOT AUTHORIZED" in r.stderr
    # The runbook's recovery (section 5): regenerate from the .env, recreate the broker.
    lab.sh(f"scripts/mosquitto-make-passwd.sh infra/rooms/{ROOM}-standby/.env", check=True)
    lab.sh(f"(cd infra/rooms/{ROOM}-standby && docker compose --env-file .env up -d --force-recreate mosquitto)", check=True)
    assert wait_for(lambda: lab.sh(cmd).returncode == 3, 30)  # authenticated; rejected: dispatch is still disabled


def test_standby_drift_shows_in_the_status_and_the_config_sync_check(room6, tmp_path):
    lab = room6
    fault(lab, "standby-drift")
    brokers = mqtt_brokers(dirs(lab))
    assert wait_for(lambda: (read_retained(brokers["standby"], "core/status") or {}).get("version") == "7.9.0", 30)
    engine = engine_for(lab, "standby-current.yaml", tmp_path)
    evidence = engine.sense("config-sync")
    assert not evidence.holds and "CORE_ACK_TIMEOUT_S" in evidence.detail and "CORE_VERSION" in evidence.detail
    # Version sync is sensed, not taken on the operator's word: both .env files and both cores.
    version = engine.sense("version-sync")
    assert not version.holds and "standby 7.9.0" in version.detail
    fault(lab, "standby-drift", heal=True)
    assert engine.sense("config-sync").holds
    assert wait_for(lambda: engine.sense("version-sync").holds, 60)


def test_dead_primary_broker_shows_in_the_mqtt_view(room6, tmp_path):
    lab = room6
    probe = MqttProbe(mqtt_brokers(dirs(lab)), contract=contract(dirs(lab)), room=ROOM)
    probe.start()
    try:
        assert wait_for(lambda: all(b.connected for b in probe.snapshot().brokers), 10)
        fault(lab, "primary-broker-dead")
        assert wait_for(lambda: not next(b for b in probe.snapshot().brokers if b.role == "primary").connected, 10)
        assert "controller sim1: not connected" in lab.sh("runbook-tui lab status").stdout
        # `lab up` (the README's first command) mid-incident: it looks, reports, and does not fail.
        again = lab.sh(f"runbook-tui lab up {ROOM}", timeout=120)
        assert again.returncode == 0 and "checked, not started" in again.stdout, again.stdout + again.stderr
        assert "sim1 not connected yet" in again.stdout and "it keeps retrying" in again.stdout
        assert not next(b for b in probe.snapshot().brokers if b.role == "primary").connected  # nothing restarted
        # The checklist: with its broker dead, the primary core still runs: enabling the standby is refused.
        engine = engine_for(lab, "promotion.yaml", tmp_path)
        with pytest.raises(GuardRefused) as refused:
            asyncio.run(engine.run_step("enable-dispatch", typed_room=ROOM))
        assert "sentient-core: running" in refused.value.failures[0].detail and "down" in refused.value.failures[0].detail
        # The runbook's way: shut the primary down; then the guard lets the standby take over.
        confirmed_at_room(engine, "room-safe")
        engine.mark_done("room-safe", typed_room=ROOM)
        assert asyncio.run(engine.run_step("stop-primary", typed_room=ROOM)).state is StepState.DONE
        verdicts, _seen = engine.check_guards(engine.checklist.step("enable-dispatch"))
        assert verdicts[0].holds, verdicts
        fault(lab, "primary-broker-dead", heal=True)
        assert wait_for(lambda: all(b.connected for b in probe.snapshot().brokers), 20)
    finally:
        probe.stop()


def test_resolvers_disagree_until_both_are_repointed(room6, tmp_path):
    lab = room6
    fault(lab, "resolvers-disagree")
    port = int(TEST_DNS_PORT)
    probe = DnsProbe(f"mqtt.{ROOM}.sentientengine.ai", (("127.0.0.1", port), ("127.0.0.1", port + 1)),
                     known_addresses(dirs(lab)), interval_s=0.3, lifetime_s=1.0)
    two = (("127.0.0.1", port), ("127.0.0.1", port + 1))
    engine = engine_for(lab, "promotion.yaml", tmp_path, resolvers=two)
    try:
        lab.sh(f"runbook-tui lab dns point {ROOM} standby", check=True)
        snap = probe.poll_once()
        assert snap.disagreement and [a.classification for a in snap.answers] == ["standby", "primary"]
        # The checklist's DNS step does not turn done, and its evidence names the stale resolver.
        evidence = engine.sense("dns-repoint")
        assert not evidence.holds and f"127.0.0.1:{port + 1} -> " in evidence.detail
        engine.reconcile()
        assert engine.status("dns-repoint").state is StepState.PENDING
        # The trainee sees both resolvers in `lab status`, and repoints the second the way the first
        # was (seen: only the lab's own resolver could be repointed; the way through was an override).
        status = lab.sh("runbook-tui lab status", check=True).stdout
        standby_addr = lab.stack_env(f"{ROOM}-standby")["MQTT_BIND_ADDR"]
        assert f"(primary) at resolver 127.0.0.1:{port + 1}" in status and f"(standby) at resolver 127.0.0.1:{port}" in status
        said = lab.sh(f"runbook-tui lab dns point {ROOM} standby --resolver 127.0.0.1:{port + 1}", check=True).stdout
        assert f"-> {standby_addr} (standby) at resolver 127.0.0.1:{port + 1}" in said
        assert wait_for(lambda: engine.sense("dns-repoint").holds, 10)  # dnsmasq rereads its hosts on SIGHUP
        fault(lab, "resolvers-disagree", heal=True)
        lab.sh(f"runbook-tui lab dns point {ROOM} primary", check=True)
    finally:
        probe.stop()


def test_flapping_primary_is_refused_by_the_guard_until_shut_down(room6, tmp_path):
    lab = room6
    seen = []
    probe = DockerProbe(docker_targets(ROOM, dirs(lab)), seen.append)
    probe.start()
    try:
        fault(lab, "flapping-primary")
        # The live view: the primary core's restart count climbs.
        assert wait_for(lambda: any(s.role == "primary" and s.service("sentient-core")
                                    and s.service("sentient-core").restart_count >= 1 for s in list(seen)), 60)
    finally:
        probe.stop()
    engine = engine_for(lab, "promotion.yaml", tmp_path)
    with pytest.raises(GuardRefused) as refused:
        asyncio.run(engine.run_step("enable-dispatch", typed_room=ROOM))
    assert refused.value.failures[0].condition == "primary_not_dispatching"
    # The runbook: "If the primary is flapping, shut it down to prevent dual control."
    confirmed_at_room(engine, "room-safe")
    engine.mark_done("room-safe", typed_room=ROOM)
    assert asyncio.run(engine.run_step("stop-primary", typed_room=ROOM)).state is StepState.DONE
    assert asyncio.run(engine.run_step("enable-dispatch", typed_room=ROOM)).state is StepState.DONE
    fault(lab, "flapping-primary", heal=True)
