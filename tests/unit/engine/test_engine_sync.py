"""Keeping the standby current, through the engine on hand-built observations and local files:
an optional action is credited only for what changed during the run, the .env alignment shows
and writes exactly the shared keys, and a step ended on purpose by a later one holds nothing
open. No Docker, broker or DNS: the engine is given the observations (tests/observations.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import RunConfig, RunEngine, StepState
from runbook_tui.observe.model import FilesView, RoomObservation
from tests.conftest import REPO
from tests.observations import room, service, stack, status


class Sees:
    """Stands in for the one-shot look: returns what it is given."""

    def __init__(self, obs: RoomObservation) -> None:
        self.obs = obs

    def look(self, parts=None) -> RoomObservation:
        return self.obs


def started_at(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(epoch))


def synced_room(broker_started: float, passwd_written: float) -> RoomObservation:
    """Both stacks running, aligned, the same core version; the brokers started at
    `broker_started`, both passwd files written at `passwd_written`."""
    from tests.observations import broker

    said = status(online=True, dispatch_enabled=False, role="standby", version="8.0.0")
    stacks = []
    for role in ("primary", "standby"):
        s = stack(role)
        mosquitto = dataclasses.replace(service("mosquitto"), started_at=started_at(broker_started))
        stacks.append(dataclasses.replace(s, services=tuple(mosquitto if x.service == "mosquitto" else x for x in s.services)))
    o = room(stacks, [broker("primary", said), broker("standby", said)])
    files = FilesView(tuple(dataclasses.replace(f, passwd_mtime=passwd_written, env=f.env + (("CORE_VERSION", "8.0.0"),))
                            for f in o.files.stacks), o.files.at)
    return dataclasses.replace(o, files=files)


def sync_engine(tmp_path: Path, obs: RoomObservation) -> tuple[RunEngine, Sees]:
    checklist = load_checklist(REPO / "checklists" / "standby-current.yaml")
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    sees = Sees(obs)
    return RunEngine.start(checklist, values, sees, tmp_path / "run.jsonl", RunConfig(tmp_path)), sees


def test_recreating_a_broker_is_not_credited_for_what_already_held_at_open(tmp_path: Path):
    # Seen: "Recreate the broker so it reads the new passwd" ticked the moment the checklist
    # opened, before any passwd was regenerated; the report said the broker was recreated.
    t = time.time() - 600
    engine, sees = sync_engine(tmp_path, synced_room(broker_started=t + 60, passwd_written=t))
    notes = engine.reconcile()
    assert engine.status("config-sync").state is StepState.DONE, notes
    for step in ("reload-primary-broker", "reload-standby-broker"):
        assert engine.status(step).state is StepState.PENDING, (step, notes)
    assert engine.outcome().verdict == "nothing was done"
    # The passwd regenerated during the run (by hand, in another terminal): the broker reads the old one...
    sees.obs = synced_room(broker_started=t + 60, passwd_written=t + 120)
    engine.reconcile()
    assert engine.status("reload-standby-broker").state is StepState.PENDING
    assert "before its passwd was written" in engine.sense("reload-standby-broker").detail
    # ...until it is recreated: that change happened during the run, and is credited.
    sees.obs = synced_room(broker_started=t + 180, passwd_written=t + 120)
    notes = engine.reconcile()
    assert engine.status("reload-standby-broker").state is StepState.DONE, notes
    assert "started" in engine.status("reload-standby-broker").evidence[0]


def write_env(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


ALIGN = """\
checklist: {id: align, name: Align, revision: "a1"}
variables:
  room: {description: The room.}
sections:
  - id: s5
    title: Config sync
    steps:
      - {id: align, title: Align the standby, type: env_edit, file: standby/.env, align_with: primary/.env}
"""
PRIMARY = ("STACK_ROLE=primary\nMQTT_BIND_ADDR=10.1.0.2\nCORE_DISPATCH_ENABLED=true\nCORE_VERSION=8.0.0\n"
           "CORE_ACK_TIMEOUT_S=3\nMQTT_PASSWORD=new-secret-pw\n")
STANDBY = ("# the standby\nSTACK_ROLE=standby\nMQTT_BIND_ADDR=10.1.0.3\nCORE_DISPATCH_ENABLED=false\nCORE_VERSION=7.9.0\n"
           "CORE_ACK_TIMEOUT_S=1\nMQTT_PASSWORD=old-secret-pw\n")


def align_engine(tmp_path: Path) -> RunEngine:
    (tmp_path / "align.yaml").write_text(ALIGN)
    checklist = load_checklist(tmp_path / "align.yaml")
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    return RunEngine.start(checklist, values, Sees(room()), tmp_path / "run.jsonl", RunConfig(tmp_path))


def test_aligning_the_standby_shows_and_writes_the_shared_keys_only(tmp_path: Path):
    write_env(tmp_path / "primary" / ".env", PRIMARY)
    standby = write_env(tmp_path / "standby" / ".env", STANDBY)
    engine = align_engine(tmp_path)
    preview = "\n".join(engine.preview("align").lines)
    assert "every shared key as in primary/.env" in preview
    assert "CORE_VERSION: 7.9.0 -> 8.0.0" in preview and "CORE_ACK_TIMEOUT_S: 1 -> 3" in preview
    assert "MQTT_PASSWORD: •••••• -> ••••••" in preview and "secret-pw" not in preview
    assert "MQTT_BIND_ADDR" not in preview and "CORE_DISPATCH_ENABLED" not in preview  # per-stack: never copied
    status = asyncio.run(engine.run_step("align", confirmed=True))
    assert status.state is StepState.DONE, status
    text = standby.read_text()
    assert text.startswith("# the standby\n")  # comments kept
    for line in ("MQTT_BIND_ADDR=10.1.0.3", "CORE_DISPATCH_ENABLED=false", "STACK_ROLE=standby", "CORE_VERSION=8.0.0",
                 "CORE_ACK_TIMEOUT_S=3", "MQTT_PASSWORD=new-secret-pw"):
        assert line in text
    journal = (tmp_path / "run.jsonl").read_text()
    assert "secret-pw" not in journal
    edit = next(r for r in read_journal(tmp_path / "run.jsonl").records if r["kind"] == "env_edit")
    assert edit["changes"]["CORE_VERSION"] == {"from": "7.9.0", "to": "8.0.0"}
    # Run again: aligned, nothing to write, and it says so.
    before = standby.read_bytes()
    again = asyncio.run(engine.run_step("align", confirmed=True))
    assert again.state is StepState.DONE and "nothing written" in again.evidence[0]
    assert standby.read_bytes() == before


def test_aligning_refuses_keys_only_the_standby_has_and_writes_nothing(tmp_path: Path):
    write_env(tmp_path / "primary" / ".env", PRIMARY)
    standby = write_env(tmp_path / "standby" / ".env", STANDBY + "LEGACY_FLAG=1\n")
    engine = align_engine(tmp_path)
    assert "refused while only this file has: LEGACY_FLAG" in "\n".join(engine.preview("align").lines)
    before = standby.read_bytes()
    status = asyncio.run(engine.run_step("align", confirmed=True))
    assert status.state is StepState.FAILED and "LEGACY_FLAG" in status.reason and "remove them by hand" in status.reason
    assert standby.read_bytes() == before


@pytest.mark.parametrize("fields, said", [
    ("", "missing required field 'set' (or 'align_with')"),
    ("set: {A: b}, align_with: primary/.env", "needs either 'set'"),
])
def test_an_env_edit_needs_set_or_align_with_and_not_both(tmp_path: Path, fields: str, said: str):
    from runbook_tui.checklist.loader import ChecklistInvalid

    text = ALIGN.replace("align_with: primary/.env", fields).replace(", }", "}").replace(", ,", ",")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ChecklistInvalid) as bad:
        load_checklist(path)
    error = bad.value.errors[0]
    assert error.line == 8 and error.field == "sections[0].steps[0].set" and said in error.message, bad.value


def test_a_step_ended_on_purpose_by_a_later_one_holds_nothing_open(tmp_path: Path):
    """Seen in the dead-broker drill: "bring up the primary" could not hold (its broker dead),
    and shutting the primary down, which ends it, left the run incomplete."""
    checklist = tmp_path / "s.yaml"
    checklist.write_text("""\
checklist: {id: sup, name: Sup, revision: "s1"}
variables:
  room: {description: The room.}
sections:
  - id: s
    title: S
    steps:
      - {id: up, title: Bring up, type: command, command: "false", done_when: primary_stack_running}
      - {id: stop, title: Shut down, type: command, command: "true", supersedes: [up]}
""")
    c = load_checklist(checklist)
    engine = RunEngine.start(c, resolve_variables(c, {"room": "room1"}, tmp_path).values, Sees(room()),
                             tmp_path / "run.jsonl", RunConfig(tmp_path))
    assert engine.outcome().open == ("up", "stop")
    assert asyncio.run(engine.run_step("stop", confirmed=True)).state is StepState.DONE
    assert engine.finish() == "complete"
    engine.journal.close()
    assert "| Bring up (`up`) | superseded | - | ended on purpose by `stop` |" in render_report(tmp_path / "run.jsonl")
