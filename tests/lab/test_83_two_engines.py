"""A room on two engines: its standby on the lab's own second engine (`lab up --two-engines`),
the promotion run through the session and engine the TUI uses. Every command names its
engine, and each stack's containers change only on its own engine. Seen: "Shut the primary
down" ran on the console's own engine while the settings named another for the primary.
The standby's engine is also reached over ssh:// through an sshd of the test's own."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import StepState
from runbook_tui.observe.docker_look import look_stack
from runbook_tui.session import Session
from runbook_tui.settings import lab_defaults
from tests.conftest import REPO
from tests.lab.rooms import confirmed_at_room, up_to_the_safe_room
from tests.lab.sshd import TestSshd

ROOM = "room10"


@pytest.fixture(scope="module")
def two_engines(lab):
    with lab.extra_room(ROOM, "--two-engines"):
        yield lab


def containers(engine: str | None, project: str) -> list[str]:
    host = ["--host", engine] if engine else []
    out = subprocess.run(["docker", *host, "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                          "--format", "{{.Names}} {{.State}}"], capture_output=True, text=True, check=True, timeout=60)
    return sorted(out.stdout.split("\n")[:-1])


def test_the_promotion_acts_on_each_stacks_own_engine(two_engines, monkeypatch, tmp_path: Path):
    lab = two_engines
    for key, value in lab.env().items():  # the lab's DNS step runs `runbook-tui lab dns point`
        monkeypatch.setenv(key, value)
    settings = lab_defaults().for_room(ROOM)
    standby_engine = settings.docker_hosts.get("standby")
    assert standby_engine and standby_engine.startswith("unix://") and "primary" not in settings.docker_hosts
    assert containers(None, f"{ROOM}-standby") == []  # the standby lives only on the lab's engine
    before_standby = containers(standby_engine, f"{ROOM}-standby")
    assert len(before_standby) == 3 and all(c.endswith(" running") for c in before_standby), before_standby
    assert containers(standby_engine, f"{ROOM}-primary") == []

    session = Session(settings, ROOM, REPO / "checklists" / "promotion.yaml")
    engine = session.start_engine()
    try:
        up_to_the_safe_room(engine, ROOM)
        engine.skip("fence-primary", "the primary's host answers")
        for step in ("stop-primary", "disarm-primary", "standby-up", "enable-dispatch", "recreate-core", "dns-repoint",
                     "controllers-reconnected", "smoke-test"):
            status = asyncio.run(engine.run_step(step, typed_room=ROOM, confirmed=True))
            assert status.state is StepState.DONE, (step, status)
        assert any(f"(core {ROOM}-standby)" in e for e in engine.status("smoke-test").evidence)
        confirmed_at_room(engine, "device-reacts")
        engine.mark_done("device-reacts", confirmed=True)
        for step in ("arm-critical", "recreate-core-armed"):
            engine.skip(step, "not needed in this test")
        assert engine.finish() == "complete"
        journal = engine.journal.path
    finally:
        engine.journal.close()
        session.release()

    records = read_journal(journal).records
    started = [r for r in records if r["kind"] == "command_started"]
    by_stack = {r["step"]: (r["stack"], r["engine"]) for r in started}
    assert by_stack["stop-primary"] == ("primary", "the primary's engine (this machine's default)")
    for step in ("standby-up", "recreate-core"):
        assert by_stack[step] == ("standby", f"the standby's engine {standby_engine}"), by_stack
    assert not [r for r in records if r["kind"] == "override"]
    # Each stack changed only on its own engine: the primary shut down on the machine's, the
    # standby's core recreated on the lab's; nothing of either appeared on the other engine.
    assert containers(None, f"{ROOM}-primary") == []  # `compose down` removed them there
    assert containers(None, f"{ROOM}-standby") == []
    assert containers(standby_engine, f"{ROOM}-primary") == []
    after_standby = containers(standby_engine, f"{ROOM}-standby")
    assert len(after_standby) == 3 and all(c.endswith(" running") for c in after_standby), after_standby


def test_the_standby_engine_is_reached_over_ssh(two_engines, monkeypatch, tmp_path: Path):
    """ssh:// for real: an sshd of the test's own whose key sets DOCKER_HOST to the lab's engine."""
    for key, value in two_engines.env().items():  # the lab's stack root, where its rooms are recorded
        monkeypatch.setenv(key, value)
    standby_engine = lab_defaults().for_room(ROOM).docker_hosts["standby"]
    env = two_engines.stack_env(f"{ROOM}-standby")
    local = look_stack("standby", f"{ROOM}-standby", env, standby_engine)
    assert local.connected and len(local.services) == 3, local
    with TestSshd(tmp_path / "sshd", 2298, standby_engine) as sshd:
        monkeypatch.setenv("PATH", sshd.env()["PATH"])
        over_ssh = look_stack("standby", f"{ROOM}-standby", env, sshd.url)
        assert over_ssh.connected, over_ssh.error
        assert [(s.service, s.state) for s in over_ssh.services] == [(s.service, s.state) for s in local.services]
        assert over_ssh.engine == sshd.url
