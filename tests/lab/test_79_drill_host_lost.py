"""The drill primary-host-lost as a trainer starts it in a terminal (tmux): `runbook-tui drill`
starts the room over with its primary on the lab's own engine, stops that engine and opens the
promotion. The console must look at the primary where the drill put it: settings read before
the room was started over would look at the machine's engine, see no primary containers there
and take the primary as stopped. (test_78 solves the drill; this is the console it opens.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.lab.test_70_tui_promotion import close_terminal, keys, open_terminal, wait_screen
from tests.lab.test_78_drills_solved import skip_where_the_host_is_shared

ROOM = "room12"


@pytest.fixture(scope="module")
def room12(lab):
    try:
        yield lab
    finally:
        if lab.docker_host(f"{ROOM}-primary") is not None:  # the drill brought it up (it refuses otherwise)
            down = lab.sh(f"runbook-tui lab down {ROOM} --purge", timeout=300)
            assert down.returncode == 0, down.stdout + down.stderr


def test_the_drill_console_looks_at_the_primary_on_the_labs_engine(room12):
    lab = room12
    skip_where_the_host_is_shared(lab, ROOM)
    env = " ".join(f"{k}={v}" for k, v in lab.env().items())
    open_terminal(lab.root, f"{env} {Path(sys.executable).parent / 'runbook-tui'} drill {ROOM} --scenario primary-host-lost")
    try:
        wait_screen("DRILL primary-host-lost", 300)
        shown = wait_screen((f"{ROOM}-primary: its Docker engine", "not seen (engine unreachable)"), 30)
        # The note wraps inside the live panel: read that panel's columns only, as one line.
        left = next(line.index("╭─ Live") for line in shown.splitlines() if "╭─ Live" in line)
        flat = " ".join(" ".join(line[left:] for line in shown.splitlines()).replace("│", " ").split())
        # The engine's URL may wrap mid-word: compared without the spaces the wrapping put in.
        said = f"{ROOM}-primary: its Docker engine {lab.engine.url} unreachable since"
        assert "".join(said.split()) in "".join(flat.split()), shown
        assert "no containers" not in shown, shown  # an engine not reached shows nothing, not an empty host
        keys("q")
    finally:
        close_terminal()
    assert lab.docker_host(f"{ROOM}-primary") == lab.engine.url and lab.engine.pid() is None
    healed = lab.sh(f"runbook-tui lab fault {ROOM} primary-host-lost --heal", timeout=120)
    assert healed.returncode == 0 and "the primary's host powered on" in healed.stdout, healed.stdout + healed.stderr
