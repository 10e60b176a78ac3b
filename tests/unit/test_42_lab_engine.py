"""The lab's own engine, without Docker: which process counts as it, and where the lab's settings
say each room's stacks live."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_tui.lab.engine import LabEngine
from runbook_tui.settings import lab_defaults


def test_a_pidfile_alone_never_names_the_engine(tmp_path: Path):
    engine = LabEngine(tmp_path / ".lab")
    engine.root.mkdir(parents=True)
    assert engine.pid() is None and engine.stop() is None  # nothing to stop, nothing signalled
    # A live process that is not a dockerd serving this socket: never this lab's engine.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "--host", engine.url])
    try:
        engine.pidfile.write_text(f"{sleeper.pid}\n")
        assert engine.pid() is None
        assert engine.stop() is None and sleeper.poll() is None  # not signalled
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_engine_never_claims_the_machines_dockerd(tmp_path: Path):
    machine = Path("/var/run/docker.pid")
    if not machine.is_file():
        pytest.skip("no machine dockerd pidfile here")
    engine = LabEngine(tmp_path / ".lab")
    engine.root.mkdir(parents=True)
    engine.pidfile.write_text(machine.read_text())
    assert engine.pid() is None


def test_its_command_line_is_an_engine_of_its_own(tmp_path: Path):
    args = LabEngine(tmp_path / ".lab").argv()
    for flag in ("--data-root", "--exec-root", "--pidfile", "--config-file"):
        assert args[args.index(flag) + 1].startswith(str(tmp_path / ".lab" / "engine")), flag
    assert args[args.index("--host") + 1] == f"unix://{tmp_path}/.lab/engine/docker.sock"
    assert {"--iptables=false", "--ip-masq=false"} <= set(args)
    # A bridge of its own: "none" makes dockerd delete the machine's docker0 as it starts.
    bridge = args[args.index("--bridge") + 1]
    assert bridge == LabEngine(tmp_path / ".lab").bridge and bridge.startswith("rbl") and len(bridge) <= 15
    assert LabEngine(tmp_path / "other" / ".lab").bridge != bridge  # two labs, two bridges


def test_the_lab_settings_name_the_engine_each_stack_was_placed_on(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RUNBOOK_STACK_ROOT", str(tmp_path))
    assert lab_defaults().rooms == {}  # no lab yet: the machine's engine
    (tmp_path / ".lab").mkdir()
    url = f"unix://{tmp_path}/.lab/engine/docker.sock"
    (tmp_path / ".lab" / "rooms.json").write_text(json.dumps({
        "room2": {"created": True, "docker_hosts": {"standby": url}},
        "room1": {"created": True},
        "room3": {"docker_hosts": {"standby": "not a url", "witness": url, "primary": url}},
        "../x": {"docker_hosts": {"standby": url}},
    }))
    s = lab_defaults()
    assert list(s.rooms) == ["room1", "room2", "room3"]  # name order: the venue lists them as before
    assert s.for_room("room2").docker_hosts == {"standby": url}
    assert s.for_room("room1").docker_hosts == {}
    assert s.for_room("room3").docker_hosts == {"primary": url}
    (tmp_path / ".lab" / "rooms.json").write_text("[not json")
    assert lab_defaults().rooms == {}
