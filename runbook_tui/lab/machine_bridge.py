"""The machine's default bridge (docker0), kept through the lab engine's starts.

dockerd 20.10, started on a data root that holds its default "bridge" network from an earlier
start and with an address pool of its own (the lab's engine has both), deletes the interface
named docker0 while it starts ("clear stale bridge network": the name is fixed in its code,
whatever --bridge says; with --bridge none it deletes it on every start). That interface is the
MACHINE's engine's: its containers on the default network were cut off, and a `docker run` there
failed "could not find bridge docker0" (seen: the lab's engine restarted by the host-lost drill's
heal). No dockerd option spares it, so the lab notes docker0 before its engine starts and, if the
start deleted it, puts it back as it was: same address, MTU and MAC (the containers' ARP entries
for their gateway stay right), up, with the machine's containers' interfaces attached again.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

NAME = "docker0"


@dataclass(frozen=True)
class Bridge:
    name: str
    mac: str
    mtu: int
    addresses: tuple[str, ...]  # CIDR, e.g. 172.17.0.1/16
    members: tuple[str, ...]  # the interfaces attached to it (the machine's containers' veths)


def _ip_json(*args: str) -> list[dict]:
    done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        return []
    found = json.loads(done.stdout)
    return found if isinstance(found, list) else []


def note(name: str = NAME) -> Bridge | None:
    """docker0 as it is now; None where the machine has none (nothing to keep)."""
    if not Path("/sys/class/net", name).exists():
        return None
    link = _ip_json("addr", "show", "dev", name)
    if not link:
        return None
    info = link[0]
    addresses = tuple(f"{a['local']}/{a['prefixlen']}" for a in info.get("addr_info", ())
                      if a.get("family") == "inet" and "local" in a and "prefixlen" in a)
    members = tuple(m["ifname"] for m in _ip_json("link", "show", "master", name) if "ifname" in m)
    return Bridge(name, str(info.get("address", "")), int(info.get("mtu", 1500)), addresses, members)


def put_back(bridge: Bridge | None) -> str:
    """If the bridge noted is gone, make it again as it was; the words say what was done ("" for nothing)."""
    if bridge is None or Path("/sys/class/net", bridge.name).exists():
        return ""
    steps = [["ip", "link", "add", bridge.name, "type", "bridge"], ["ip", "link", "set", bridge.name, "mtu", str(bridge.mtu)]]
    if bridge.mac:
        steps.append(["ip", "link", "set", bridge.name, "address", bridge.mac])
    steps += [["ip", "addr", "add", a, "dev", bridge.name] for a in bridge.addresses]
    steps.append(["ip", "link", "set", bridge.name, "up"])
    steps += [["ip", "link", "set", m, "master", bridge.name] for m in bridge.members
              if Path("/sys/class/net", m).exists()]
    failed = [" ".join(s) for s in steps if subprocess.run(s, capture_output=True).returncode != 0]
    attached = sum(1 for m in bridge.members if Path("/sys/class/net", m).exists())
    said = (f"the machine's {bridge.name} put back ({', '.join(bridge.addresses) or 'no address'}, "
            f"{attached} container interface{'' if attached == 1 else 's'} attached again): the lab engine's "
            f"dockerd deleted it as it started")
    return said + (f"; failed: {'; '.join(failed)}" if failed else "")
