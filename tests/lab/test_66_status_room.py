"""A core's status counts only for its own room and stack, on the real lab (room1).

The room as a promotion leaves it: the primary's core stopped, the standby's dispatching. Then
a status of another room is retained on the primary's broker, where the primary's own core
would say it is offline. Docker says the primary's core is stopped; the stranger's status says
"online, dispatch enabled". It must raise no dual control (nothing journaled), and the guard
that reads the primary's broker shows it as what it is: another room's status, ignored.
"""

from __future__ import annotations

import json
import time

import paho.mqtt.publish as publish
import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine
from runbook_tui.mqtt_contract import Topics, broker_endpoint
from runbook_tui.observe.mqtt_look import read_retained
from runbook_tui.observe.observer import Observer
from runbook_tui.observe.site import site_context
from runbook_tui.rules.conditions import evaluate
from tests.conftest import TEST_DNS_PORT

ROOM = "room1"
CORE = "sentient-core"
# A checklist of its own: one step proven by what the primary's broker shows.
CHECKLIST = """\
checklist: {id: status-room, name: A core's status and its room, revision: "s1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Promote
    steps:
      - {id: primary-quiet, title: The primary does not dispatch, type: wait, condition: primary_not_dispatching,
         timeout_s: 1}
"""
FORGED = {"online": True, "room": "atlas", "dispatch_enabled": True}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.2)


def retain(env: dict[str, str], payload: bytes) -> None:
    """Retained on the stack's core status topic, as anyone holding the broker's credentials can."""
    broker = broker_endpoint(env)
    publish.single(Topics.from_env(env).status, payload, qos=1, retain=True, hostname=broker.host, port=broker.port,
                   auth={"username": broker.username, "password": broker.password})


def status_on(env: dict[str, str]) -> dict | None:
    return read_retained(broker_endpoint(env), Topics.from_env(env).status)


def running(lab, stack: str, service: str) -> bool:
    out = lab.sh(f"cd infra/rooms/{stack} && docker compose --env-file .env ps -q --status running {service}", check=True)
    return bool(out.stdout.strip())


@pytest.fixture
def promoted_room1(lab):
    """room1 as after a promotion (primary core stopped, its broker up; standby core dispatching),
    put back as it was found after: earlier lab tests may have left the primary's stack down."""
    standby_env = lab.root / "infra" / "rooms" / f"{ROOM}-standby" / ".env"
    before = standby_env.read_bytes()
    primary, standby = lab.stack_env(f"{ROOM}-primary"), lab.stack_env(f"{ROOM}-standby")
    broker_was_up, core_was_up = running(lab, f"{ROOM}-primary", "mosquitto"), running(lab, f"{ROOM}-primary", CORE)
    p = f"cd infra/rooms/{ROOM}-primary && docker compose --env-file .env"
    lab.sh(f"{p} up -d mosquitto", check=True)  # the broker the stranger's status is retained on
    if core_was_up:
        lab.sh(f"{p} stop {CORE}", check=True)
    try:
        standby_env.write_bytes(before.replace(b"CORE_DISPATCH_ENABLED=false", b"CORE_DISPATCH_ENABLED=true"))
        lab.sh(f"cd infra/rooms/{ROOM}-standby && docker compose --env-file .env up -d sentient-core", check=True)
        wait_for(lambda: (status_on(standby) or {}).get("dispatch_enabled") is True, 60, "the standby's core dispatches")
        yield lab, primary
    finally:
        retain(primary, b"")  # an empty retained message clears the topic
        standby_env.write_bytes(before)
        lab.sh(f"cd infra/rooms/{ROOM}-standby && docker compose --env-file .env up -d sentient-core", check=True)
        if core_was_up:
            lab.sh(f"{p} up -d {CORE}", check=True)
            wait_for(lambda: (status_on(primary) or {}).get("online") is True, 60, "the primary's core is back")
        elif not broker_was_up:
            lab.sh(f"{p} stop mosquitto", check=True)
        if b"CORE_DISPATCH_ENABLED=false" in before:
            wait_for(lambda: (status_on(standby) or {}).get("dispatch_enabled") is False, 60,
                     "the standby's core is quiet again")


def test_another_rooms_status_on_the_primary_broker_raises_no_alarm(promoted_room1, tmp_path):
    lab, primary = promoted_room1
    (tmp_path / "checklist.yaml").write_text(CHECKLIST)
    checklist = load_checklist(tmp_path / "checklist.yaml")
    values = resolve_variables(checklist, {"room": ROOM}, lab.root).values
    observer = Observer(site_context(values, lab.root, (("127.0.0.1", int(TEST_DNS_PORT)),)))
    engine = RunEngine.start(checklist, values, observer, tmp_path / "run.jsonl", RunConfig(lab.root, lab=True))

    retain(primary, json.dumps(FORGED).encode())
    wait_for(lambda: status_on(primary) == FORGED, 10, "the forged status is retained on the primary's broker")
    for _ in range(3):  # several looks: the alarm would be raised on the first
        obs = observer.look()
        assert obs.stack("primary").connected and obs.broker("primary").core.room == "atlas"  # seen as it is
        # The standby's real core names its room, role and stack: its status counts.
        assert obs.core_not_own("standby") == "" and evaluate("standby_core_dispatch_enabled", obs).holds
        assert obs.core_not_own("primary") == "core status says room atlas, not room1: ignored"
        notes = engine.observe(obs)
        assert not [n for n in notes if n.startswith("alarm")], notes
    assert engine.active_alarms == ()
    kinds = [r["kind"] for r in read_journal(engine.journal.path).records]
    assert "alarm_raised" not in kinds and "evidence" not in kinds, kinds
    # The guard on the primary's broker names the stranger and does not count it either way.
    verdict = engine.check("primary_not_dispatching")
    assert not verdict.holds and "core status says room atlas, not room1: ignored" in verdict.detail, verdict.detail
