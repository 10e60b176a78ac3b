"""The day the primary's host dies, on the lab: a room whose primary lives on the lab's own
engine (`lab up --primary-on-lab-engine`); the engine is stopped with its containers, as a host
that loses power. Seen: with the primary's engine unreachable the only way on was "Run despite
the guard" three times.

- The site's fence command ([rooms.<id>] fence_command, a script standing in for a PDU's tool)
  fences the lost host only once it exits 0: failing, it fences nothing and the guard still
  refuses; succeeding, the stop turns done on that evidence, the journal and the report saying
  how ("fence command: ...").
- The fence confirmed by name at the room, from a phone (the floor view in Chromium): the
  promotion ends complete, no override, no step without evidence, the report saying so. Then
  the host powers on again: its old core comes back by its restart policy with dispatch enabled,
  dual control is raised, and the step the run offers (shut the primary down, on its own engine)
  ends it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook_tui.engine.floor import close, console_alive, read_confirmations, serving
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import GuardRefused, StepState
from runbook_tui.lab.engine import LabEngine
from runbook_tui.session import Session
from runbook_tui.settings import RoomSettings, lab_defaults
from tests.conftest import REPO
from tests.integration.browser import CHROMIUM, click_text, phone_context, wait_text
from tests.lab.rooms import confirmed_at_room, up_to_the_safe_room

ROOM = "room11"


@pytest.fixture(scope="module")
def primary_on_lab_engine(lab):
    with lab.extra_room(ROOM, "--primary-on-lab-engine"):
        yield lab
        LabEngine(lab.root / ".lab").start()  # down tears the room down on its engine: it must answer


def until(predicate, timeout: float, what: str, engine=None) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, what
        if engine is not None:
            engine.reconcile()
        time.sleep(0.2)
    return time.monotonic() - started


def pdu_script(folder: Path) -> Path:
    """A PDU's command line as a site's fence command: it records the words it was given and
    switches the outlet off, but only once the PDU answers (the file `pdu-answers`); until then it
    fails as such a tool does, and the fence must not count."""
    script = folder / "pdu-ctl"
    script.write_text(f"""#!/bin/sh
if [ ! -e "{folder}/pdu-answers" ]; then
  echo "pdu-ctl: 10.0.10.5: no answer" >&2
  exit 2
fi
printf '%s\\n' "$@" > "{folder}/pdu-called"
echo "outlet $2: off"
""")
    script.chmod(0o755)
    return script


def test_the_sites_fence_command_fences_the_lost_host_only_when_it_succeeds(primary_on_lab_engine, monkeypatch, tmp_path):
    lab = primary_on_lab_engine
    for key, value in lab.env().items():
        monkeypatch.setenv(key, value)
    base = lab_defaults()
    argv = (str(pdu_script(tmp_path)), "outlet", "3", "off")
    room = dataclasses.replace(base.rooms.get(ROOM, RoomSettings()), fence_command=argv)
    settings = dataclasses.replace(base, rooms={**base.rooms, ROOM: room}).for_room(ROOM)
    session = Session(settings, ROOM, REPO / "checklists" / "promotion.yaml", operator="olga")
    engine = session.start_engine()
    try:
        up_to_the_safe_room(engine, ROOM)
        preview = engine.preview("fence-primary-command")
        assert preview.lines[0] == f"$ {argv[0]} outlet 3 off" and "cuts the primary host off" in preview.lines[2]
        with pytest.raises(GuardRefused):  # its host answers: nothing to fence
            asyncio.run(engine.run_step("fence-primary-command", typed_room=ROOM))

        LabEngine(lab.root / ".lab").stop()  # the host dies
        until(lambda: engine.check("primary_host_unreachable").holds, 30, "the primary host is seen unreachable")
        failed = asyncio.run(engine.run_step("fence-primary-command", typed_room=ROOM))
        assert failed.state is StepState.FAILED and failed.reason == "exit code 2: pdu-ctl: 10.0.10.5: no answer", failed
        assert engine.fences() == ()
        engine.reconcile()
        assert engine.status("stop-primary").state is StepState.PENDING
        with pytest.raises(GuardRefused):  # unreachable, and not fenced: still refused
            asyncio.run(engine.run_step("enable-dispatch", typed_room=ROOM))

        (tmp_path / "pdu-answers").touch()
        done = asyncio.run(engine.run_step("fence-primary-command", typed_room=ROOM))
        assert done.state is StepState.DONE, done
        assert (tmp_path / "pdu-called").read_text().splitlines() == ["outlet", "3", "off"]
        until(lambda: engine.status("stop-primary").state is StepState.DONE, 10, "the stop turns done on the fence", engine)
        assert "by the site's fence command (fence command: " in engine.status("stop-primary").evidence[0]
        guard = engine.check("primary_not_dispatching")
        assert guard.holds and guard.detail.startswith("primary host fenced at "), guard
        journal = engine.journal.path
    finally:
        LabEngine(lab.root / ".lab").start()  # the host powers on: its primary comes back as it was
        try:
            until(lambda: engine.check("primary_stack_running").holds, 90, "the primary runs again on its engine")
        finally:
            engine.journal.close()
            session.release()
    records = read_journal(journal).records
    assert not [r for r in records if r["kind"] == "override"]
    said = f"fence command: {argv[0]} outlet 3 off, run by olga"
    assert [(r["by"], r["how"]) for r in records if r["kind"] == "fenced"] == [("the site's fence command", said)]
    runs = [r for r in records if r["kind"] == "command_started" and r["step"] == "fence-primary-command"]
    assert len(runs) == 2 and all(r["argv"] == list(argv) and r["shell"] is False for r in runs)
    assert "- Primary host lost, fenced by the site's fence command at " in render_report(journal)
    assert said in render_report(journal)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def confirmed_from_a_phone(engine, runs: Path, step: str, number: int, name: str) -> None:
    """The person at the room opens the floor view's link in Chromium at a phone's size and
    confirms `step` by name; the console's engine takes it from the run's inbox, as the app does."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    floor = subprocess.Popen([str(Path(sys.executable).parent / "runbook-tui"), "floor", ROOM, "--listen",
                              f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    try:
        until(lambda: serving(runs, ROOM) is not None, 30, "the floor view serves")
        url = serving(runs, ROOM).url
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                phone = phone_context(browser).new_page()
                phone.goto(url)
                console_alive(engine.journal.path)
                wait_text(phone, f"I confirm step {number}", timeout=30)
                click_text(phone, "Your name")
                phone.keyboard.type(name)
                click_text(phone, f"I confirm step {number}")

                def taken() -> bool:
                    console_alive(engine.journal.path)
                    for confirmation in read_confirmations(engine.journal.path, engine.room_confirmation_ids()):
                        assert engine.receive_room_confirmation(confirmation) == ""
                    return step in engine.room_confirmations
                until(taken, 15, "the console takes the room's confirmation")
                wait_text(phone, f"confirmed at the room by {name}", timeout=10)
            finally:
                browser.close()
    finally:
        close(runs, ROOM)
        floor.wait(10)


def test_a_lost_primary_host_is_fenced_at_the_room_and_its_return_is_caught(primary_on_lab_engine, monkeypatch):
    lab = primary_on_lab_engine
    for key, value in lab.env().items():
        monkeypatch.setenv(key, value)
    settings = lab_defaults().for_room(ROOM)
    assert settings.docker_hosts.get("primary", "").startswith("unix://") and "standby" not in settings.docker_hosts
    session = Session(settings, ROOM, REPO / "checklists" / "promotion.yaml")
    engine = session.start_engine()
    try:
        up_to_the_safe_room(engine, ROOM)

        # The host dies: its engine stops, and its containers with it.
        LabEngine(lab.root / ".lab").stop()
        until(lambda: engine.check("primary_host_unreachable").holds, 30, "the primary host is seen unreachable")
        # Unreachable is not stopped: the guard still refuses.
        with pytest.raises(GuardRefused) as refused:
            asyncio.run(engine.run_step("enable-dispatch", typed_room=ROOM))
        assert "Docker not reachable" in refused.value.failures[0].detail or "unreachable" in refused.value.failures[0].detail

        # No fence command on this site: its step was skipped at the start, saying so.
        assert engine.status("fence-primary-command").state is StepState.SKIPPED
        assert "this site has no fence command" in engine.status("fence-primary-command").reason
        # The fence, confirmed by name at the room from a phone (the floor view), then by the operator.
        assert engine.statuses["fence-primary"].state is StepState.PENDING
        confirmed_from_a_phone(engine, settings.runs_dir, "fence-primary", 9, "Rui")
        engine.mark_done("fence-primary", typed_room=ROOM)
        until(lambda: engine.status("stop-primary").state is StepState.DONE, 10, "the stop turns done on the fence",
              engine)
        assert "primary host fenced at" in engine.status("stop-primary").evidence[0]
        for step in ("disarm-primary", "standby-up", "enable-dispatch", "recreate-core", "dns-repoint",
                     "controllers-reconnected", "smoke-test"):
            status = asyncio.run(engine.run_step(step, typed_room=ROOM, confirmed=True))
            assert status.state is StepState.DONE, (step, status)
        assert any("guard primary_not_dispatching: yes: primary host fenced at" in e
                   for e in engine.status("enable-dispatch").evidence)
        confirmed_at_room(engine, "device-reacts")
        engine.mark_done("device-reacts", confirmed=True)
        for step in ("arm-critical", "recreate-core-armed"):
            engine.skip(step, "not needed in this test")
        assert engine.finish() == "complete"
        assert engine.outcome().without_evidence == ()

        # The host powers on: its dockerd starts the old core again, as it was (dispatch enabled).
        LabEngine(lab.root / ".lab").start()
        took = until(lambda: any(a.kind == "dual_control" for a in engine.active_alarms), 60,
                     "dual control is raised when the old primary core comes back", engine)
        assert "stop-primary" in engine.lapses  # the run offers the step that ends it
        stopped = asyncio.run(engine.run_step("stop-primary", typed_room=ROOM))
        assert stopped.state is StepState.DONE, stopped
        until(lambda: not engine.active_alarms, 30, "the alarm clears once the primary is down", engine)
        journal = engine.journal.path
    finally:
        engine.journal.close()
        session.release()
    records = read_journal(journal).records
    assert not [r for r in records if r["kind"] == "override"]
    assert [r["by"] for r in records if r["kind"] == "fenced"] == ["Rui at the room"]
    started = next(r for r in records if r["kind"] == "command_started" and r["step"] == "stop-primary")
    assert started["engine"] == f"the primary's engine {settings.docker_hosts['primary']}"
    assert [r["kind"] for r in records if r["kind"] in ("alarm_raised", "alarm_cleared")] == ["alarm_raised", "alarm_cleared"]
    assert "- Primary host lost, fenced by Rui at the room at " in render_report(journal)
    print(f"\ndual control raised {took:.1f} s after the lab's engine answered again (looks every 0.2 s)")
