"""`runbook-tui lab down` leaves no container, network, volume or process behind."""

from __future__ import annotations

import subprocess

from runbook_tui.engine.journal import Journal, read_journal


def test_lab_down_leaves_nothing_behind(lab):
    # A run of room1 whose console dropped: once the room is purged it must not be offered for resuming.
    crashed = lab.root / ".runbook" / "runs" / "room1-promotion-20000101T000000.jsonl"
    journal = Journal(crashed)
    journal.append("run_started", checklist={"id": "promotion", "name": "p", "revision": "r", "sha256": "0"}, room="room1")
    journal.close()

    r = lab.sh("runbook-tui lab down --purge", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"closed the unfinished run {crashed.name}: its room is gone" in r.stdout
    assert read_journal(crashed).records[-1]["kind"] == "run_abandoned"
    assert "nothing left running" in r.stdout
    for kind in ("ps -a", "network ls", "volume ls"):
        out = subprocess.run(f"docker {kind} --filter label=com.docker.compose.project --format '{{{{.Names}}}}'",
                             shell=True, capture_output=True, text=True, check=True).stdout
        assert not [n for n in out.split() if n.startswith(("room1-", "room2-"))], (kind, out)
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(lab.root) not in procs  # no dnsmasq, no controller of this lab
    assert not (lab.root / "infra" / "rooms" / "room1-primary").exists()
    assert "no lab rooms" in lab.sh("runbook-tui lab status", check=True).stdout
