"""`runbook-tui lab up`: the room's starting state, and idempotence."""

from __future__ import annotations

import json
import subprocess
import time

from runbook_tui.lab.readiness import read_retained, resolve_a
from runbook_tui.mqtt_contract import BrokerEndpoint
from tests.conftest import TEST_DNS_PORT


def container_ids(lab) -> dict[str, str]:
    out = subprocess.run(
        ["docker", "ps", "--filter", "label=com.docker.compose.project", "--format", "{{.Names}} {{.ID}}"],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.startswith("room1-"))


def broker(lab, stack: str) -> BrokerEndpoint:
    env = lab.stack_env(stack)
    return BrokerEndpoint(env["MQTT_BIND_ADDR"], 1883, env["MQTT_USERNAME"], env["MQTT_PASSWORD"])


def test_lab_up_brings_the_runbook_starting_state(lab):
    assert "[6/6]" in lab.up_output and "ready in" in lab.up_output
    ids = container_ids(lab)
    for stack in ("room1-primary", "room1-standby"):
        for service in ("mosquitto", "sentient-core", "db"):
            assert f"{stack}-{service}-1" in ids, ids
    primary = read_retained(broker(lab, "room1-primary"), "core/status", 5)
    standby = read_retained(broker(lab, "room1-standby"), "core/status", 5)
    assert primary["online"] and primary["role"] == "primary" and primary["dispatch_enabled"] is True
    assert standby["online"] and standby["role"] == "standby" and standby["dispatch_enabled"] is False
    assert resolve_a("mqtt.room1.sentientengine.ai", "127.0.0.1", int(TEST_DNS_PORT)) == "127.0.0.2"
    state = json.loads((lab.root / ".lab" / "controller-room1-sim1.json").read_text())
    assert state["connected"] is True and state["broker"] == "127.0.0.2"


def test_brokers_refuse_anonymous_and_wrong_passwords(lab):
    good = broker(lab, "room1-primary")
    anonymous = BrokerEndpoint(good.host, good.port)
    wrong = BrokerEndpoint(good.host, good.port, good.username, "not-the-password")
    assert read_retained(anonymous, "core/status", 3) is None
    assert read_retained(wrong, "core/status", 3) is None
    assert read_retained(good, "core/status", 3) is not None


def test_lab_up_twice_is_harmless(lab):
    before = container_ids(lab)
    again = lab.sh("runbook-tui lab up room1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already present" in again.stdout and "has room1-primary and room1-standby" in again.stdout
    assert container_ids(lab) == before  # nothing recreated
    status = lab.sh("runbook-tui lab status", check=True).stdout
    assert "mqtt.room1.sentientengine.ai -> 127.0.0.2 (primary)" in status
    assert "controller sim1: connected to 127.0.0.2 (primary)" in status


def test_recreating_the_primary_core_leaves_its_broker_and_database_alone(lab):
    # Both stacks were built on this one Docker host; the standby's build must not move the
    # primary's image tags, or this `up` would recreate the primary's broker and database too.
    before = container_ids(lab)
    primary = lab.root / "infra" / "rooms" / "room1-primary"
    done = lab.sh(f"cd {primary} && docker compose --env-file .env up -d --force-recreate sentient-core", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    after = container_ids(lab)
    assert after["room1-primary-sentient-core-1"] != before["room1-primary-sentient-core-1"]
    for service in ("mosquitto", "db"):
        assert after[f"room1-primary-{service}-1"] == before[f"room1-primary-{service}-1"], done.stderr
    deadline = time.monotonic() + 30  # the old core's will said offline; the new one says online
    while not (read_retained(broker(lab, "room1-primary"), "core/status", 3) or {}).get("online"):
        assert time.monotonic() < deadline, "the recreated primary core never came back online"
        time.sleep(0.5)
