"""What the tool itself could undo, refused or watched (on hand-built observations):

- a step that starts a core is guarded against starting a second dispatching one
  (primary_start_safe, judged on the .env compose reads, Docker and the other side's broker);
- an .env edit is watched once done: edited back, it lapses, journaled; edited again, it holds;
- a step that proves the run end to end is refused while a step before it no longer holds;
- a cancelled wait goes back to pending, still watched;
- the outcome names every step passed without its evidence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import EngineRefusal, RunConfig, RunEngine, StepState
from runbook_tui.observe.model import FilesView, RoomObservation, StackFiles
from runbook_tui.rules.conditions import evaluate
from runbook_tui.rules.outcome import run_outcome
from tests.observations import ADDRESSES, broker, dns, room, stack, status

REPO_CHECKLISTS = Path(__file__).resolve().parents[3] / "checklists"

CHECKLIST = """\
checklist: {id: watch-steps, name: Watch steps, revision: "w1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Promote
    steps:
      - {id: disarm-primary, title: Disable dispatch in the primary's .env, type: env_edit,
         file: "infra/rooms/{{room}}-primary/.env", set: {CORE_DISPATCH_ENABLED: "false"},
         done_when: primary_env_dispatch_disabled}
      - {id: repoint, title: Point the name at the standby, type: wait, condition: dns_points_to_standby, timeout_s: 30}
      - {id: smoke, title: Verify end-to-end dispatch, type: dispatch_smoke, end_to_end: true,
         broker_host: localhost, broker_port: "1", credentials_from: "infra/rooms/{{room}}-standby/.env",
         device: sim1, action: SET}
"""


def env_files(primary_dispatch: bool, standby_dispatch: bool = True) -> FilesView:
    def env(role: str, dispatch: bool) -> tuple[tuple[str, str], ...]:
        return tuple(sorted({"MQTT_BIND_ADDR": ADDRESSES[role], "CORE_DISPATCH_ENABLED": str(dispatch).lower(),
                             "ROOM_ID": "room1", "STACK_ROLE": role}.items()))
    return FilesView((StackFiles("primary", "infra/rooms/room1-primary", True, True, True, True, env("primary", primary_dispatch)),
                      StackFiles("standby", "infra/rooms/room1-standby", True, True, True, True, env("standby", standby_dispatch))),
                     time.time())


def promoted(primary_env_dispatch: bool, name_on: str = "127.0.0.3", standby_connected: bool = True) -> RoomObservation:
    """The primary down, the standby dispatching; the primary's .env as given."""
    on = status(online=True, dispatch_enabled=True, role="standby", room="room1")
    base = room([stack("primary", core="exited", others="exited"), stack("standby", dispatch=True, connected=standby_connected)],
                [broker("primary", state="unreachable"), broker("standby", on)], dns((name_on,)), standby_dispatch=True)
    return dataclasses.replace(base, files=env_files(primary_env_dispatch), at=time.time())


class Sees:
    def __init__(self, obs: RoomObservation) -> None:
        self.obs = obs

    def look(self, parts=None) -> RoomObservation:
        return self.obs


def new_engine(tmp_path: Path, sees: Sees) -> RunEngine:
    path = tmp_path / "watch-steps.yaml"
    path.write_text(CHECKLIST)
    for role in ("primary", "standby"):
        d = tmp_path / "infra" / "rooms" / f"room1-{role}"
        d.mkdir(parents=True)
        (d / ".env").write_text(f"ROOM_ID=room1\nSTACK_ROLE={role}\nCORE_DISPATCH_ENABLED=true\n")
    checklist = load_checklist(path)
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    return RunEngine.start(checklist, values, sees, tmp_path / "run.jsonl", RunConfig(tmp_path, settle_s=1, wait_poll_s=0.05))


def kinds(tmp_path: Path, kind: str) -> list[dict]:
    return [r for r in read_journal(tmp_path / "run.jsonl").records if r["kind"] == kind]


# ---- the guard on starting a core -------------------------------------------------------------

def test_starting_a_primary_whose_env_dispatches_is_refused_while_the_standby_dispatches():
    # Seen: "Bring up the primary" run again after the promotion, before its .env was disarmed.
    verdict = evaluate("primary_start_safe", promoted(primary_env_dispatch=True))
    assert not verdict.holds and verdict.seen
    assert "primary .env CORE_DISPATCH_ENABLED=true" in verdict.detail and "dispatch enabled" in verdict.detail
    # Disarmed in its .env, it starts quiet: allowed.
    assert evaluate("primary_start_safe", promoted(primary_env_dispatch=False)).holds
    # Before the promotion (the standby quiet by Docker and by its broker), starting the primary is the runbook's step 5.
    off = status(online=True, dispatch_enabled=False, role="standby", room="room1")
    before = room([stack("primary", core="exited"), stack("standby", dispatch=False)],
                  [broker("primary", state="unreachable"), broker("standby", off)], dns(("127.0.0.2",)))
    assert evaluate("primary_start_safe", before).holds


def test_starting_the_primary_fails_closed_when_the_standby_cannot_be_seen():
    unseen = promoted(primary_env_dispatch=True, standby_connected=False)
    assert not evaluate("primary_start_safe", unseen).holds
    # Its broker not read (refusing us) is no proof of a quiet standby either.
    base = promoted(primary_env_dispatch=True)
    refusing = dataclasses.replace(base, stacks=(stack("primary", core="exited"), stack("standby", dispatch=False)),
                                   brokers=(broker("primary", state="unreachable"), broker("standby", state="not authorised")))
    verdict = evaluate("primary_start_safe", refusing)
    assert not verdict.holds and "cannot be read" in verdict.detail


# ---- watched .env edits, end-to-end proofs -------------------------------------------------------

def test_an_env_edit_is_watched_once_done_and_an_end_to_end_step_is_refused_while_one_lapsed(tmp_path):
    sees = Sees(promoted(primary_env_dispatch=False))
    engine = new_engine(tmp_path, sees)
    done = asyncio.run(engine.run_step("disarm-primary", confirmed=True))
    assert done.state is StepState.DONE, done
    assert any("primary_env_dispatch_disabled: yes" in e for e in done.evidence)
    assert "CORE_DISPATCH_ENABLED=false" in (tmp_path / "infra/rooms/room1-primary/.env").read_text()
    assert asyncio.run(engine.run_step("repoint", confirmed=True)).state is StepState.DONE

    # Someone edits the primary's .env back: the step no longer holds, journaled with what was seen.
    time.sleep(0.01)
    notes = engine.observe(promoted(primary_env_dispatch=True))
    assert any(n.startswith("disarm-primary: no longer holds") for n in notes), notes
    lapsed = kinds(tmp_path, "condition_lapsed")
    assert [(r["step"], r["condition"]) for r in lapsed] == [("disarm-primary", "primary_env_dispatch_disabled")]
    assert engine.outcome().verdict == "incomplete" and engine.outcome().lapsed == ("disarm-primary",)

    # The smoke test proves nothing while it lapsed: refused, naming it, and nothing sent.
    assert "Disable dispatch in the primary's .env (no longer holds)" in engine.preview("smoke").earlier_open
    with pytest.raises(EngineRefusal, match=r"proves the steps before it end to end.*primary's \.env \(no longer holds\)"):
        asyncio.run(engine.run_step("smoke", confirmed=True))
    assert kinds(tmp_path, "dispatch_sent") == []

    # Acknowledged is not holding: still refused.
    engine.acknowledge_lapse("disarm-primary", "the primary's host is being rebuilt")
    with pytest.raises(EngineRefusal, match="no longer holds"):
        asyncio.run(engine.run_step("smoke", confirmed=True))

    # Edited again: it holds again, journaled, and the smoke test may run.
    time.sleep(0.01)
    engine.observe(promoted(primary_env_dispatch=False))
    assert [r["step"] for r in kinds(tmp_path, "condition_restored")] == ["disarm-primary"]
    assert "disarm-primary" not in engine.lapses
    assert engine.preview("smoke").earlier_open == ()

    # The DNS name pointed back at the primary: the repoint lapses, the smoke test is refused again.
    time.sleep(0.01)
    engine.observe(promoted(primary_env_dispatch=False, name_on="127.0.0.2"))
    assert "repoint" in engine.lapses
    with pytest.raises(EngineRefusal, match=r"Point the name at the standby \(no longer holds\)"):
        asyncio.run(engine.run_step("smoke", confirmed=True))
    engine.journal.close()


def test_a_cancelled_wait_goes_back_to_pending_and_is_still_watched(tmp_path):
    # Seen: failback's "controllers are back" wait blocked the nudge after it; cancelling it marked it failed.
    sees = Sees(promoted(primary_env_dispatch=False, name_on="127.0.0.2"))
    engine = new_engine(tmp_path, sees)

    async def run_then_cancel():
        task = asyncio.create_task(engine.run_step("repoint", confirmed=True))
        while engine.running_step != "repoint":
            await asyncio.sleep(0.01)
        with pytest.raises(EngineRefusal, match="a cancelled wait goes back to pending"):
            await engine.run_step("disarm-primary", confirmed=True)
        engine.cancel()
        return await task

    status_ = asyncio.run(run_then_cancel())
    assert status_.state is StepState.PENDING and "still watched" in status_.reason
    time.sleep(0.01)
    engine.observe(promoted(primary_env_dispatch=False))  # the name moves: the wait turns done on evidence
    assert engine.status("repoint").state is StepState.DONE
    engine.journal.close()


# ---- the outcome names the help it had ----------------------------------------------------------

def test_the_outcome_names_every_step_passed_without_evidence():
    steps = [("room-safe", False), ("dns", False), ("controllers", False), ("smoke", False), ("arm", True)]
    states = {"room-safe": "overridden", "dns": "overridden", "controllers": "skipped", "smoke": "done", "arm": "skipped"}
    outcome = run_outcome(steps, states, set())
    assert outcome.verdict == "complete"
    # An optional step skipped is a decision, not missing evidence; a required one skipped is.
    assert outcome.without_evidence == ("room-safe", "dns", "controllers")
    assert outcome.text().startswith("complete with 3 steps without evidence (room-safe, dns, controllers)")
    assert run_outcome(steps, {**states, "room-safe": "done", "dns": "done", "controllers": "done"}, set()).text() == "complete"


def test_an_edit_the_file_already_says_writes_nothing_and_no_backup(tmp_path):
    # Seen: a no-op edit wrote a backup of an unchanged file.
    sees = Sees(promoted(primary_env_dispatch=False))
    engine = new_engine(tmp_path, sees)
    env = tmp_path / "infra/rooms/room1-primary/.env"
    env.write_text(env.read_text().replace("CORE_DISPATCH_ENABLED=true", "CORE_DISPATCH_ENABLED=false"))
    before = env.stat().st_mtime_ns
    done = asyncio.run(engine.run_step("disarm-primary", confirmed=True))
    assert done.state is StepState.DONE, done
    assert any("already says CORE_DISPATCH_ENABLED=false: nothing written" in e for e in done.evidence)
    assert env.stat().st_mtime_ns == before and not list(env.parent.glob(".env.bak-*"))
    assert kinds(tmp_path, "env_edit") == []
    engine.journal.close()


def test_running_again_a_step_a_later_one_undid_says_so(tmp_path):
    # Seen on a site: "Bring up the primary" after the promotion said only "running it again repeats it".
    path = tmp_path / "sup.yaml"
    path.write_text("""\
checklist: {id: sup, name: Sup, revision: "s1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Promote
    steps:
      - {id: up-primary, title: Bring up the primary, type: command, command: "true"}
      - {id: stop-primary, title: Shut the primary down, type: command, command: "true", supersedes: [up-primary]}
""")
    checklist = load_checklist(path)
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(promoted(False)), tmp_path / "run.jsonl", RunConfig(tmp_path))
    for step in ("up-primary", "stop-primary"):
        assert asyncio.run(engine.run_step(step, confirmed=True)).state is StepState.DONE
    assert "running it again undoes that step" in engine.preview("up-primary").already
    assert "Shut the primary down" in engine.preview("up-primary").already
    engine.journal.close()


def test_variables_read_from_a_stacks_env_follow_it_once_the_stacks_exist(tmp_path):
    # Seen on a site: a console opened before step 1 created the stacks kept "<standby_broker_addr:
    # not set>" in the DNS step and the default smoke-test port for the whole run, resumes included.
    path = tmp_path / "vars.yaml"
    path.write_text("""\
checklist: {id: vars, name: Vars, revision: "v1"}
variables:
  room: {description: The room.}
  standby_dir: {default: "infra/rooms/{{room}}-standby", description: d}
  standby_broker_addr: {from_env: "standby:MQTT_BIND_ADDR", description: d}
  standby_endpoint_port: {default: "1884", from_env: "standby:MQTT_LOCAL_PORT", description: d}
  mqtt_username: {default: sentient, from_env: "standby:MQTT_USERNAME", description: d}
sections:
  - id: s1
    title: Create
    steps:
      - {id: create, title: Create the stacks, type: command, command: "true"}
      - {id: dns, title: "Point the name at {{standby_broker_addr}}", type: confirm}
""")
    checklist = load_checklist(path)
    given = {"room": "room1", "mqtt_username": "site-user"}
    values = resolve_variables(checklist, given, tmp_path).values
    assert values["standby_broker_addr"] == "<standby_broker_addr: not set>" and values["standby_endpoint_port"] == "1884"
    config = RunConfig(tmp_path, given=frozenset(given))
    engine = RunEngine.start(checklist, values, Sees(promoted(False)), tmp_path / "run.jsonl", config)
    standby = tmp_path / "infra/rooms/room1-standby"
    standby.mkdir(parents=True)
    (standby / ".env").write_text("MQTT_BIND_ADDR=10.0.30.11\nMQTT_LOCAL_PORT=21961\nMQTT_USERNAME=from-env\n")
    assert asyncio.run(engine.run_step("create", confirmed=True)).state is StepState.DONE
    assert engine.values["standby_broker_addr"] == "10.0.30.11" and engine.values["standby_endpoint_port"] == "21961"
    assert engine.values["mqtt_username"] == "site-user"  # given by the site: it stays
    assert engine.preview("dns").title == "Point the name at 10.0.30.11"
    assert {r["name"] for r in kinds(tmp_path, "variable")} == {"standby_broker_addr", "standby_endpoint_port"}
    engine.journal.close()
    resumed, _notes = RunEngine.resume(tmp_path / "run.jsonl", checklist, Sees(promoted(False)), config)
    assert resumed.values["standby_broker_addr"] == "10.0.30.11" and resumed.values["standby_endpoint_port"] == "21961"
    resumed.journal.close()


# ---- a lost primary host, fenced ----------------------------------------------------------------

def host_lost(connected: bool = False, core: str | None = None) -> RoomObservation:
    """The primary's engine and broker unreachable (its host lost); the standby quiet."""
    off = status(online=True, dispatch_enabled=False, role="standby", room="room1")
    primary = stack("primary", core=core, others=None, connected=connected) if not connected else \
        stack("primary", core=core or "running", dispatch=True)
    base = room([primary, stack("standby", dispatch=False)],
                [broker("primary", state="unreachable"), broker("standby", off)], dns(("127.0.0.2",)))
    return dataclasses.replace(base, files=env_files(True, standby_dispatch=False), at=time.time())


def test_a_lost_primary_host_is_passed_by_a_fence_confirmed_at_the_room_never_by_unreachability_alone(tmp_path):
    from runbook_tui.engine.report import render_report
    from runbook_tui.engine.run import GuardRefused
    from tests.lab.rooms import confirmed_at_room

    checklist = load_checklist(REPO_CHECKLISTS / "promotion.yaml")
    values = resolve_variables(checklist, {"room": "room1", "smoke_device": "sim1", "new_primary_addr": "",
                                           "new_standby_addr": ""}, tmp_path).values
    sees = Sees(host_lost())
    engine = RunEngine.start(checklist, values, sees, tmp_path / "run.jsonl", RunConfig(tmp_path))
    # Unreachable is not stopped: a partitioned primary may still reach the controllers.
    assert not engine.check("primary_not_dispatching").holds
    with pytest.raises(GuardRefused):
        asyncio.run(engine.run_step("enable-dispatch", typed_room="room1"))
    # The fence: the person at the room confirms the host is off, by name; then the operator.
    with pytest.raises(EngineRefusal, match="confirmed by the person at the room first"):
        engine.mark_done("fence-primary", typed_room="room1")
    confirmed_at_room(engine, "room-safe", "Rui")
    engine.mark_done("room-safe", typed_room="room1")
    confirmed_at_room(engine, "fence-primary", "Rui")
    engine.mark_done("fence-primary", typed_room="room1")
    fenced = engine.check("primary_not_dispatching")
    assert fenced.holds and fenced.detail.startswith("primary host fenced at ") and "by Rui at the room" in fenced.detail
    notes = engine.reconcile()  # "Shut the primary down" turns done on that evidence
    assert engine.status("stop-primary").state is StepState.DONE, notes
    assert "fenced" in engine.status("stop-primary").evidence[0]
    # The host comes back with its old core dispatching: the fence no longer counts, the stop lapses.
    time.sleep(0.01)
    sees.obs = host_lost(connected=True)
    engine.observe(sees.obs)
    assert "stop-primary" in engine.lapses
    assert not engine.check("primary_not_dispatching").holds
    engine.journal.close()
    records = read_journal(tmp_path / "run.jsonl").records
    assert [(r["role"], r["by"]) for r in records if r["kind"] == "fenced"] == [("primary", "Rui at the room")]
    assert not [r for r in records if r["kind"] == "override"]
    assert "- Primary host lost, fenced by Rui at the room at " in render_report(tmp_path / "run.jsonl")


def test_the_fence_is_refused_while_the_primary_host_answers(tmp_path):
    from runbook_tui.engine.run import GuardRefused
    from tests.lab.rooms import confirmed_at_room

    checklist = load_checklist(REPO_CHECKLISTS / "promotion.yaml")
    values = resolve_variables(checklist, {"room": "room1", "smoke_device": "sim1", "new_primary_addr": "",
                                           "new_standby_addr": ""}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(host_lost(connected=True)), tmp_path / "run.jsonl", RunConfig(tmp_path))
    confirmed_at_room(engine, "room-safe")
    engine.mark_done("room-safe", typed_room="room1")
    confirmed_at_room(engine, "fence-primary")
    with pytest.raises(GuardRefused) as refused:
        engine.mark_done("fence-primary", typed_room="room1")
    assert refused.value.failures[0].condition == "primary_host_unreachable"
    engine.journal.close()


def test_the_fence_step_is_skipped_with_a_reason_where_the_host_answers(tmp_path):
    # Seen on a site walk: the optional fence could not be skipped without the room ("override it").
    checklist = load_checklist(REPO_CHECKLISTS / "promotion.yaml")
    values = resolve_variables(checklist, {"room": "room1", "smoke_device": "sim1", "new_primary_addr": "",
                                           "new_standby_addr": ""}, tmp_path).values
    engine = RunEngine.start(checklist, values, Sees(host_lost(connected=True)), tmp_path / "run.jsonl", RunConfig(tmp_path))
    assert engine.skip("fence-primary", "the primary's host answers").state is StepState.SKIPPED
    # A required step only the room can see is still not passed by a reason alone.
    with pytest.raises(EngineRefusal, match="is confirmed at the room"):
        engine.skip("room-safe", "in a hurry")
    assert engine.outcome().without_evidence == ()  # an optional step skipped is a decision, not missing evidence
    engine.journal.close()
