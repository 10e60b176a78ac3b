"""The lab's engine never takes the machine's default bridge away. Seen: dockerd 20.10, started
again on a data root that holds its default "bridge" network and with an address pool of its own,
deletes the interface docker0 as it starts: a container of the machine's engine on the default
network was cut off, and `docker run` there failed "could not find bridge docker0". The lab puts
docker0 back as it was, with the machine's containers attached again (lab/machine_bridge.py).

Everything here is the test's own: a container on the machine's default network, and a lab
engine in a folder of the test (no network, no container on it)."""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from runbook_tui.lab.base_image import ensure_base_image
from runbook_tui.lab.engine import LabEngine
from runbook_tui.lab.machine_bridge import note


def _reachable(address: str) -> bool:
    """A TCP connection to a closed port: refused at once when the container is reachable."""
    with socket.socket() as s:
        s.settimeout(3)
        return s.connect_ex((address, 9)) == errno.ECONNREFUSED


def test_the_machines_docker0_and_its_containers_survive_the_lab_engines_restarts():
    before = note()
    if before is None:
        pytest.skip("this machine's engine has no docker0 (nothing the lab could take)")
    image, _how = ensure_base_image(lambda _m: None)
    name = f"rb-bystander-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, image, "sleep", "600"], check=True,
                   capture_output=True, timeout=60)
    state = Path(tempfile.mkdtemp(prefix="rb-eng-", dir="/tmp"))  # short: containerd's sockets live under it
    engine = LabEngine(state)
    try:
        address = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name], check=True,
                                 capture_output=True, text=True).stdout.strip()
        veth = note()
        assert veth is not None and len(veth.members) > len(before.members) - 1 and _reachable(address)
        said = [engine.start()]
        engine.stop()
        said.append(engine.start())  # the second start is the one that deleted docker0
        after = note()
        assert after is not None, f"the machine's docker0 is gone: {said}"
        assert (after.mac, after.addresses, after.mtu) == (before.mac, before.addresses, before.mtu), (before, after)
        assert set(veth.members) <= set(after.members), (veth, after)
        assert _reachable(address), f"the machine's container {name} at {address} is cut off: {said}"
    finally:
        engine.stop()
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)
