"""The drill whose primary host dies stops the lab's own engine: it refuses, before anything is
stopped or started over, where that would take another room with it or where the room's primary
is not on that engine (the lab stops no other). No Docker: the lab's record of where each stack
lives is all these refusals read (tests/lab/test_78 drills it for real)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook_tui.lab.faults import inject
from runbook_tui.lab.lab import Lab, LabError
from tests.conftest import run


def placed(root: Path, rooms: dict[str, dict[str, str]]) -> str:
    """Record ROOMS (room -> {role: "lab"}) as `lab up` would; return the lab engine's URL."""
    url = f"unix://{root}/.lab/engine/docker.sock"
    (root / ".lab").mkdir(parents=True, exist_ok=True)
    (root / ".lab" / "rooms.json").write_text(json.dumps({
        room: {"created": True, "complete": True, "docker_hosts": {role: url for role in roles}}
        for room, roles in rooms.items()}))
    return url


def test_the_host_dies_only_where_the_primary_is_on_the_labs_engine(tmp_path: Path):
    placed(tmp_path, {"room8": {}})
    with pytest.raises(LabError) as refused:
        inject(Lab(tmp_path, lambda _m: None), "room8", "primary-host-lost")
    said = str(refused.value)
    assert "room8-primary is on the machine's engine" in said
    assert "runbook-tui lab reset room8 --primary-on-lab-engine" in said
    assert "runbook-tui drill room8 --scenario primary-host-lost" in said


def test_the_host_never_takes_another_room_with_it(tmp_path: Path):
    placed(tmp_path, {"room1": {"standby"}, "room8": {"primary"}})
    with pytest.raises(LabError) as refused:
        inject(Lab(tmp_path, lambda _m: None), "room8", "primary-host-lost")
    assert "the lab's engine also holds room1-standby" in str(refused.value)


def test_the_drill_refuses_before_starting_the_room_over(tmp_path: Path):
    placed(tmp_path, {"room1": {"standby"}, "room8": {}})
    before = (tmp_path / ".lab" / "rooms.json").read_text()
    done = run("runbook-tui drill room8 --scenario primary-host-lost", tmp_path,
               {"RUNBOOK_STACK_ROOT": str(tmp_path), "RUNBOOK_TUI_SETTINGS": ""})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the lab's engine also holds room1-standby" in done.stderr
    assert (tmp_path / ".lab" / "rooms.json").read_text() == before  # room8 was not started over


def test_the_drill_refuses_settings_that_look_at_another_engine(tmp_path: Path):
    placed(tmp_path, {"room8": {}})
    (tmp_path / "infra").mkdir()
    settings = tmp_path / "lab.toml"
    settings.write_text(f'lab = true\nstack_root = "{tmp_path}"\n[dns]\nresolvers = ["127.0.0.1:15353"]\n')
    done = run(f"runbook-tui drill room8 --scenario primary-host-lost --settings {settings}", tmp_path,
               {"RUNBOOK_STACK_ROOT": str(tmp_path), "RUNBOOK_TUI_SETTINGS": ""})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "name no engine as room8's [docker] primary" in done.stderr
    assert f'[rooms.room8.docker] primary = "unix://{tmp_path}/.lab/engine/docker.sock"' in done.stderr
