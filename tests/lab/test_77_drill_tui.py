"""Drills as a trainee meets them: `runbook-tui drill` in a terminal (tmux), keystrokes only.

Each scenario starts the room over and injects its fault; the test reads what the live panel
shows on the captured screen (the probes' own tests check the same faults through their API).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.lab.test_70_tui_promotion import TYPE_ROOM, close_terminal, goto, in_dialog, keys, open_terminal, screen, wait_screen

ROOM = "room7"


@pytest.fixture(scope="module")
def room7(lab):
    try:
        yield lab
    finally:
        down = lab.sh(f"runbook-tui lab down {ROOM} --purge", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr


@contextmanager
def drill_on_screen(lab, scenario: str):
    """The drill open in tmux for the block, closed after it whatever happens."""
    open_drill(lab, scenario)
    try:
        yield
    finally:
        close_drill()


def open_drill(lab, scenario: str) -> None:
    env = " ".join(f"{k}={v}" for k, v in lab.env().items())
    drill = f"{Path(sys.executable).parent / 'runbook-tui'} drill {ROOM} --scenario {scenario}"
    open_terminal(lab.root, f"{env} {drill}")
    # The block before quit its drill midway: that run is unfinished, and the drill asks before
    # it starts the room over (which closes the run). The trainer answers yes.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = screen()
        if "Close it and start this drill over? [y/N]" in shown:
            assert "unfinished run: drill " in shown, shown
            keys("y", "Enter")
            break
        if f"{ROOM}-primary" in shown or f"DRILL {scenario}" in shown:  # the room is being started over: no question
            break
        time.sleep(0.3)
    wait_screen(f"DRILL {scenario}", 240)  # the room started over, the fault in, the checklist open
    # The run's screen (the opening's footer has no step keys): a tab key typed before it was seen
    # lost (the Flows and DNS tabs never opened), so the tests' keys wait for it.
    wait_screen("d Done", 60)


def close_drill() -> None:
    close_terminal()


def live_tab(name: str) -> None:
    """The live panel's tabs, in order; ] moves right from Containers."""
    for _ in range(["Containers", "DNS", "MQTT", "Flows"].index(name)):
        keys("]")


def test_a_flapping_primary_drill_in_the_tui(room7):
    lab = room7
    with drill_on_screen(lab, "flapping-primary"):
        wait_screen("Done on sensed evidence", 30)
        # The live panel shows the core coming back again and again; the guard refuses the standby.
        wait_screen("primary sentient-core is crash-looping", 60)
        goto("Enable dispatch on the standby core")
        in_dialog("r", TYPE_ROOM, ROOM, "Enter")
        wait_screen(("Guard refused", "primary_not_dispatching", "room7-primary sentient-core:"), 30)
        keys("Escape")
        keys("q")


def line_with(shown: str, *parts: str) -> str | None:
    return next((line for line in shown.splitlines() if all(p in line for p in parts)), None)


def test_a_dead_primary_broker_shows_in_the_containers_and_mqtt_tabs(room7):
    with drill_on_screen(room7, "primary-broker-dead"):
        shown = wait_screen("exited", 30)
        assert line_with(shown, "primary", "mosquitto", "exited"), shown
        live_tab("MQTT")
        shown = wait_screen(("primary 127.0.0.", "unreachable", "standby core: online"), 10)
        primary = line_with(shown, "primary 127.0.0.")
        assert primary and "connected" not in primary.replace("disconnected", "") and "unreachable" in primary, shown
        assert line_with(shown, "standby 127.0.0.", "connected") and line_with(shown, "standby core: online, dispatch off"), shown


def test_a_stale_standby_password_file_shows_as_refused_in_the_mqtt_tab(room7):
    with drill_on_screen(room7, "standby-passwd-stale"):
        live_tab("MQTT")
        shown = wait_screen(("Not authorized", "primary core: online"), 20)
        assert line_with(shown, "standby 127.0.0.", "refused", "Not authorized"), shown
        assert line_with(shown, "primary 127.0.0.", "connected") and line_with(shown, "primary core: online, dispatch on"), shown


def test_a_drifted_standby_shows_in_the_containers_and_mqtt_tabs(room7):
    with drill_on_screen(room7, "standby-drift"):
        shown = wait_screen("files differ (runbook 5)", 30)  # Containers: the .env files compared
        # The note wraps inside the live panel: read that panel's columns only, as one line.
        left = next(line.index("╭─ Live") for line in shown.splitlines() if "╭─ Live" in line)
        flat = " ".join(" ".join(line[left:] for line in shown.splitlines()).replace("│", " ").split())
        assert "CORE_ACK_TIMEOUT_S primary 3 / standby 1" in flat and "CORE_VERSION primary 8.0.0 / standby 7.9.0" in flat, shown
        assert "PASSWORD" not in flat  # the passwords agree, and would never be shown anyway
        live_tab("MQTT")
        shown = wait_screen("CORES DIFFER", 30)
        assert "7.9.0 (standby)" in shown and line_with(shown, "standby core: online", "version 7.9.0"), shown


def test_resolvers_that_disagree_show_in_the_dns_tab_once_one_is_repointed(room7):
    lab = room7
    open_drill(lab, "resolvers-disagree")
    try:
        live_tab("DNS")  # seen open by its table's "points at" column
        shown = wait_screen("points at", 20)
        assert "RESOLVERS DISAGREE" not in shown  # both still answer the primary
        lab.sh(f"runbook-tui lab dns point {ROOM} standby", check=True)  # the trainee repoints one resolver
        shown = wait_screen("RESOLVERS DISAGREE", 30)
        assert line_with(shown, "standby") and line_with(shown, "primary"), shown
    finally:
        close_drill()
        heal = lab.sh(f"runbook-tui lab fault {ROOM} resolvers-disagree --heal")
        assert heal.returncode == 0, heal.stdout + heal.stderr


def test_a_controller_that_never_acks_shows_in_the_flows_tab(room7):
    lab = room7
    with drill_on_screen(lab, "controller-never-acks"):
        live_tab("Flows")
        wait_screen("complete ms", 10)
        # A dispatch through the primary, from a second terminal, as a trainer would send one.
        sent = lab.sh(f"scripts/core-dispatch.sh --env-file infra/rooms/{ROOM}-primary/.env --room {ROOM} --device sim1 --action SET")
        assert sent.returncode == 4, sent.stdout + sent.stderr  # timeout
        shown = wait_screen("timeout", 20)
        assert line_with(shown, "sim1", "SET", "timeout: no ack from device"), shown  # the verdict comes first
