"""Non-normal procedures through the TUI, against the real lab (Docker, brokers, dnsmasq): the
room's controllers lost, and the active stack failing (its broker killed; its core crash-looping).

Each time the fault is made in room1 at rest (the primary active), the banner names the procedure
within 2 s of its condition having held its hold time (30 s for the controllers, 10 s for the
active stack: the time the condition began is taken from the same live observation the run
judges), n opens it, its steps are worked with the keys an operator uses (r and the confirmation,
the cursor moved with j; a wait already ticked on evidence is left as it is), the fix is typed in
a second terminal with the runbook's commands, the condition clears, and the journal and the
report show the procedure queued, opened, worked and cleared.
"""

from __future__ import annotations

import time

import pytest

from runbook_tui.engine.floor import send_confirmation
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import StepState
from runbook_tui.lab.lab import DEFAULT_DEVICE
from runbook_tui.lab.processes import ProcessTable
from runbook_tui.rules.abnormal import active_stack_failing, controllers_lost_on_active
from runbook_tui.session import Session
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.dialogs import ConfirmRun
from tests.conftest import REPO

# The lab's commands, the banner and the waits on the app's loop, as test_86 has them.
from tests.lab.test_86_procedures_tui import banner, both_cores_read, compose, journal_kinds, lab_settings, until

ROOM = "room1"
QUEUED = "NON-NORMAL PROCEDURE QUEUED"


@pytest.fixture(scope="module")
def room1(lab):
    """room1 as `lab up` leaves it, the primary active: earlier lab tests promote it."""
    reset = lab.sh(f"runbook-tui lab reset {ROOM}", timeout=600)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    return lab


def typed(lab, command: str, env: dict[str, str] | None = None) -> str:
    done = lab.sh(command, timeout=300, env=env)
    assert done.returncode == 0, command + "\n" + done.stdout + done.stderr
    return done.stdout


async def queued_once_held(pilot, app: RunbookApp, rule, hold_s: float, title: str, timeout: float) -> float:
    """Waits for the banner to name the procedure while watching its condition on the run's own
    live observation; asserts it was queued within 2 s of the condition having held `hold_s`
    continuously. Returns when the banner showed it."""
    since: float | None = None
    deadline = time.monotonic() + timeout
    while not (QUEUED in banner(app) and title in banner(app)):
        assert time.monotonic() < deadline, f"not queued within {timeout}s: {title} (banner: {banner(app)!r})"
        obs = app.watcher.latest if app.watcher is not None else None
        holds = obs is not None and rule(obs)[0]
        if holds and since is None:
            since = time.time()
        elif not holds:
            since = None  # an episode that ended before its hold time queues nothing
        await pilot.pause(0.05)
    shown = time.time()
    assert since is not None, "queued without its condition seen holding"
    print(f"\n{title}: queued {shown - since:.2f} s after its condition began to hold (its hold time {hold_s:g} s)")
    assert shown - since <= hold_s + 2.0, f"{shown - since:.2f} s"
    return shown


async def cursor_to(pilot, app: RunbookApp, step: str) -> None:
    """The operator moves the cursor down the procedure to STEP (j)."""
    for _ in range(8):
        if app.run_screen.selected == step:
            return
        await pilot.press("j")
        await pilot.pause(0.1)
    assert app.run_screen.selected == step, (app.run_screen.selected, step)


async def worked(pilot, app: RunbookApp, step: str, timeout: float = 90) -> None:
    """STEP worked with the keys: r, the confirmation (the room id where it asks), until it is done.
    A step already done on evidence (an opened procedure's wait ticks) is left as it is."""
    await cursor_to(pilot, app, step)
    if app.engine.status(step).state is not StepState.DONE:
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmRun) and app.screen.focused is not None, 10,
                    f"the confirmation of {step}")
        if app.screen.preview.already and app.engine.status(step).state is StepState.DONE:
            # Ticked on the room's evidence as r was pressed: the dialog says it is done already,
            # and an operator reading it cancels (Enter would run it again, on purpose).
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmRun), 10, "the confirmation closed")
        else:
            if app.screen.preview.needs_typed_room:
                await pilot.press(*ROOM)
            await pilot.press("enter")
    await until(pilot, lambda: app.engine.status(step).state is StepState.DONE, timeout,
                f"{step} done: {app.engine.status(step)}")


async def cleared_and_recorded(pilot, app: RunbookApp, procedure: str) -> str:
    """The condition cleared, the banner gone; each record once in the journal, and in the report."""
    status = app.engine.procedures.status(procedure)
    assert status.worked_at is not None and not status.open, status
    await until(pilot, lambda: app.engine.procedures.status(procedure).cleared_at is not None, 30, "the condition cleared")
    assert QUEUED not in banner(app) and app.engine.outcome().procedures_open == ()
    kinds = journal_kinds(app)
    for kind in ("procedure_queued", "procedure_opened", "procedure_worked", "procedure_cleared"):
        assert kinds.count(kind) == 1, (kind, kinds)
    section = render_report(app.engine.journal.path).split("## Non-normal procedures", 1)[1].split("\n## ", 1)[0]
    print(section)
    for said in ("queued: ", "opened by ", "worked to its end", "its condition cleared while it was worked"):
        assert said in section, (said, section)
    return section


def run_app(lab, tmp_path, monkeypatch) -> RunbookApp:
    settings = lab_settings(lab, tmp_path, monkeypatch)
    return RunbookApp(Session(settings, ROOM, REPO / "checklists" / "promotion.yaml"), resume=False)


async def at_rest(pilot, app: RunbookApp) -> None:
    await until(pilot, lambda: app.run_screen is not None, 30, "the run on screen")
    await both_cores_read(pilot, app)
    await until(pilot, lambda: controllers_lost_on_active(app.watcher.latest)[1].startswith("online on the active "
                                                                                             "primary's broker: sim"),
                30, "the controller online on the primary's broker")
    assert QUEUED not in banner(app) and app.engine.procedures.queued() == ()


@pytest.mark.asyncio
async def test_controllers_lost_queued_opened_with_n_and_worked_until_they_are_back(room1, tmp_path, monkeypatch):
    lab = room1
    procedure, title = "controllers-lost", "No controller online on the active broker"
    app = run_app(lab, tmp_path, monkeypatch)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await at_rest(pilot, app)
            # The room's one controller loses its power (the lab's simulated controller stops; it
            # says offline as it goes).
            ProcessTable(lab.root / ".lab").stop(f"controller-{ROOM}-{DEFAULT_DEVICE}")
            await queued_once_held(pilot, app, controllers_lost_on_active, 30, title, 60)
            await pilot.press("n")
            await until(pilot, lambda: app.run_screen.selected == "lost-dns-checked", 10, "the procedure opened")
            await worked(pilot, app, "lost-dns-checked")  # the name answers the primary's broker
            # At the room: the controller is dark; switched on again, and confirmed in the floor view.
            said = typed(lab, f"runbook-tui lab power-cycle {ROOM}")
            assert "power-cycled" in said, said
            send_confirmation(app.engine.journal.path, "lost-controllers-checked", "Rui at the room")
            await until(pilot, lambda: "lost-controllers-checked" in app.engine.room_confirmations, 15,
                        "the room's confirmation taken")
            await worked(pilot, app, "lost-controllers-checked")
            await worked(pilot, app, "lost-controllers-back", 60)
            await cleared_and_recorded(pilot, app, procedure)
            await pilot.press("q")
    finally:
        lab.sh(f"runbook-tui lab power-cycle {ROOM}")  # the controller on, whatever the test left


@pytest.mark.asyncio
async def test_the_active_broker_killed_queued_opened_with_n_and_worked_until_it_answers(room1, tmp_path, monkeypatch):
    lab = room1
    procedure, title = "active-failing", "The active broker is down, or its core crash-loops"
    app = run_app(lab, tmp_path, monkeypatch)
    docker = lab.stack_docker_env(f"{ROOM}-primary")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await at_rest(pilot, app)
            killed_at = time.time()
            typed(lab, f"docker kill {ROOM}-primary-mosquitto-1", env=docker)  # it stays down
            shown = await queued_once_held(pilot, app, active_stack_failing, 10, title, 60)
            print(f"banner {shown - killed_at:.1f} s after the broker was killed")
            assert "mosquitto exited" in app.engine.procedures.status(procedure).detail or \
                "unreachable" in app.engine.procedures.status(procedure).detail
            await pilot.press("n")
            await until(pilot, lambda: app.run_screen.selected == "failing-look-primary", 10, "the procedure opened")
            await worked(pilot, app, "failing-look-primary")  # its containers and logs, on its own engine
            # The runbook's fix, typed in a second terminal: start the broker that stopped.
            typed(lab, f"cd infra/rooms/{ROOM}-primary && docker compose --env-file .env up -d mosquitto", env=docker)
            await worked(pilot, app, "failing-fixed", 60)  # the standby's look (optional) is not needed
            assert app.engine.status("failing-look-standby").state is StepState.PENDING
            await cleared_and_recorded(pilot, app, procedure)
            await pilot.press("q")
    finally:
        compose(lab, ROOM, "primary", "up -d mosquitto")


@pytest.mark.asyncio
async def test_the_active_core_crash_looping_queued_opened_with_n_and_worked_until_it_stays_up(room1, tmp_path,
                                                                                             monkeypatch):
    lab = room1
    procedure, title = "active-failing", "The active broker is down, or its core crash-loops"
    app = run_app(lab, tmp_path, monkeypatch)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await at_rest(pilot, app)
            # The primary's core started from an environment that makes it exit a few seconds after
            # each start (its .env does not say so): Docker's restart policy brings it back each time.
            made = compose(lab, ROOM, "primary", "up -d --force-recreate sentient-core", prefix="CORE_FAULT=crashloop ")
            assert made.returncode == 0, made.stdout + made.stderr
            # Its condition holds from its third restart on (a core up once is not looping): 10 s after.
            await queued_once_held(pilot, app, active_stack_failing, 10, title, 120)
            assert "sentient-core" in app.engine.procedures.status(procedure).detail
            await pilot.press("n")
            await until(pilot, lambda: app.run_screen.selected == "failing-look-primary", 10, "the procedure opened")
            await worked(pilot, app, "failing-look-primary")
            # The core's log names the cause; recreated from its .env, it stays up.
            logs = compose(lab, ROOM, "primary", "logs --tail 40 sentient-core").stdout
            assert "CORE_FAULT=crashloop: exiting" in logs, logs
            fixed = compose(lab, ROOM, "primary", "up -d --force-recreate sentient-core")
            assert fixed.returncode == 0, fixed.stdout + fixed.stderr
            await worked(pilot, app, "failing-fixed", 60)
            await cleared_and_recorded(pilot, app, procedure)
            await pilot.press("q")
    finally:
        compose(lab, ROOM, "primary", "up -d --force-recreate sentient-core")
