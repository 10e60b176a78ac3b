"""The live probes against real services: room4's two stacks, the lab's dnsmasq and a second
dnsmasq, brokers killed and restarted, hostile traffic, a real dispatch, dual control."""

from __future__ import annotations

import queue
import random
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from runbook_tui.lab.dns_server import DnsSettings, LabDns
from runbook_tui.lab.processes import ProcessTable
from runbook_tui.lab.readiness import wait_for
from runbook_tui.mqtt_contract import BrokerEndpoint
from runbook_tui.observe.payloads import render_payload, render_topic
from runbook_tui.probes.dns_probe import DnsProbe
from runbook_tui.probes.docker_probe import DockerProbe
from runbook_tui.probes.mqtt_probe import MqttProbe, kept_topic
from runbook_tui.rules.conditions import env_differs_cause
from tests.conftest import TEST_DNS_PORT
from tests.lab.rooms import contract, docker_targets, known_addresses, mqtt_brokers
from tests.unit.test_39_env_differs import CHANGED, ELSEWHERE

ROOM = "room4"
NAME = f"mqtt.{ROOM}.sentientengine.ai"


@pytest.fixture(scope="module")
def room4(lab):
    with lab.extra_room(ROOM):
        yield lab


def dirs(lab) -> dict[str, Path]:
    return {role: lab.root / "infra" / "rooms" / f"{ROOM}-{role}" for role in ("primary", "standby")}


def compose(lab, role: str, args: str, env: dict[str, str] | None = None):
    return lab.sh(f"cd infra/rooms/{ROOM}-{role} && docker compose --env-file .env {args}", check=True, env=env)


def publisher(endpoint: BrokerEndpoint) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.username_pw_set(endpoint.username, endpoint.password)
    client.max_inflight_messages_set(100)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    return client


# ---- Docker ----------------------------------------------------------------------------

class Collector:
    def __init__(self) -> None:
        self.items: queue.Queue = queue.Queue()

    def __call__(self, item) -> None:
        self.items.put((time.monotonic(), item))

    def wait(self, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                at, item = self.items.get(timeout=left)
            except queue.Empty:
                return None
            if predicate(item):
                return at, item


def test_docker_probe_sees_stop_start_recreate_within_a_second(room4):
    lab = room4
    seen = Collector()
    probe = DockerProbe(docker_targets(ROOM, dirs(lab)), seen)
    probe.start()
    try:
        def core(s):
            return s.role == "standby" and s.service("sentient-core")

        assert seen.wait(lambda s: core(s) and core(s).state == "running", 10)
        compose(lab, "standby", "stop sentient-core")
        done = time.monotonic()
        got = seen.wait(lambda s: core(s) and core(s).state == "exited", 5)
        assert got and got[0] - done < 1.0, got
        compose(lab, "standby", "start sentient-core")
        done = time.monotonic()
        got = seen.wait(lambda s: core(s) and core(s).state == "running", 5)
        assert got and got[0] - done < 1.0, got
        started_before = got[1].service("sentient-core").started_at
        compose(lab, "standby", "up -d --force-recreate sentient-core")
        done = time.monotonic()
        got = seen.wait(lambda s: core(s) and core(s).state == "running" and core(s).started_at != started_before, 5)
        assert got and got[0] - done < 1.0, got
        snap = got[1]
        assert dict(snap.service("sentient-core").flags) == {"CORE_DISPATCH_ENABLED": False, "CORE_CRITICAL_ARMED": False}
        assert snap.service("db").health == "healthy" and snap.service("mosquitto").image == f"sentient/mosquitto:v8-{snap.project}"

        # Step 3.3's trap: .env changed, core not yet recreated.
        env_file = dirs(lab)["standby"] / ".env"
        original = env_file.read_text()
        env_file.write_text(original.replace("CORE_DISPATCH_ENABLED=false", "CORE_DISPATCH_ENABLED=true"))
        try:
            got = seen.wait(lambda s: s.role == "standby" and s.not_recreated, 3)
            assert got and got[1].not_recreated == ("CORE_DISPATCH_ENABLED: .env true, running core false",)
            snap = got[1]
            assert snap.env_mtime == env_file.stat().st_mtime  # written after the core started: changed since
            assert env_differs_cause(snap.service("sentient-core").started_at, snap.env_mtime) == CHANGED
        finally:
            env_file.write_text(original)
        assert seen.wait(lambda s: s.role == "standby" and not s.not_recreated, 3)

        # Seen: CORE_DISPATCH_ENABLED exported where compose ran (compose takes it before the
        # .env), the .env untouched, was said to be "changed in .env, not yet recreated".
        try:
            compose(lab, "standby", "up -d --force-recreate sentient-core", env={"CORE_DISPATCH_ENABLED": "true"})
            got = seen.wait(lambda s: s.role == "standby" and s.not_recreated, 10)
            assert got and got[1].not_recreated == ("CORE_DISPATCH_ENABLED: .env false, running core true",)
            snap = got[1]
            assert env_differs_cause(snap.service("sentient-core").started_at, snap.env_mtime) == ELSEWHERE
        finally:
            compose(lab, "standby", "up -d --force-recreate sentient-core")
        assert seen.wait(lambda s: s.role == "standby" and not s.not_recreated, 10)
    finally:
        probe.stop()


def test_docker_probe_shows_an_unreachable_daemon_as_a_state(room4, tmp_path):
    seen = Collector()
    target = docker_targets(ROOM, dirs(room4), {"standby": f"unix://{tmp_path}/no-daemon.sock"})
    probe = DockerProbe(target, seen)
    probe.start()
    try:
        got = seen.wait(lambda s: s.role == "standby" and not s.connected, 5)
        assert got and "no-daemon.sock" in got[1].error or "FileNotFound" in got[1].error
        assert seen.wait(lambda s: s.role == "primary" and s.connected and s.service("db"), 5)
    finally:
        t0 = time.monotonic()
        probe.stop()
        assert time.monotonic() - t0 < 8  # stop never hangs


# ---- DNS -------------------------------------------------------------------------------

def test_dns_probe_follows_a_repoint_within_one_poll(room4):
    lab = room4
    snapshots = Collector()
    probe = DnsProbe(NAME, (("127.0.0.1", int(TEST_DNS_PORT)),), known_addresses(dirs(lab)),
                     interval_s=0.5, lifetime_s=1.0, on_snapshot=snapshots)
    probe.start()
    try:
        got = snapshots.wait(lambda s: True, 5)
        assert got and got[1].classification == "primary" and got[1].answers[0].ttl == 5
        assert got[1].answers[0].rtt_ms is not None
        lab.sh(f"runbook-tui lab dns point {ROOM} standby", check=True)
        last_before = probe.latest.poll
        got = snapshots.wait(lambda s: s.classification == "standby", 5)
        # The first poll that certainly started after the repoint is last_before + 2.
        assert got and got[1].poll <= last_before + 2
        assert got[1].answers[0].addresses == (lab.stack_env(f"{ROOM}-standby")["MQTT_BIND_ADDR"],)
    finally:
        probe.stop()
        lab.sh(f"runbook-tui lab dns point {ROOM} primary", check=True)


def test_dns_probe_flags_disagreement_and_a_dead_resolver_times_out(room4, tmp_path):
    lab = room4
    second = LabDns(tmp_path, ProcessTable(tmp_path), DnsSettings(port=int(TEST_DNS_PORT) + 1))
    second.start()
    try:
        second.point(NAME, lab.stack_env(f"{ROOM}-standby")["MQTT_BIND_ADDR"])  # split horizon gone wrong
        snapshots = Collector()
        probe = DnsProbe(NAME, (("127.0.0.1", int(TEST_DNS_PORT)), ("127.0.0.1", int(TEST_DNS_PORT) + 1)),
                         known_addresses(dirs(lab)), interval_s=0.3, lifetime_s=1.0, on_snapshot=snapshots)
        probe.start()
        try:
            got = snapshots.wait(lambda s: True, 5)
            assert got and got[1].disagreement and got[1].classification == "disagreement"
            assert [a.classification for a in got[1].answers] == ["primary", "standby"]
            second.stop()
            stopped = time.monotonic()
            got = snapshots.wait(lambda s: s.answers[1].classification == "timeout", 5)
            assert got, "no timeout classification"
            assert got[0] - stopped < 1.0 + 0.3 + 1.0 + 0.5  # at most: the poll under way, the wait, one lifetime
            assert got[1].answers[0].classification == "primary"
            n = got[1].poll
            assert snapshots.wait(lambda s: s.poll > n, 3)  # still polling: nothing hangs
        finally:
            probe.stop()
    finally:
        second.stop()


# ---- MQTT ------------------------------------------------------------------------------

def total(probe: MqttProbe, role: str, prefix: str) -> int:
    return sum(n for t, n in probe.counts()[role].items() if t.startswith(prefix))


def test_mqtt_probe_reconnects_after_a_broker_restart_and_counts_stay_exact(room4):
    lab = room4
    brokers = mqtt_brokers(dirs(lab))
    probe = MqttProbe(brokers, contract=contract(dirs(lab)), room=ROOM)
    probe.start()
    pub = publisher(brokers["standby"])
    try:
        assert wait_for(lambda: all(b.connected for b in probe.snapshot().brokers), 10)
        for i in range(500):
            pub.publish("probe-test/restart", f"{i}", qos=1)
        assert wait_for(lambda: total(probe, "standby", "probe-test/restart") == 500, 10), probe.counts()["standby"]
        # Killed, not stopped: the broker dies without a goodbye, as in an incident.
        lab.sh(f"docker kill {ROOM}-standby-mosquitto-1 && docker start {ROOM}-standby-mosquitto-1", check=True)
        assert wait_for(lambda: next(b for b in probe.snapshot().brokers if b.role == "standby").connects >= 2
                        and next(b for b in probe.snapshot().brokers if b.role == "standby").connected, 20)
        pub.loop_stop()
        pub = publisher(brokers["standby"])
        for i in range(300):
            pub.publish("probe-test/restart", f"after {i}", qos=1).wait_for_publish(5)
        assert wait_for(lambda: total(probe, "standby", "probe-test/restart") == 800, 10), probe.counts()["standby"]
        time.sleep(0.5)
        assert total(probe, "standby", "probe-test/restart") == 800  # exact: none lost, none doubled
        assert probe.snapshot().callback_errors == 0
    finally:
        pub.loop_stop()
        probe.stop()


def hostile_messages(rng: random.Random) -> list[tuple[str, bytes]]:
    messages = []
    nested = b"[" * 200_000 + b"]" * 200_000
    for i in range(1200):
        kind = i % 8
        if kind == 0:
            messages.append((f"probe-test/binary/{i}", rng.randbytes(rng.randint(0, 512))))
        elif kind == 1:
            messages.append(("probe-test/invalid-utf8", b"\xff\xfe\xc3\x28 \x1b[2J\x1b]0;pwned\x07" + rng.randbytes(16)))
        elif kind == 2:
            messages.append(("probe-test/nested", nested if i % 80 == 2 else b'{"a":' * 500 + b"1" + b"}" * 500))
        elif kind == 3:
            messages.append((f"probe-test/ünïcødé/漢字/😀/{i}", "payload ✓".encode()))
        elif kind == 4:
            messages.append(("probe-test/" + "long-" * 4000 + str(i), b"x"))
        elif kind == 5:
            messages.append(("probe-test/big", (b"M" * (1024 * 1024)) if i % 160 == 5 else rng.randbytes(4096)))
        elif kind == 6:
            messages.append(("core/dispatch", rng.choice([b"", b"null", b"[1,2]", b'{"id": 5}', nested, rng.randbytes(64)])))
        else:
            odd_acks = [b'{"id": null}', b"\x00\x01", b'{"id": "' + b"z" * 1000 + b'"}']
            messages.append((f"rooms/{ROOM}/devices/sim1/ack", rng.choice(odd_acks)))
    return messages


def test_hostile_payloads_and_topics_are_all_accounted(room4):
    lab = room4
    brokers = mqtt_brokers(dirs(lab))
    batches: list = []
    lock = threading.Lock()

    def keep(batch):
        with lock:
            batches.append(batch)

    probe = MqttProbe(brokers, contract=contract(dirs(lab)), room=ROOM, buffer=5000, on_batch=keep)
    probe.start()
    messages = hostile_messages(random.Random(4))
    expected: dict[str, int] = {}
    for topic, _payload in messages:
        kept = kept_topic(topic)  # a long topic is counted under its cut form (with a digest: still apart)
        expected[kept] = expected.get(kept, 0) + 1
    pub = publisher(brokers["standby"])
    try:
        assert wait_for(lambda: all(b.connected for b in probe.snapshot().brokers), 10)
        for topic, payload in messages:
            pub.publish(topic, payload, qos=1).wait_for_publish(10)
        counted = lambda: {t: n for t, n in probe.counts()["standby"].items() if t in expected}  # noqa: E731
        assert wait_for(lambda: counted() == expected, 30), (sum(counted().values()), len(messages))
        assert sum(expected.values()) == len(messages) >= 1000
        snapshot = probe.snapshot()
        assert snapshot.callback_errors == 0
        assert all(b.connected for b in snapshot.brokers)
        with lock:
            shown = [m for b in batches for m in b.messages]
        for m in shown:
            text, topic = render_payload(m.payload), render_topic(m.topic)
            assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
            assert len(text) <= 2000 + 40 and len(topic) <= 200 + 30
        # The reference core got garbage on core/dispatch too, and is still online.
        standby_core = dict(snapshot.core_status)["standby"]
        assert standby_core.readable and standby_core.online is True
    finally:
        pub.loop_stop()
        probe.stop()


def test_a_dispatch_shows_as_one_flow_with_latencies(room4):
    lab = room4
    probe = MqttProbe(mqtt_brokers(dirs(lab)), contract=contract(dirs(lab)), room=ROOM)
    probe.start()
    try:
        assert wait_for(lambda: all(b.connected for b in probe.snapshot().brokers), 10)
        r = lab.sh(f"scripts/core-dispatch.sh --env-file infra/rooms/{ROOM}-primary/.env --room {ROOM} --device sim1 "
                   "--action SET --id flow-test-0001", check=True)
        assert "COMPLETE" in r.stdout
        assert wait_for(lambda: any(f.id == "flow-test-0001" and f.result for f in probe.snapshot().flows), 5)
        flow = next(f for f in probe.snapshot().flows if f.id == "flow-test-0001")
        assert [s for s, _r, _t in flow.seen] == ["dispatch", "command", "ack", "complete", "result"]
        assert flow.brokers() == ("primary",) and flow.result == "complete" and flow.device == "sim1"
        assert 0 < flow.latency_ms("ack") <= flow.latency_ms("complete")
    finally:
        probe.stop()


@pytest.mark.parametrize("kind", ["in-process", "child per broker"])
def test_both_cores_dispatch_enabled_raises_the_dual_control_alarm(room4, kind):
    # The TUI runs a child process per broker; the alarm needs both brokers, so it is judged by the
    # rules on the watcher's one observation of the room, by Docker's account and the cores' own.
    from runbook_tui.live.watcher import RoomWatcher
    from runbook_tui.rules.room import alarms, broker_dispatching, docker_dispatching
    from tests.lab.rooms import site

    lab = room4
    watcher = RoomWatcher(site(dirs(lab), ROOM), mqtt_in_process=kind == "in-process")
    watcher.start()
    env_file = dirs(lab)["standby"] / ".env"
    original = env_file.read_text()
    try:
        def both_cores_said() -> bool:
            obs = watcher.observation()
            return all(b.state == "ok" and b.core is not None for b in obs.brokers) and len(obs.brokers) == 2
        assert wait_for(both_cores_said, 10)
        assert alarms(watcher.observation()) == ()
        env_file.write_text(original.replace("CORE_DISPATCH_ENABLED=false", "CORE_DISPATCH_ENABLED=true"))
        compose(lab, "standby", "up -d --force-recreate sentient-core")
        assert wait_for(lambda: all(broker_dispatching(o, r) for o in [watcher.observation()] for r in ("primary", "standby")), 15)
        obs = watcher.observation()
        assert all(docker_dispatching(obs.stack(r)) for r in ("primary", "standby"))
        (alarm,) = alarms(obs)
        assert alarm.kind == "dual_control" and "both run with dispatch enabled" in alarm.reason
    finally:
        env_file.write_text(original)
        compose(lab, "standby", "up -d --force-recreate sentient-core")
        watcher.stop()


def test_the_tuis_probe_processes_show_a_flow_survive_a_childs_death_and_stop_clean(room4):
    import os
    import signal

    from runbook_tui.probes.mqtt_process import MqttProbeProcess

    lab = room4
    batches = Collector()
    probe = MqttProbeProcess(mqtt_brokers(dirs(lab)), contract=contract(dirs(lab)), room=ROOM, on_batch=batches)
    probe.start()
    try:
        assert batches.wait(lambda b: all(s.connected for s in b.snapshot.brokers) and len(b.snapshot.core_status) == 2, 15)
        pids = probe.pids
        assert set(pids) == {"primary", "standby"} and len(set(pids.values())) == 2  # a child per broker
        r = lab.sh(f"scripts/core-dispatch.sh --env-file infra/rooms/{ROOM}-primary/.env --room {ROOM} --device sim1 "
                   "--action SET --id flow-child-0001", check=True)
        assert "COMPLETE" in r.stdout
        got = batches.wait(lambda b: any(f.id == "flow-child-0001" and f.result == "complete" for f in b.snapshot.flows), 5)
        assert got, probe.snapshot().flows
        flow = next(f for f in got[1].snapshot.flows if f.id == "flow-child-0001")
        assert [s for s, _r, _t in flow.seen] == ["dispatch", "command", "ack", "complete", "result"]
        counted = {b.role: b.received for b in probe.snapshot().brokers}
        per_topic = {(broker, topic): count for broker, topic, count, _ in probe.snapshot().topic_counts}
        assert counted["primary"] > 0 and per_topic[("primary", "core/dispatch")] == 1
        os.kill(pids["primary"], signal.SIGKILL)  # the primary's child dies without a word
        dead = batches.wait(lambda b: any(not s.connected and "probe process exited (code -9" in (s.error or "")
                                          for s in b.snapshot.brokers), 5)
        assert dead
        by_role = {s.role: s for s in dead[1].snapshot.brokers}
        assert "probe process exited" in (by_role["primary"].error or "") and by_role["standby"].connected  # the other goes on
        assert [role for role, _ in dead[1].snapshot.core_status] == ["standby"]  # what the primary's core said is not known
        assert batches.wait(lambda b: all(s.connected for s in b.snapshot.brokers), 15)
        assert probe.pids["primary"] != pids["primary"] and probe.pids["standby"] == pids["standby"] and probe.restarts == 1
        assert all(b.received >= counted[b.role] for b in probe.snapshot().brokers)  # totals go on, not from 0
        after = {(broker, topic): count for broker, topic, count, _ in probe.snapshot().topic_counts}
        assert all(after.get(key, 0) >= count for key, count in per_topic.items()), (per_topic, after)
        assert after[("primary", "core/dispatch")] == 1  # no dispatch since: carried, not counted twice
        stuck = probe.pids["standby"]
        os.kill(stuck, signal.SIGSTOP)  # alive but silent: stuck, killed and replaced
        assert batches.wait(lambda b: any(s.role == "standby" and "did not answer" in (s.error or "") for s in b.snapshot.brokers), 10)
        assert batches.wait(lambda b: all(s.connected for s in b.snapshot.brokers), 20)
        assert probe.pids["standby"] != stuck and probe.restarts == 2
    finally:
        probe.stop()
    for child in probe.children.values():  # stopped with the probe, no orphan left
        assert child._child is not None and child._child.process.poll() is not None
