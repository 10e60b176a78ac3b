"""The trainer's part of the run's screen, in the training lab only: F injects a drill fault or
heals one this run has in, and faults injected or healed from anywhere (F here, `lab fault` in
another terminal) go into the run's journal, said once each (outside drills)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from runbook_tui.errors import RunbookError

if TYPE_CHECKING:
    from runbook_tui.ui.run_screen import RunScreen


def inject_fault(screen: RunScreen) -> None:
    session = screen.session
    if not session.settings.lab:
        screen.say("Faults are injected in the training lab only.", severity="warning")
        return
    if session.drill:
        # The trainee's screen shows what a real room would: no list of faults, no "in" marks.
        screen.say("In a drill the trainer injects faults from another terminal: runbook-tui lab fault "
                   f"{session.room} NAME", severity="information")
        return
    screen.run_worker(offer_faults(screen), group="fault-menu", exclusive=True, exit_on_error=False,
                      description="list the drill faults")


async def offer_faults(screen: RunScreen) -> None:
    from runbook_tui.checklist.model import Choice, ChoiceOption
    from runbook_tui.lab.faults import FAULTS
    from runbook_tui.ui.dialogs import ChooseOption

    active = await asyncio.to_thread(faults_in, screen)  # the journal, read off the loop
    # A fault already in is offered for healing (the lab's --heal), not for injecting twice.
    options = {name: ChoiceOption(name, (f"{name}: heal it  (in: {active[name]})" if name in active else
                                         f"{name}: {f.summary}"), "", "")
               for name, f in FAULTS.items()}
    choice = Choice("fault", "Trainer: inject a fault into the lab room, or heal one already in",
                    next(iter(options)), options, 0)
    name = await screen.app.push_screen_wait(ChooseOption(choice, choice.default))
    if name is None:
        return
    try:
        await asyncio.to_thread(inject, screen, name, name in active)
    except RunbookError as exc:  # the lab's own words (a room not up, a step that failed)
        screen.say(f"{name}: {exc}", title="Trainer", severity="error", timeout=10)
    # Said once, when the run journals it from the fault log (journal_faults), like one from `lab fault`.


def faults_in(screen: RunScreen) -> dict[str, str]:
    """Faults in the room in this run: the drill's scenario and those the trainer injected and
    has not healed since (from the journal)."""
    from runbook_tui.engine import records as rec
    from runbook_tui.engine.journal import read_journal

    drill = screen.session.drill
    active = {drill: "drill scenario"} if drill else {}
    try:
        records = read_journal(screen.engine.journal.path).records
    except OSError:
        records = []
    for fault in rec.read_all(records):
        if isinstance(fault, rec.FaultInjected):
            active[fault.fault] = "injected " + time.strftime("%H:%M:%S", time.localtime(fault.ts))
        elif isinstance(fault, rec.FaultHealed):
            active.pop(fault.fault, None)
    return active


def inject(screen: RunScreen, name: str, heal: bool = False) -> str:
    """In a thread: the fault, into the lab room, or healed (logged for the run; journal_faults records it)."""
    from runbook_tui.lab.dns_server import DnsSettings
    from runbook_tui.lab.faults import heal as heal_in
    from runbook_tui.lab.faults import inject as inject_into
    from runbook_tui.lab.lab import Lab

    s = screen.session.settings
    lab = Lab(s.stack_root, lambda _m: None, DnsSettings(port=s.resolvers[0][1]))
    return (heal_in if heal else inject_into)(lab, screen.session.room, name)


def journal_faults(screen: RunScreen) -> None:
    """Faults injected into this room from anywhere go into this run's journal, the console
    being its one writer. A trainee is not told."""
    from runbook_tui.engine import records as rec
    from runbook_tui.lab.faults import FAULTS

    session = screen.session
    for r in session.new_faults():
        effect, by = str(r.get("effect", "")), str(r.get("by", ""))
        if r.get("healed"):
            screen.engine.journal.write(rec.FaultHealed(fault=r["fault"], effect=effect, by=by, at=r.get("ts")))
        else:
            # The steps it is known to fail: their first failure is the fault's, not the trainee's mistake.
            known = FAULTS[r["fault"]].symptoms if r["fault"] in FAULTS else ()
            screen.engine.journal.write(rec.FaultInjected(fault=r["fault"], effect=effect, by=by, at=r.get("ts"),
                                                          symptoms=list(known)))
        if not session.drill:
            screen.say(f"{'Healed' if r.get('healed') else 'Injected'} {r['fault']}: {effect}", title="Trainer", timeout=8)
