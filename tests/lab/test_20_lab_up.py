"""`runbook-tui lab up`: the room's starting state, and idempotence."""

from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import nullcontext
from pathlib import Path

from runbook_tui.lab.engine import docker_env
from runbook_tui.lab.readiness import read_retained, resolve_a
from runbook_tui.mqtt_contract import BrokerEndpoint
from tests.conftest import TEST_DNS_PORT


def names_on(host: str | None) -> dict[str, str]:
    """Running compose containers of room1 on one engine (None: the machine's): name -> id."""
    env = {**os.environ, **({"DOCKER_HOST": host} if host else {})}
    out = subprocess.run(
        ["docker", "ps", "--filter", "label=com.docker.compose.project", "--format", "{{.Names}} {{.ID}}"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.startswith("room1-"))


def container_ids(lab) -> dict[str, str]:
    """room1's containers on both engines (each stack's on its own: checked by the placement test)."""
    return names_on(None) | names_on(lab.engine.url)


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


def test_lab_up_runs_an_engine_of_its_own_and_places_each_stack_on_its_recorded_engine(lab):
    from runbook_tui.settings import lab_defaults

    engine = lab.engine
    pid = engine.pid()
    assert pid is not None and engine.answers(), "lab up did not leave the lab's own engine running"
    host_pid = int(Path("/var/run/docker.pid").read_text()) if Path("/var/run/docker.pid").is_file() else None
    assert pid != host_pid
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    for flag in (f"unix://{lab.root}/.lab/engine/docker.sock", "--bridge", engine.bridge, "--iptables=false",
                 "--ip-masq=false", "base=10.199.0.0/16,size=24", f"{lab.root}/.lab/engine/data"):
        assert flag in args, (flag, args)
    # The machine's default bridge is still there: a dockerd started with `--bridge none` deletes
    # it (seen: docker0 gone, and a `docker run` on the machine's engine failed "could not find
    # bridge docker0").
    machine_bridge = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", '{{index .Options "com.docker.network.bridge.name"}}'],
        capture_output=True, text=True, check=True, env=docker_env(None)).stdout.strip() or "docker0"
    assert Path("/sys/class/net", machine_bridge).exists(), f"the machine's {machine_bridge} is gone"
    assert engine.has_bridge()
    # Each stack's containers exist on its own engine and on no other.
    on_machine, on_lab = names_on(None), names_on(engine.url)
    for stack in ("room1-primary", "room1-standby"):
        mine, other = (on_lab, on_machine) if lab.docker_host(stack) == engine.url else (on_machine, on_lab)
        assert {f"{stack}-{s}-1" for s in ("mosquitto", "sentient-core", "db")} <= set(mine), (stack, mine)
        assert not [n for n in other if n.startswith(stack)], (stack, other)
    # The lab's settings name the standby's engine as the room's, which the product's looks read.
    old = os.environ.get("RUNBOOK_STACK_ROOT")
    os.environ["RUNBOOK_STACK_ROOT"] = str(lab.root)
    try:
        hosts = lab_defaults().for_room("room1").docker_hosts
    finally:
        os.environ.pop("RUNBOOK_STACK_ROOT") if old is None else os.environ.__setitem__("RUNBOOK_STACK_ROOT", old)
    assert hosts.get("standby") == lab.docker_host("room1-standby")
    assert "primary" not in hosts
    # A second `up` leaves the running engine alone.
    again = lab.sh("runbook-tui lab up room1")
    assert again.returncode == 0 and f"already running (pid {pid})" in again.stdout, again.stdout + again.stderr


def test_a_standby_on_the_labs_engine_answers_and_its_core_reaches_its_broker_and_database(lab):
    """On two engines for real (whatever RUNBOOK_LAB_TWO_ENGINES says for room1): a room whose standby
    lives on the lab's own engine comes up with its core online there, through docker-proxy."""
    if lab.docker_host("room1-standby") == lab.engine.url:
        room = "room1"
        rooms = nullcontext()
    else:
        room = "room2"
        rooms = lab.extra_room(room, "--two-engines")
    with rooms:
        stack = f"{room}-standby"
        assert lab.docker_host(stack) == lab.engine.url
        assert {f"{stack}-{s}-1" for s in ("mosquitto", "sentient-core", "db")} <= set(_all_on(lab.engine.url))
        assert not [n for n in _all_on(None) if n.startswith(stack)]
        status = read_retained(broker(lab, stack), "core/status", 5)
        assert status and status["online"] and status["role"] == "standby" and status["dispatch_enabled"] is False
        assert lab.psql(stack, "select 1") == "1"  # its database, through the stack's own engine


def _all_on(host: str | None) -> list[str]:
    env = {**os.environ, **({"DOCKER_HOST": host} if host else {})}
    return subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=True,
                          env=env).stdout.split()
