"""Hostile input against the TUI in a real terminal (tmux), as an operator would see it.

- A broker (the host's Mosquitto) carries terminal escape sequences in a dispatch, a core's
  status and a controller's status: the pane's title stays, no colour code from a payload
  reaches the terminal, and the text shows with the escapes replaced.
- A stack whose .env has a non-numeric MQTT_PORT: the TUI opens, the broker shows as not
  reachable, no traceback and no password anywhere on screen; it quits cleanly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("mosquitto_pub") is None,
                                reason="tmux and mosquitto clients are installed by infra/host/setup.sh")
PASSWORD = "h0stile-s3cret-77"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def site(tmp_path: Path, port: str, standby_port: str) -> Path:
    rooms = tmp_path / "stacks" / "infra" / "rooms"
    for role, p in (("primary", port), ("standby", standby_port)):
        d = rooms / f"vault-{role}"
        d.mkdir(parents=True)
        (d / ".env").write_text(f"ROOM_ID=vault\nSTACK_ROLE={role}\nMQTT_BIND_ADDR=127.0.0.1\nMQTT_PORT={p}\n"
                                f"MQTT_USERNAME=sentient\nMQTT_PASSWORD={PASSWORD}\nCOMPOSE_PROJECT_NAME=hostile-vault-{role}\n")
    settings = tmp_path / "site.toml"
    settings.write_text(f'stack_root = "{tmp_path / "stacks"}"\nlab = false\njournal_dir = "{tmp_path / "runs"}"\n'
                        '[dns]\nresolvers = ["127.0.0.1:9"]\n[variables]\nsmoke_device = "door1"\n')
    return settings


def open_tui(session: str, settings: Path, size: tuple[int, int] = (120, 40)) -> None:
    tmux("kill-session", "-t", session)
    tmux("new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]),
         f"env -u COLUMNS -u LINES {BIN / 'runbook-tui'} --settings {settings} --room vault --new-run; echo EXIT=$?; sleep 600")
    tmux("select-pane", "-t", session, "-T", "operator-console")


def screen(session: str, escapes: bool = False) -> str:
    return tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", session)


def wait_for(session: str, predicate, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = screen(session)
        if predicate(text):
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.3)


def test_escape_sequences_from_the_broker_never_reach_the_terminal(start_broker, tmp_path: Path):
    _proc, port = start_broker("")
    settings = site(tmp_path, str(port), str(port))
    session = "hostile-escapes"
    open_tui(session, settings)
    try:
        wait_for(session, lambda s: "vault" in s and "Checklist" in s and "d Done" in s)  # the run's screen
        tmux("send-keys", "-t", session, "]", "]")  # the MQTT tab
        # Its probe connected before anything is published: a message that is not retained reaches
        # only the subscribers of its moment.
        wait_for(session, lambda s: s.count(": connected") == 2)
        pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port)]
        subprocess.run([*pub, "-r", "-t", "core/status", "-m", json.dumps(
            {"online": True, "dispatch_enabled": False, "role": "primary", "version": "\x1b[41mRED\x1b[0m\u202eevil"})], check=True)
        subprocess.run([*pub, "-r", "-t", "rooms/vault/devices/door1/status", "-m", "\x1b]0;PWNED\x07online"], check=True)
        for _ in range(3):
            subprocess.run([*pub, "-t", "core/dispatch", "-m", json.dumps({"id": "e1", "device": "\x1b]2;PWNED\x1b\\"})],
                           check=True)
            time.sleep(0.3)
        text = wait_for(session, lambda s: "core/dispatch" in s)
        assert "PWNED" in text  # shown as text, its escape replaced
        time.sleep(1.0)
        assert tmux("display-message", "-p", "-t", session, "#{pane_title}").strip() == "operator-console"
        raw = screen(session, escapes=True)
        assert "\x1b[41m" not in raw and "\x1b]" not in raw
        tmux("send-keys", "-t", session, "]")  # the Flows tab: the flow's device, as text
        text = wait_for(session, lambda s: "e1" in s)
        assert tmux("display-message", "-p", "-t", session, "#{pane_title}").strip() == "operator-console"
        tmux("send-keys", "-t", session, "q")
        wait_for(session, lambda s: "EXIT=0" in s)
    finally:
        tmux("kill-session", "-t", session)


def test_a_non_numeric_port_is_an_unreachable_broker_not_a_traceback(tmp_path: Path):
    settings = site(tmp_path, "18830x", "1883 0")
    session = "hostile-port"
    open_tui(session, settings, (80, 24))
    try:
        wait_for(session, lambda s: "vault" in s)
        tmux("send-keys", "-t", session, "3", "]", "]")  # the live pane, MQTT tab
        text = wait_for(session, lambda s: "unreachable" in s.lower() or "port 0" in s)
        assert "Traceback" not in text and PASSWORD not in text
        tmux("send-keys", "-t", session, "q")
        text = wait_for(session, lambda s: "EXIT=" in s)
        assert "EXIT=0" in text and "Traceback" not in text and PASSWORD not in text
        assert not list((tmp_path / "runs").glob("runbook-tui-crash-*"))
    finally:
        tmux("kill-session", "-t", session)
