"""The Docker probe survives the very failure an incident may bring: its engine restarting.

The engine restarted is the lab's own second one (a host that dies and powers back on), never
the machine's: that one may run other people's rooms. The machine's dockerd and every container
on it are checked untouched.
"""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import nullcontext
from pathlib import Path

from runbook_tui.lab.readiness import wait_for
from runbook_tui.probes.docker_probe import DockerProbe
from runbook_tui.settings import lab_defaults
from tests.lab.rooms import docker_targets
from tests.lab.test_60_probes import Collector


def machine_engine() -> tuple[str, dict[str, str]]:
    """The machine's dockerd pid and each of its containers' StartedAt."""
    pid = subprocess.run(["docker", "info", "--format", "{{.ID}}"], capture_output=True, text=True, check=True).stdout
    ids = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, check=True).stdout.split()
    started = {}
    if ids:
        out = subprocess.run(["docker", "inspect", "--format", "{{.Name}} {{.State.StartedAt}}", *ids],
                             capture_output=True, text=True, check=True).stdout
        started = dict(line.split(" ", 1) for line in out.splitlines())
    pidfile = Path("/var/run/docker.pid")
    return (pidfile.read_text().strip() if pidfile.is_file() else pid.strip()), started


def test_docker_probe_recovers_by_itself_after_its_engine_restarts(lab, monkeypatch):
    engine = lab.engine
    if lab.docker_host("room1-standby") == engine.url:
        room, rooms = "room1", nullcontext()
    else:  # room1 is on the machine's engine: a room of this test's own on two engines
        room, rooms = "room3", lab.extra_room("room3", "--two-engines")
    with rooms:
        monkeypatch.setenv("RUNBOOK_STACK_ROOT", str(lab.root))
        hosts = lab_defaults().for_room(room).docker_hosts  # what the product's looks are given
        assert hosts.get("standby") == engine.url
        dirs = {role: lab.root / "infra" / "rooms" / f"{room}-{role}" for role in ("primary", "standby")}
        machine_before = machine_engine()
        old_pid = engine.pid()
        seen = Collector()
        probe = DockerProbe(docker_targets(room, dirs, hosts), seen)
        probe.start()
        try:
            assert seen.wait(lambda s: s.role == "standby" and s.connected and s.service("sentient-core"), 10)
            assert wait_for(lambda: getattr(probe.latest.get("primary"), "connected", False), 10)
            assert engine.stop() == old_pid  # the host dies: its engine and its containers with it
            assert seen.wait(lambda s: s.role == "standby" and not s.connected, 60), "the probe never noticed the restart"
            # The primary, on the machine's engine, is still seen the whole time.
            assert probe.latest["primary"].connected
            # The host powers back on (`lab up` starts the lab's engine when it is not running); the
            # stack's containers come back through their restart policy.
            up = lab.sh(f"runbook-tui lab up {room}", timeout=300)
            assert up.returncode == 0 and "the lab's own at" in up.stdout and "started (pid" in up.stdout, up.stdout + up.stderr
            assert engine.pid() not in (None, old_pid)
            got = seen.wait(lambda s: s.role == "standby" and s.connected and s.service("sentient-core")
                            and all(x.state == "running" for x in s.services) and len(s.services) == 3, 90)
            assert got, probe.latest.get("standby")
            # Its state is right: it matches a fresh listing by the CLI, on the stack's engine.
            time.sleep(1)
            out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={room}-standby",
                                  "--format", "{{.Label \"com.docker.compose.service\"}}={{.State}}"],
                                 capture_output=True, text=True, check=True,
                                 env={**os.environ, "DOCKER_HOST": engine.url}).stdout.split()
            latest = probe.latest["standby"]
            assert sorted(out) == sorted(f"{s.service}={s.state}" for s in latest.services)
            assert latest.connected and latest.error is None
        finally:
            probe.stop()
        # The machine's engine was never touched: same dockerd, every container started when it was.
        pid_after, started_after = machine_engine()
        assert pid_after == machine_before[0]
        for name, started in machine_before[1].items():
            if name in started_after:
                assert started_after[name] == started, f"{name} on the machine's engine was restarted"
    assert wait_for(engine.answers, 30)
