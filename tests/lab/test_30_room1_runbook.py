"""The v8 runbook on room1, with its own commands, in the order an operator meets them.

The tests in this module build on one another (the lab is one room): dispatch on the
primary, back it up and restore it into the standby (section 5), then promote (section 3).
"""

from __future__ import annotations

import json
import re

import pytest

from runbook_tui.lab.readiness import read_retained, wait_for
from runbook_tui.mqtt_contract import BrokerEndpoint

SMOKE = ("scripts/core-dispatch.sh --room room1 --device sim1 --action SET "
         "--params '{\"note\":\"promotion smoke test\"}'")


# As the runbook writes it: variables on the command line, for that command only. The
# password itself comes from the test's environment, so it is not in any process's argv.
CREDS = 'MQTT_USERNAME=sentient MQTT_PASSWORD="$STACK_MQTT_PASSWORD"'


def secret(lab, stack: str) -> dict[str, str]:
    return {"STACK_MQTT_PASSWORD": lab.stack_env(stack)["MQTT_PASSWORD"]}


def request_id(output: str) -> str:
    return re.search(r"dispatch ([0-9a-f]{32}) via", output).group(1)


@pytest.fixture(scope="module")
def shared():
    return {}


def test_dispatch_through_the_primary_completes_and_is_recorded(lab, shared):
    r = lab.sh(f"MQTT_HOST=localhost MQTT_PORT=1883 {CREDS} {SMOKE}", env=secret(lab, "room1-primary"))
    assert r.returncode == 0, r.stdout + r.stderr
    for stage in ("command", "ack", "complete", "result"):
        assert re.search(rf"<- {stage}\s", r.stdout), r.stdout
    assert "(from room1-primary)" in r.stdout and "COMPLETE: ack" in r.stdout
    rid = request_id(r.stdout)
    row = lab.psql("room1-primary", f"select status, stack, device from dispatches where id='{rid}'")
    assert row == "complete|room1-primary|sim1"
    shared["primary_dispatch"] = rid


def test_standby_rejects_dispatch_before_promotion(lab):
    r = lab.sh(f"MQTT_HOST=localhost MQTT_PORT=1884 {CREDS} {SMOKE}", env=secret(lab, "room1-standby"))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "REJECTED: dispatch disabled" in r.stderr
    assert "<- command" not in r.stdout  # no device was commanded


def test_backup_then_restore_carries_the_primary_dispatch_into_the_standby(lab, shared):
    rid = shared["primary_dispatch"]
    assert lab.psql("room1-standby", f"select count(*) from dispatches where id='{rid}'") == "0"
    backup = lab.sh("scripts/backup-room-db.sh room1", check=True)
    path = backup.stdout.strip().splitlines()[-1]
    assert path.endswith(".sql.gz") and "room1-primary-" in path
    restore = lab.sh(f"scripts/restore-room-db.sh room1-standby {path}", check=True)
    assert "restored" in restore.stdout
    assert lab.psql("room1-standby", f"select status, stack from dispatches where id='{rid}'") == "complete|room1-primary"
    shared["backup"] = path


def test_restore_refuses_to_lose_records_only_the_standby_holds(lab, shared):
    # Seen: the restore replaced the standby's database without a word, though the standby held a
    # record the primary did not (the dispatch made during a promotion): it was lost.
    lab.psql("room1-standby", "insert into dispatches (id, room, stack, status) values "
                              "('made-during-promotion', 'room1', 'room1-standby', 'complete')")
    r = lab.sh(f"scripts/restore-room-db.sh room1-standby {shared['backup']}")
    assert r.returncode == 1 and "holds 1 dispatch(es) the backup lacks" in r.stderr and "made-during-promotion" in r.stderr
    assert lab.psql("room1-standby", "select count(*) from dispatches where id='made-during-promotion'") == "1"
    kept = lab.sh(f"scripts/restore-room-db.sh room1-standby {shared['backup']} --discard-newer 'a lab test record'", check=True)
    assert "discarding 1 dispatch(es) only room1-standby held (made-during-promotion): a lab test record" in kept.stdout
    assert lab.psql("room1-standby", "select count(*) from dispatches where id='made-during-promotion'") == "0"


def test_restore_refuses_a_dispatch_enabled_target(lab, shared):
    rows_before = lab.psql("room1-primary", "select count(*) from dispatches")
    r = lab.sh(f"scripts/restore-room-db.sh room1-primary {shared['backup']}")
    assert r.returncode == 1
    assert "refusing to restore into room1-primary" in r.stderr and "dispatch enabled" in r.stderr
    assert lab.psql("room1-primary", "select count(*) from dispatches") == rows_before


def test_v8_promotion_with_the_runbooks_own_commands(lab):
    # 3.1 The room is safe; shut the primary down to prevent dual control.
    lab.sh("(cd infra/rooms/room1-primary && docker compose --env-file .env down)", check=True)
    # 3.2 Ensure the standby stack is up.
    lab.sh("(cd infra/rooms/room1-standby && docker compose --env-file .env up -d)", check=True)
    # 3.3 Enable dispatch on the standby core, keep critical disarmed, recreate only sentient-core.
    env_file = lab.root / "infra" / "rooms" / "room1-standby" / ".env"
    text = env_file.read_text()
    assert "CORE_DISPATCH_ENABLED=false" in text and "CORE_CRITICAL_ARMED=false" in text
    env_file.write_text(text.replace("CORE_DISPATCH_ENABLED=false", "CORE_DISPATCH_ENABLED=true"))
    before = lab.sh("docker inspect -f '{{.Id}}' room1-standby-db-1 room1-standby-mosquitto-1", check=True).stdout
    lab.sh("(cd infra/rooms/room1-standby && docker compose --env-file .env up -d --force-recreate sentient-core)", check=True)
    after = lab.sh("docker inspect -f '{{.Id}}' room1-standby-db-1 room1-standby-mosquitto-1", check=True).stdout
    assert before == after  # only the core was recreated
    env = lab.stack_env("room1-standby")
    standby = BrokerEndpoint(env["MQTT_BIND_ADDR"], 1883, env["MQTT_USERNAME"], env["MQTT_PASSWORD"])
    assert wait_for(lambda: (read_retained(standby, "core/status") or {}).get("dispatch_enabled") is True, 30)
    # Option B: repoint mqtt.room1 to the standby (on site: the UDM Pro; here: the lab's dnsmasq).
    assert "-> 127.0.0.3 (standby)" in lab.sh("runbook-tui lab dns point room1 standby", check=True).stdout
    # The controller lost the primary broker; on its next reconnect it resolves the name again.
    state_file = lab.root / ".lab" / "controller-room1-sim1.json"
    assert wait_for(lambda: json.loads(state_file.read_text()).get("broker") == "127.0.0.3"
                    and json.loads(state_file.read_text()).get("connected"), 30)
    device = read_retained(standby, "rooms/room1/devices/sim1/status")
    assert device["online"] is True and device["broker"] == "127.0.0.3"
    # 3.4 Verify end-to-end dispatch against the standby broker endpoint.
    r = lab.sh(f"MQTT_HOST=localhost MQTT_PORT=1884 {CREDS} {SMOKE}", env=secret(lab, "room1-standby"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(from room1-standby)" in r.stdout
    assert re.search(r"<- ack\s", r.stdout) and re.search(r"<- complete\s", r.stdout)
    assert re.search(r"COMPLETE: ack [\d.]+ ms, complete [\d.]+ ms", r.stdout)
    rid = request_id(r.stdout)
    assert lab.psql("room1-standby", f"select status, stack from dispatches where id='{rid}'") == "complete|room1-standby"
    status = lab.sh("runbook-tui lab status", check=True).stdout
    assert "room1-primary (127.0.0.2): no containers" in status
    assert "controller sim1: connected to 127.0.0.3 (standby)" in status


def test_lab_up_after_a_promotion_does_not_restart_the_primary(lab):
    r = lab.sh("runbook-tui lab up room1", check=True)
    assert "checked, not started" in r.stdout
    assert "room1-primary on the machine's engine: no containers (left as it is)" in r.stdout
    status = lab.sh("runbook-tui lab status", check=True).stdout
    assert "room1-primary (127.0.0.2): no containers" in status
    assert "mqtt.room1.sentientengine.ai -> 127.0.0.3 (standby)" in status
