"""`runbook-tui lab down` leaves no container, network, volume or process behind, on either engine,
and stops the lab's own engine (only it)."""

from __future__ import annotations

import os
import subprocess

from runbook_tui.engine.journal import Journal, read_journal
from runbook_tui.lab.engine import LabEngine

LAB_PROJECTS = ("room1-", "room2-", "room3-")
# What each listing names its items by: containers have .Names, networks and volumes .Name.
LISTINGS = {
    "containers": ["ps", "-a", "--format", "{{.Names}} {{.Label \"com.docker.compose.project\"}}"],
    "networks": ["network", "ls", "--format", "{{.Name}} {{.Label \"com.docker.compose.project\"}}"],
    "volumes": ["volume", "ls", "--format", "{{.Name}} {{.Label \"com.docker.compose.project\"}}"],
}


def listing(host: str | None) -> dict[str, list[str]]:
    """Every container, network and volume on an engine (None: the machine's), 'name project' each."""
    env = {**os.environ, **({"DOCKER_HOST": host} if host else {})}
    return {kind: subprocess.run(["docker", *args], capture_output=True, text=True, check=True, env=env).stdout.splitlines()
            for kind, args in LISTINGS.items()}


def lab_items(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """The items of a lab room's compose project (by label), or named after one."""
    return {kind: [line for line in lines if any(part.startswith(LAB_PROJECTS) for part in line.split())]
            for kind, lines in found.items()}


def test_the_listings_see_what_they_check(lab):
    # The check below would pass on an empty listing too: it must see room1's network and volume
    # while the room is up (a format naming no field printed nothing before).
    engines = {lab.docker_host(f"room1-{role}") for role in ("primary", "standby")}
    seen = {kind: [] for kind in LISTINGS}
    for host in engines:
        for kind, lines in lab_items(listing(host)).items():
            seen[kind] += lines
    # What every earlier lab test leaves of room1: the standby up (a promotion makes it the active
    # stack), and the primary's volume (its `compose down` keeps it), whatever the primary's state.
    for kind, name in (("containers", "room1-standby-db-1"), ("networks", "room1-standby_default"),
                       ("volumes", "room1-primary_db-data"), ("volumes", "room1-standby_db-data")):
        assert any(line.split()[0] == name for line in seen[kind]), (kind, name, seen)


def test_lab_down_leaves_nothing_behind(lab):
    # A run of room1 whose console dropped: once the room is purged it must not be offered for resuming.
    crashed = lab.root / ".runbook" / "runs" / "room1-promotion-20000101T000000.jsonl"
    journal = Journal(crashed)
    journal.append("run_started", checklist={"id": "promotion", "name": "p", "revision": "r", "sha256": "0"}, room="room1")
    journal.close()
    engine: LabEngine = lab.engine
    engine_pid = engine.pid()
    assert engine_pid is not None and engine.forwarding_allowed()
    machine_pid = subprocess.run(["docker", "info", "--format", "{{.ID}}"], capture_output=True, text=True, check=True).stdout

    r = lab.sh("runbook-tui lab down --purge", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"closed the unfinished run {crashed.name}: its room is gone" in r.stdout
    assert read_journal(crashed).records[-1]["kind"] == "run_abandoned"
    assert "nothing left running" in r.stdout
    assert f"stopped the lab's Docker engine (pid {engine_pid})" in r.stdout
    # The machine's engine: still the same one, nothing of the lab's rooms left.
    assert subprocess.run(["docker", "info", "--format", "{{.ID}}"], capture_output=True, text=True,
                          check=True).stdout == machine_pid
    assert lab_items(listing(None)) == {kind: [] for kind in LISTINGS}
    # The lab's engine: stopped, its forwarding rule gone; started again on its data root, it holds
    # nothing (a container left there would come back with its restart policy).
    assert engine.pid() is None and not engine.answers() and not engine.forwarding_allowed()
    engine.start()
    try:
        found = listing(engine.url)
        assert found["containers"] == [] and found["volumes"] == [], found
        # Only the engine's built-in networks: no stack's network left.
        assert sorted(line.split()[0] for line in found["networks"]) == ["bridge", "host", "none"], found
    finally:
        engine.stop()
    assert engine.pid() is None and not engine.forwarding_allowed() and not engine.has_bridge()
    procs = subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True, check=True).stdout
    # No dnsmasq, no controller, no engine of this lab (a stopped engine may linger as a zombie,
    # reaped by whoever is pid 1).
    assert not [line for line in procs.splitlines() if str(lab.root) in line and not line.startswith("Z")], procs
    assert not (lab.root / "infra" / "rooms" / "room1-primary").exists()
    assert "no lab rooms" in lab.sh("runbook-tui lab status", check=True).stdout
