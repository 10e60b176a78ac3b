"""The Docker probe survives the very failure an incident may bring: the daemon restarting."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from runbook_tui.lab.readiness import wait_for
from runbook_tui.probes.docker_probe import DockerProbe
from tests.lab.rooms import docker_targets
from tests.lab.test_60_probes import Collector


def docker_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def restart_dockerd() -> None:
    """Restart the engine the way it was started: systemd where it runs, else the background dockerd."""
    if shutil.which("systemctl") and os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "restart", "docker"], check=True)
    else:
        subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=True)
        assert wait_for(lambda: subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode != 0, 60, 0.2)
        subprocess.Popen("nohup dockerd > /var/log/runbook-dockerd.log 2>&1 &", shell=True, start_new_session=True)
    assert wait_for(docker_answers, 60, 0.5)


def test_docker_probe_recovers_by_itself_after_the_daemon_restarts(lab):
    room1 = {role: lab.root / "infra" / "rooms" / f"room1-{role}" for role in ("primary", "standby")}
    seen = Collector()
    probe = DockerProbe(docker_targets("room1", room1), seen)
    probe.start()
    try:
        assert seen.wait(lambda s: s.role == "standby" and s.connected and s.service("sentient-core"), 10)
        restart_dockerd()
        assert seen.wait(lambda s: s.role == "standby" and not s.connected, 60), "the probe never noticed the restart"
        # Back by itself; the stack's containers come back through their restart policy.
        got = seen.wait(lambda s: s.role == "standby" and s.connected and s.service("sentient-core")
                        and all(x.state == "running" for x in s.services) and len(s.services) == 3, 90)
        assert got, probe.latest.get("standby")
        # Its state is right: it matches a fresh listing by the CLI.
        time.sleep(1)
        out = subprocess.run(["docker", "ps", "-a", "--filter", "label=com.docker.compose.project=room1-standby",
                              "--format", "{{.Label \"com.docker.compose.service\"}}={{.State}}"],
                             capture_output=True, text=True, check=True).stdout.split()
        latest = probe.latest["standby"]
        assert sorted(out) == sorted(f"{s.service}={s.state}" for s in latest.services)
        assert latest.connected and latest.error is None
    finally:
        probe.stop()
