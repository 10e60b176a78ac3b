"""The live watch reads the brokers the stacks' .env files name now, not those of the moment
the console opened: a promotion's step 1 creates the stacks after the console is open, and
before this the run watched the defaults (127.0.0.1:1883, no user) to its end, on a site
another stack's broker.

No broker and no Docker daemon are needed: the endpoints the observation names are what is
judged (the addresses answer nothing; the Docker probe's socket does not exist)."""

from __future__ import annotations

import time
from pathlib import Path

from runbook_tui.live.watcher import RoomWatcher
from runbook_tui.observe.site import SiteContext

NO_DOCKER = (("primary", "unix:///nonexistent/docker.sock"), ("standby", "unix:///nonexistent/docker.sock"))


def write_env(stack: Path, addr: str, user: str = "vega-user") -> None:
    stack.mkdir(parents=True, exist_ok=True)
    (stack / ".env").write_text(f"MQTT_BIND_ADDR={addr}\nMQTT_USERNAME={user}\nMQTT_PASSWORD=pw\n")


def wait_endpoints(watcher: RoomWatcher, want: dict[str, str]) -> None:
    deadline = time.monotonic() + 10
    while True:
        got = {b.role: b.endpoint for b in watcher.observation().brokers}
        if got == want:
            return
        assert time.monotonic() < deadline, f"the watch reads {got}, the .env files say {want}"
        time.sleep(0.1)


def test_the_watch_follows_stacks_created_and_edited_after_it_started(tmp_path):
    primary, standby = tmp_path / "infra/rooms/vega-primary", tmp_path / "infra/rooms/vega-standby"
    site = SiteContext(tmp_path, "vega", primary, standby, "mqtt.vega.example", resolvers=(("127.0.0.1", 9),),
                       docker_hosts=NO_DOCKER, dns_lifetime_s=0.2)
    watcher = RoomWatcher(site, mqtt_in_process=True, files_poll_s=0.1)
    watcher.start()
    try:
        write_env(primary, "127.0.0.98")  # as step 1 does, after the console opened
        write_env(standby, "127.0.0.99")
        wait_endpoints(watcher, {"primary": "127.0.0.98:1883", "standby": "127.0.0.99:1883"})
        assert {r: link.endpoint.username for r, link in watcher.mqtt.links.items()} == \
            {"primary": "vega-user", "standby": "vega-user"}  # with the stack's credentials
        write_env(standby, "127.0.0.97")  # the standby's address edited
        wait_endpoints(watcher, {"primary": "127.0.0.98:1883", "standby": "127.0.0.97:1883"})
        time.sleep(0.5)  # the replaced probe's last batches do not bring its brokers back
        wait_endpoints(watcher, {"primary": "127.0.0.98:1883", "standby": "127.0.0.97:1883"})
    finally:
        watcher.stop()
