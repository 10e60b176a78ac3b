"""A standby's readiness (runbook 5) on hand-built observations, and the passwd check against
files written by the real mosquitto_passwd."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from runbook_tui.observe.model import FilesView
from runbook_tui.observe.passwd import passwd_admits
from runbook_tui.rules.readiness import readiness
from tests.observations import broker, room, stack, status


def passwd_file(tmp_path: Path, user: str, password: str) -> Path:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed (bash infra/host/setup.sh installs it)")
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), user, password], check=True, capture_output=True)
    return path


def test_passwd_admits_exactly_the_env_credentials(tmp_path: Path):
    path = passwd_file(tmp_path, "sentient", "it's-a-s3cret")
    assert passwd_admits(path, "sentient", "it's-a-s3cret") is True
    assert passwd_admits(path, "sentient", "an older one") is False  # the file predates a credential change
    assert passwd_admits(path, "someone-else", "it's-a-s3cret") is False
    assert passwd_admits(path, "", "x") is None and passwd_admits(tmp_path / "none", "sentient", "x") is None
    (tmp_path / "odd").write_text("sentient:$9$what$ever\nsentient2:$7$99999999999$AA==$AA==\n")
    assert passwd_admits(tmp_path / "odd", "sentient", "x") is None and passwd_admits(tmp_path / "odd", "sentient2", "x") is None


def ready_room(**standby_changes):
    on = status(online=True, dispatch_enabled=True, role="primary", version="8.0.0")
    off = status(online=True, dispatch_enabled=False, role="standby", version="8.0.0")
    obs = room([stack("primary", dispatch=True), stack("standby", dispatch=False)], [broker("primary", on), broker("standby", off)])
    env = {"CORE_VERSION": "8.0.0", "MQTT_USERNAME": "sentient", "ROOM_ID": "room1"}
    stacks = []
    for f in obs.files.stacks:
        fields = {"env": tuple(sorted({**f.env_dict, **env}.items())), "passwd_admits": True}
        if f.role == "standby":
            fields |= standby_changes
        stacks.append(dataclasses.replace(f, **fields))
    return dataclasses.replace(obs, files=FilesView(tuple(stacks), obs.files.at))


def test_a_standby_in_line_with_its_primary_is_ready():
    r = readiness(ready_room(), now=1000.0)
    assert r.ready and r.problems() == []
    info = {c.name: c for c in r.checks if c.ok is None}
    assert info["last backup of the primary"].detail == "none on record"  # shown, not judged


def test_each_drift_is_named_with_the_runbook_command_that_fixes_it():
    drifted = ready_room(env=tuple(sorted({"CORE_VERSION": "7.9.0", "MQTT_USERNAME": "sentient", "ROOM_ID": "room1",
                                            "MQTT_BIND_ADDR": "127.0.0.3", "CORE_DISPATCH_ENABLED": "false",
                                            "STACK_ROLE": "standby", "CORE_ACK_TIMEOUT_S": "1"}.items())))
    problems = {c.name: c for c in readiness(drifted).problems()}
    assert set(problems) == {"same core version", ".env aligned"}
    assert "standby 7.9.0" in problems["same core version"].detail and "CORE_VERSION=8.0.0" in problems["same core version"].fix
    assert "CORE_ACK_TIMEOUT_S" in problems[".env aligned"].detail
    stale = {c.name: c for c in readiness(ready_room(passwd_admits=False)).problems()}
    assert set(stale) == {"standby passwd current"}
    assert stale["standby passwd current"].fix.startswith("scripts/mosquitto-make-passwd.sh infra/rooms/room1-standby/.env")


def test_a_standby_that_dispatches_or_is_down_is_not_ready():
    obs = ready_room()
    dispatching = dataclasses.replace(obs, stacks=(obs.stack("primary"), stack("standby", dispatch=True)))
    assert [c.name for c in readiness(dispatching).problems()] == ["standby up, dispatch off"]
    down = dataclasses.replace(obs, stacks=(obs.stack("primary"), stack("standby", core="exited")))
    assert "sentient-core exited" in readiness(down).problems()[0].detail


def test_a_room_whose_stacks_do_not_exist_says_so_once_with_the_command_that_creates_them():
    # Seen on a site: a configured room with no stacks got "same core version: ok" on "?", ".env
    # aligned: FAIL: aligned", and a fix pointing into a folder that did not exist.
    obs = ready_room()
    gone = dataclasses.replace(obs, files=FilesView(tuple(dataclasses.replace(f, exists=False, has_env=False, env=())
                                                          for f in obs.files.stacks), obs.files.at))
    r = readiness(gone)
    assert [(c.name, c.ok) for c in r.checks] == [("stacks created", False)]
    assert "infra/rooms/room1-primary and infra/rooms/room1-standby" in r.checks[0].detail
    assert r.checks[0].fix.startswith("scripts/new-room-standby.sh room1 --primary-addr")
    empty = dataclasses.replace(obs, files=FilesView(tuple(dataclasses.replace(f, env=()) for f in obs.files.stacks), obs.files.at))
    checks = {c.name: c for c in readiness(empty).checks}
    assert checks["same core version"].ok is False and checks[".env aligned"].ok is False
    assert checks[".env aligned"].detail.startswith("cannot compare")


def promoted_room(primary_dispatch: str = "false", standby_dispatch: str = "true"):
    """A room after the runbook's promotion: the primary's stack down (dispatch off in its .env),
    the standby's core recreated with dispatch enabled, saying so on its broker."""
    on = status(online=True, dispatch_enabled=True, role="standby", version="8.0.0")
    obs = room([stack("primary", core="exited", others="exited"), stack("standby", dispatch=True)],
               [broker("primary", state="unreachable"), broker("standby", on)])
    stacks = []
    for f in obs.files.stacks:
        dispatch = primary_dispatch if f.role == "primary" else standby_dispatch
        env = {**f.env_dict, "CORE_VERSION": "8.0.0", "MQTT_USERNAME": "sentient", "CORE_DISPATCH_ENABLED": dispatch}
        stacks.append(dataclasses.replace(f, env=tuple(sorted(env.items())), passwd_admits=True))
    return dataclasses.replace(obs, files=FilesView(tuple(stacks), obs.files.at))


def test_after_a_promotion_the_standby_is_the_active_stack_and_the_pair_is_judged_as_it_stands():
    # Seen: readiness on a promoted room failed "standby up, dispatch off" and proposed
    # recreating the standby with CORE_DISPATCH_ENABLED=false: disarming the only core that dispatches.
    r = readiness(promoted_room())
    assert r.active == "standby" and "standby core up with dispatch enabled" in r.active_detail
    assert r.ready and r.problems() == [], r.problems()
    checks = {c.name: c for c in r.checks}
    assert "standby up, dispatch off" not in checks
    assert checks["standby up, dispatching (active)"].ok is True
    assert checks["primary quiet, ready for failback"].ok is True
    assert "CORE_DISPATCH_ENABLED=false" in checks["primary quiet, ready for failback"].detail
    assert not any("CORE_DISPATCH_ENABLED=false" in c.fix and "standby" in c.fix for c in r.checks)


def test_after_a_promotion_the_fixes_keep_the_active_core_armed_and_quiet_the_primary():
    armed_primary = readiness(promoted_room(primary_dispatch="true"))
    assert [c.name for c in armed_primary.problems()] == ["primary quiet, ready for failback"]
    fix = armed_primary.problems()[0].fix
    assert fix.startswith("set CORE_DISPATCH_ENABLED=false in infra/rooms/room1-primary/.env")
    # The standby's .env was edited back to dispatch off while its core dispatches: the fix
    # restores the .env, never recreates the active core with dispatch off.
    env_off = readiness(promoted_room(standby_dispatch="false"))
    problem = env_off.problems()[0]
    assert problem.name == "standby up, dispatching (active)"
    assert problem.fix == "set CORE_DISPATCH_ENABLED=true in infra/rooms/room1-standby/.env (it is the active stack until failback)"
    # Drift is fixed on the quiet primary, to the active standby's version; the stopped primary
    # is not started by the fix.
    obs = promoted_room()
    older = [dataclasses.replace(f, env=tuple(sorted({**f.env_dict, "CORE_VERSION": "7.9.0"}.items())))
             if f.role == "primary" else f for f in obs.files.stacks]
    drift = {c.name: c for c in readiness(dataclasses.replace(obs, files=FilesView(tuple(older), obs.files.at))).problems()}
    assert set(drift) == {"same core version", ".env aligned"}
    assert drift["same core version"].fix == ("set CORE_VERSION=8.0.0 in infra/rooms/room1-primary/.env "
                                              "(failback brings the primary up with it)")
    assert drift[".env aligned"].fix.startswith("align infra/rooms/room1-primary/.env with the active standby's")


def test_in_dual_control_readiness_proposes_no_command_that_disarms_either_core():
    obs = ready_room()
    both = dataclasses.replace(obs, stacks=(obs.stack("primary"), stack("standby", dispatch=True)),
                               brokers=(obs.broker("primary"),
                                        broker("standby", status(online=True, dispatch_enabled=True, version="8.0.0"))))
    r = readiness(both)
    assert r.active == "both"
    problem = r.problems()[0]
    assert problem.name == "standby up, dispatch off" and "DUAL CONTROL" in problem.detail
    assert "docker compose" not in problem.fix and "CORE_DISPATCH_ENABLED" not in problem.fix


def test_records_only_the_standby_holds_are_not_ready_until_copied_back_or_discarded():
    # Seen: readiness said "ready" while the standby held the promotion's smoke-test record,
    # which the next restore into it would lose.
    r = readiness(ready_room(records_only_here=("smoke-1",), records_only_here_at=1000.0 - 7200), now=1000.0)
    assert [c.name for c in r.problems()] == ["no records only on the standby"]
    problem = r.problems()[0]
    assert "1 dispatch record(s) the primary lacks" in problem.detail and "smoke-1" in problem.detail and "2.0 h ago" in problem.detail
    assert problem.fix.startswith("copy them back: scripts/copy-back-room-db.sh room1, then scripts/backup-room-db.sh room1")
    assert "or discard them as a decision: scripts/restore-room-db.sh room1-standby" in problem.fix
    assert problem.fix.endswith("--discard-newer REASON")
    none = {c.name: c for c in readiness(ready_room()).checks}["no records only on the standby"]
    assert none.ok is None and "none noted" in none.detail  # not compared by a look: not claimed


def test_a_restore_that_discarded_records_says_which_and_why():
    r = readiness(ready_room(last_restore=900.0, restore_discarded=("made-on-the-standby",),
                             restore_reason="a test record, not a guest's"), now=1000.0)
    restore = {c.name: c for c in r.checks}["last restore into the standby"]
    assert restore.ok is None and r.ready
    assert restore.detail == ("0.0 h ago; it discarded 1 dispatch record(s) only the standby held (made-on-the-standby), "
                              "reason given: a test record, not a guest's")


def test_the_files_look_reads_what_the_scripts_record(tmp_path):
    from runbook_tui.observe.files_look import look_files
    from runbook_tui.observe.site import SiteContext

    dirs = {role: tmp_path / "infra" / "rooms" / f"room1-{role}" for role in ("primary", "standby")}
    for d in dirs.values():
        d.mkdir(parents=True)
        (d / ".env").write_text("ROOM_ID=room1\n")
    (dirs["standby"] / ".last-restore").write_text("backup=room1-primary-x.sql.gz\ndiscarded=a,b\nreason=why = this\n")
    (dirs["standby"] / ".records-only-here").write_text("c\nd\n")
    (dirs["primary"] / ".last-restore").write_text("room1-primary-old.sql.gz\n")  # the older spelling
    site = SiteContext(tmp_path, "room1", dirs["primary"], dirs["standby"], "mqtt.room1.sentientengine.ai")
    view = look_files(site)
    standby, primary = view.stack("standby"), view.stack("primary")
    assert standby.restore_discarded == ("a", "b") and standby.restore_reason == "why = this"
    assert standby.records_only_here == ("c", "d") and standby.records_only_here_at is not None
    assert primary.restore_discarded == () and primary.restore_reason == "" and primary.last_restore is not None
    assert primary.records_only_here == () and primary.records_only_here_at is None


def test_readiness_names_each_stacks_engine_and_says_when_one_is_unreachable():
    # Seen: a lost host was shown as a stack with no containers; nothing named its engine.
    import time

    lost_at = time.time() - 120
    primary = dataclasses.replace(stack("primary", core=None, others=None, connected=False),
                                  engine="ssh://ops@primary-host", unreachable_since=lost_at, seen=False)
    standby = dataclasses.replace(stack("standby"), engine="unix:///run/lab-engine/docker.sock")
    said = status(online=True, dispatch_enabled=False, role="standby")
    result = readiness(room([primary, standby], [broker("primary", state="unreachable"), broker("standby", said)]))
    checks = {c.name: c for c in result.checks}
    when = time.strftime("%H:%M:%S", time.localtime(lost_at))
    assert checks["primary engine"].ok is False
    assert checks["primary engine"].detail.startswith(f"ssh://ops@primary-host: unreachable since {when} (")
    assert "[docker] primary" in checks["primary engine"].fix
    assert checks["standby engine"].ok is None
    assert checks["standby engine"].detail == "unix:///run/lab-engine/docker.sock: reachable"


def test_a_primary_whose_engine_cannot_be_seen_is_not_judged_quiet_from_its_env():
    # Seen on a site walk: with the primary's host lost after a promotion, readiness said "ok primary
    # quiet, ready for failback: Docker not reachable ...; .env CORE_DISPATCH_ENABLED=false", while
    # the containers left on that host restart with dispatch on when it powers back on.
    obs = promoted_room()
    lost = [dataclasses.replace(s, connected=False, error="ssh: No route to host", services=())
            if s.role == "primary" else s for s in obs.stacks]
    r = readiness(dataclasses.replace(obs, stacks=tuple(lost)))
    check = next(c for c in r.checks if c.name == "primary quiet, ready for failback")
    assert check.ok is False and not r.ready
    assert "cannot be seen" in check.detail and "restart with the configuration they had" in check.detail
    assert check.fix.endswith("(cd infra/rooms/room1-primary && docker compose --env-file .env down)")
