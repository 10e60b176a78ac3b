"""A second room with its own addresses, beside room1."""

from __future__ import annotations

from runbook_tui.lab.readiness import resolve_a
from tests.conftest import TEST_DNS_PORT


def test_second_room_comes_up_beside_room1(lab):
    up = lab.sh("runbook-tui lab up room2", timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        p, s = lab.stack_env("room2-primary"), lab.stack_env("room2-standby")
        assert (p["MQTT_BIND_ADDR"], s["MQTT_BIND_ADDR"]) == ("127.0.0.4", "127.0.0.5")
        assert resolve_a("mqtt.room2.sentientengine.ai", "127.0.0.1", int(TEST_DNS_PORT)) == "127.0.0.4"
        assert resolve_a("mqtt.room1.sentientengine.ai", "127.0.0.1", int(TEST_DNS_PORT)) in ("127.0.0.2", "127.0.0.3")
        r = lab.sh("MQTT_HOST=127.0.0.4 scripts/core-dispatch.sh --env-file infra/rooms/room2-primary/.env "
                   "--room room2 --device sim1 --action SET")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "(from room2-primary)" in r.stdout
        # room1's credentials do not open room2's broker.
        denied = lab.sh("MQTT_HOST=127.0.0.4 scripts/core-dispatch.sh --env-file infra/rooms/room1-standby/.env "
                        "--room room2 --device sim1 --action SET")
        assert denied.returncode == 6
        status = lab.sh("runbook-tui lab status", check=True).stdout
        assert "room1:" in status and "room2:" in status
    finally:
        down = lab.sh("runbook-tui lab down room2", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
    assert "room2" not in lab.sh("docker ps -a --format '{{.Names}}'", check=True).stdout
