"""`runbook-tui lab down` leaves no container, network, volume or process behind."""

from __future__ import annotations

import subprocess


def test_lab_down_leaves_nothing_behind(lab):
    r = lab.sh("runbook-tui lab down --purge", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing left running" in r.stdout
    for kind in ("ps -a", "network ls", "volume ls"):
        out = subprocess.run(f"docker {kind} --filter label=com.docker.compose.project --format '{{{{.Names}}}}'",
                             shell=True, capture_output=True, text=True, check=True).stdout
        assert not [n for n in out.split() if n.startswith(("room1-", "room2-"))], (kind, out)
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(lab.root) not in procs  # no dnsmasq, no controller of this lab
    assert not (lab.root / "infra" / "rooms" / "room1-primary").exists()
    assert "no lab rooms" in lab.sh("runbook-tui lab status", check=True).stdout
