"""Drills on the real lab, from the last drill walk: `drill` over a run the trainee left
unfinished asks (here, without a terminal: refuses) before it resets the room and closes that
run; a blind drill prints no fault; a drill's second resolver lives with its room only (listed
under it, gone with a reset); and `lab down ROOM --purge` says "nothing left running" only once
the room's floor view and that resolver are stopped too. One room (room14) beside the lab's room1."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine import records as rec
from runbook_tui.engine.floor import serving
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine
from runbook_tui.lab.faults import FAULTS
from runbook_tui.lab.readiness import wait_for
from runbook_tui.observe.observer import Observer
from runbook_tui.observe.site import site_context
from runbook_tui.settings import LAB_VARIABLES
from runbook_tui.stacks import default_runs_dir
from tests.conftest import BIN, REPO, TEST_DNS_PORT

ROOM = "room14"
SECOND = f"127.0.0.1:{int(TEST_DNS_PORT) + 1}"


def sections(status: str) -> dict[str, str]:
    """`lab status` per room: room -> its lines."""
    out: dict[str, str] = {}
    room = None
    for line in status.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            room = line[:-1]
            out[room] = ""
        elif room is not None:
            out[room] += line + "\n"
    return out


def unfinished_run(lab) -> object:
    """A drill the trainee quit midway: its journal open, not ended (as a closed console leaves it)."""
    c = load_checklist(REPO / "checklists" / "promotion.yaml")
    values = resolve_variables(c, {"room": ROOM} | {k: v for k, v in LAB_VARIABLES.items() if k in c.variables},
                               lab.root).values
    runs = default_runs_dir(lab.root)
    runs.mkdir(parents=True, exist_ok=True)
    engine = RunEngine.start(c, values, Observer(site_context(values, lab.root, (("127.0.0.1", int(TEST_DNS_PORT)),))),
                             runs / f"{ROOM}-promotion-20261207T110000.jsonl",
                             RunConfig(lab.root, lab=True, drill="standby-passwd-stale", blind=True, operator="ana"))
    engine.mark_done("edit-env", confirmed=True)  # a step decided: a run worth resuming
    engine.journal.close()
    return engine.journal.path


@pytest.fixture(scope="module")
def room14(lab):
    up = lab.sh(f"runbook-tui lab up {ROOM}", timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield lab
    finally:
        if ROOM in lab.sh("runbook-tui lab status").stdout:
            lab.sh(f"runbook-tui lab down {ROOM} --purge", timeout=300)


def test_a_drill_over_an_unfinished_run_refuses_then_starts_over_blind_and_takes_the_second_resolver_away(room14):
    lab = room14
    fault = lab.sh(f"runbook-tui lab fault {ROOM} resolvers-disagree", timeout=300)
    assert fault.returncode == 0, fault.stdout + fault.stderr
    # The second resolver is listed under the room it answers for, not under room1.
    status = sections(lab.sh("runbook-tui lab status").stdout)
    assert f"at resolver {SECOND}" in status[ROOM] and f"at resolver {SECOND}" not in status["room1"], status
    assert "faults in: resolvers-disagree" in status[ROOM]

    journal = unfinished_run(lab)
    refused = lab.sh(f"runbook-tui drill {ROOM} --scenario flapping-primary --trainee ana < /dev/null", timeout=600)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0, said
    assert "unfinished run: a blind drill by ana" in said and "standby-passwd-stale" not in said
    assert f"--resume {journal}" in said and "--start-over" in said
    assert not any(rec.is_kind(r, *rec.ENDING) for r in read_journal(journal).records)  # left as it was
    assert "faults in: resolvers-disagree" in sections(lab.sh("runbook-tui lab status").stdout)[ROOM]  # not reset

    started = lab.sh(f"runbook-tui drill {ROOM} --scenario flapping-primary --trainee ana --start-over < /dev/null",
                     timeout=900)
    said = started.stdout + started.stderr
    assert started.returncode == 0, said
    assert any(rec.is_kind(r, rec.RunAbandoned) for r in read_journal(journal).records)  # closed, on purpose
    # Blind: what the fault did is not printed (the trainee reads this terminal).
    assert f"DRILL in {ROOM}" in said and "exits a few seconds after each start" not in said
    assert FAULTS["flapping-primary"].summary not in said
    status = sections(lab.sh("runbook-tui lab status").stdout)
    # The reset took the room's name off the second resolver, which answers for no room now.
    assert f"at resolver {SECOND}" not in status[ROOM] and "stopped the second resolver" in said
    assert "faults in: flapping-primary" in status[ROOM]  # the trainer's view


def test_lab_down_purge_stops_the_rooms_floor_view_and_second_resolver(room14):
    lab = room14
    fault = lab.sh(f"runbook-tui lab fault {ROOM} resolvers-disagree", timeout=300)
    assert fault.returncode == 0, fault.stdout + fault.stderr
    runs = default_runs_dir(lab.root)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **lab.env()}
    floor = subprocess.Popen(["runbook-tui", "floor", ROOM, "--listen", "127.0.0.1:18476"], cwd=lab.root, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: serving(runs, ROOM) is not None, 30, 0.2), "the floor view did not start"
        down = lab.sh(f"runbook-tui lab down {ROOM} --purge", timeout=300)
        said = down.stdout + down.stderr
        assert down.returncode == 0 and "nothing left running" in said, said
        assert f"closed the floor view of {ROOM}" in said and "stopped the second resolver" in said
        assert floor.wait(timeout=15) is not None and serving(runs, ROOM) is None
        status = lab.sh("runbook-tui lab status").stdout
        assert SECOND not in status and ROOM not in status, status
    finally:
        if floor.poll() is None:
            os.killpg(floor.pid, signal.SIGTERM)
            floor.wait(timeout=10)
