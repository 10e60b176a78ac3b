"""The trainer's part of the run's screen, in the training lab only: F injects a drill fault,
and faults injected from anywhere (F here, `lab fault` in another terminal) go into the
run's journal."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

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
    options = {name: ChoiceOption(name, f"{name}: {f.summary}" + (f"  (in: {active[name]})" if name in active else ""), "", "")
               for name, f in FAULTS.items()}
    choice = Choice("fault", "Trainer: inject a fault into the lab room (marked in: already in this run)",
                    next(iter(options)), options, 0)
    name = await screen.app.push_screen_wait(ChooseOption(choice, choice.default))
    if name is None:
        return
    said = await asyncio.to_thread(inject, screen, name)
    screen.say(said, title="Trainer", timeout=10)


def faults_in(screen: RunScreen) -> dict[str, str]:
    """Faults this run has already met: the drill's scenario and those the trainer injected (from the journal)."""
    from runbook_tui.engine import records as rec
    from runbook_tui.engine.journal import read_journal

    drill = screen.session.drill
    active = {drill: "drill scenario"} if drill else {}
    try:
        records = read_journal(screen.engine.journal.path).records
    except OSError:
        records = []
    for fault in rec.of_kind(records, rec.FaultInjected):
        if isinstance(fault.fault, str):
            active[fault.fault] = "injected " + time.strftime("%H:%M:%S", time.localtime(fault.ts))
    return active


def inject(screen: RunScreen, name: str) -> str:
    """In a thread: the fault, into the lab room (logged for the run; journal_faults records it)."""
    from runbook_tui.lab.dns_server import DnsSettings
    from runbook_tui.lab.faults import inject as inject_into
    from runbook_tui.lab.lab import Lab

    s = screen.session.settings
    lab = Lab(s.stack_root, lambda _m: None, DnsSettings(port=s.resolvers[0][1]))
    what = inject_into(lab, screen.session.room, name)
    return f"Injected {name}: {what}"


def journal_faults(screen: RunScreen) -> None:
    """Faults injected into this room from anywhere go into this run's journal, the console
    being its one writer. A trainee is not told."""
    from runbook_tui.engine import records as rec

    session = screen.session
    for r in session.new_faults():
        kind = rec.FaultHealed if r.get("healed") else rec.FaultInjected
        screen.engine.journal.write(kind(fault=r["fault"], effect=str(r.get("effect", "")), by=str(r.get("by", "")),
                                         at=r.get("ts")))
        if not session.drill:
            screen.say(f"{'Healed' if r.get('healed') else 'Injected'} {r['fault']}", title="Trainer", timeout=6)
