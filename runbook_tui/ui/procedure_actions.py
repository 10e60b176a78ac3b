"""Non-normal procedures on the run's screen: the banner that names a queued one, the key that
opens it in the checklist pane, dismissing one with a reason, and what the engine posts about
them (ProcedureChanged). Its steps are worked with the step keys like any other step
(step_actions.py): the engine runs them with the same guards, confirmations and records.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from runbook_tui.checklist.kinds import substitute
from runbook_tui.engine.events import PASSED
from runbook_tui.ui import dialogs

if TYPE_CHECKING:
    from runbook_tui.engine.events import HoldChanged, ProcedureChanged, ProcedureStatus
    from runbook_tui.ui.run_screen import RunScreen

OPEN_KEY, DISMISS_KEY = "n", "N"  # their bindings' ids: open_procedure, dismiss_procedure (a site may rebind them)


def key_of(screen: RunScreen, binding_id: str, default: str) -> str:
    """The key the operator presses for a binding, as the site's [keys] table may have rebound it."""
    keys = screen.session.settings.keymap.get(binding_id, default)
    return keys.split(",")[0]


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def banner_text(screen: RunScreen) -> str | None:
    """One part per open procedure: queued and not opened yet, open, or its condition cleared."""
    open_key, dismiss_key = key_of(screen, "open_procedure", OPEN_KEY), key_of(screen, "dismiss_procedure", DISMISS_KEY)
    procedures = screen.engine.procedures.open_ones()
    if not procedures:
        return None
    if screen.is_narrow():
        # One line for all of them at 80x24 (beside another reason each is cut there): each named
        # with where it stands, the keys first, so that a cut never takes them. What was seen is
        # in the notice, the alarm's line and the procedure's section.
        what = f"{len(procedures)} PROCEDURES" if len(procedures) > 1 else "PROCEDURE"
        return f"NON-NORMAL {what} ({open_key} opens, {dismiss_key} dismisses): " + "; ".join(
            f"{p.title} ({_state(screen, p)})" for p in procedures)
    parts = []
    for p in procedures:
        if p.cleared_at is None and p.opened_at is None:
            parts.append(f"NON-NORMAL PROCEDURE QUEUED: {p.title}: {p.detail} ({open_key} opens it)")
        else:
            keys = f"{dismiss_key} dismisses it, with a reason"
            parts.append(f"NON-NORMAL {p.title}: {_state(screen, p)} ("
                         + (f"{open_key} opens it; {keys})" if p.cleared_at is not None else f"{keys})"))
    return "   ⚠  ".join(parts)


def _state(screen: RunScreen, p: ProcedureStatus) -> str:
    if p.cleared_at is not None:
        # "By itself" only as the record says it: seen, the words said so after the operator had
        # worked the steps that ended it.
        how = "cleared by itself" if p.cleared_by_itself else "cleared"
        return f"its condition {how} at {clock(p.cleared_at)}, {passed_of(screen, p.id)}"
    return "queued" if p.opened_at is None else f"open, {passed_of(screen, p.id)}"


def passed_of(screen: RunScreen, procedure_id: str) -> str:
    steps = screen.engine.procedures.steps(procedure_id)
    done = sum(screen.engine.status(s.id).state in PASSED for s in steps)
    return f"{done} of {len(steps)} steps passed"


def show_banner(screen: RunScreen) -> None:
    screen.set_banner("procedure", banner_text(screen))


def show_in_checklist(screen: RunScreen, status: ProcedureStatus) -> None:
    """The procedure as a section of its own at the top of the checklist pane (its steps N1, N2, ...)."""
    e = screen.engine
    screen.checklist.show_procedure(e.checklist.procedure(status.id), status, e.values, e.checklist.procedure_letter(status.id))
    screen.refresh_tree()


def shown_procedure(screen: RunScreen) -> str | None:
    """The procedure of the step under the cursor, if it is one's."""
    step_id = screen.selected
    return screen.engine.checklist.step(step_id).procedure if step_id is not None else None


def first_open_step(screen: RunScreen, procedure_id: str) -> str | None:
    steps = screen.engine.procedures.steps(procedure_id)
    return next((s.id for s in steps if screen.engine.status(s.id).state not in PASSED), steps[0].id if steps else None)


def open_procedure(screen: RunScreen, procedure_id: str | None = None) -> None:
    """Open a queued procedure (journaled): the first open one, or the next after the one the
    cursor is in when several are open. Its section comes to the top, the cursor on its first
    step not yet passed."""
    from runbook_tui.engine.events import EngineRefusal

    e = screen.engine
    open_ones = [p.id for p in e.procedures.open_ones()]
    if procedure_id is None:
        if not open_ones:
            screen.say("No non-normal procedure is queued.", timeout=4)
            return
        here = shown_procedure(screen)
        procedure_id = open_ones[(open_ones.index(here) + 1) % len(open_ones)] if here in open_ones else open_ones[0]
    try:
        e.procedures.open(procedure_id)
    except EngineRefusal as exc:
        screen.say(str(exc), severity="error")
        return
    status = e.procedures.status(procedure_id)
    assert status is not None  # open() refuses one never queued
    show_in_checklist(screen, status)
    if screen.has_class("narrow"):
        screen.action_pane("checklist")
    else:
        screen.checklist.focus()
    step_id = first_open_step(screen, procedure_id)
    if step_id is not None:
        # Now, not after the next refresh: select_step numbers the new nodes itself, and an `n`
        # pressed again before that refresh found no procedure under the cursor and reopened the
        # first instead of going on to the next (seen under load: the second of two never opened).
        screen.goto_step(step_id)
    show_banner(screen)


async def dismiss(screen: RunScreen) -> None:
    """Set the open procedure aside (the one the cursor is in, else the first open), with a reason."""
    from runbook_tui.ui.step_actions import ask, refused

    e = screen.engine
    open_ones = [p.id for p in e.procedures.open_ones()]
    here = shown_procedure(screen)
    procedure_id = here if here in open_ones else (open_ones[0] if open_ones else None)
    if procedure_id is None:
        screen.say("No non-normal procedure is open.", timeout=4)
        return
    status = e.procedures.status(procedure_id)
    assert status is not None
    # The title in the body, where it wraps: a dialog's title line is cut at 80 columns.
    answer = await ask(screen, dialogs.AskReason(
        "Dismiss a non-normal procedure", screen.session.room, needs_room=False,
        detail=f"{status.title}\nqueued {clock(status.queued_at)}: {status.detail}\n\nIt is set aside, not worked: the "
               "run may then end complete without it. The journal and the report keep why."))
    if answer is None or refused(screen, lambda: e.procedures.dismiss(procedure_id, answer.override_reason)):
        return
    screen.say(f"Procedure dismissed (journaled): {status.title}", timeout=5)


def changed(screen: RunScreen, event: ProcedureChanged) -> None:
    """What the engine posts about a procedure: the banner, its section, the header, a notice."""
    status, what = event.status, event.what
    open_key = key_of(screen, "open_procedure", OPEN_KEY)
    if what == "queued":
        screen.say(f"{status.title}: {status.detail}\n{open_key} opens it.", title="Non-normal procedure queued",
                   severity="error", timeout=15)
    if what == "opened" or status.id in screen.checklist.procedure_nodes:
        # The section's words say opened, worked, dismissed; queued again, its steps to work anew.
        show_in_checklist(screen, status)
    if what == "worked":
        screen.say(f"{status.title}: worked to its end.", title="Non-normal procedure", timeout=8)
    elif what == "cleared" and status.open:
        how = "cleared by itself" if status.cleared_by_itself else "cleared"
        screen.say(f"{status.title}: its condition {how}. Work it to its end, or dismiss it with a reason.",
                   title="Non-normal procedure", severity="warning", timeout=10)
    show_banner(screen)
    screen.finish_if_complete()
    screen.tick()
    screen.refresh_bindings()  # the footer's n is there only while a procedure is open


def hold_changed(screen: RunScreen, event: HoldChanged) -> None:
    """A continuously applicable condition stopped holding, or holds again: said, and in the banner while breached."""
    where = f" (at {screen.step_name(event.step_id)})" if event.step_id else ""
    source = f"hold:{event.procedure or ''}:{event.condition}"
    if event.breached:
        screen.say(f"{event.condition}: {event.detail}{where}", title="No longer holds throughout", severity="error",
                   timeout=10)
        screen.set_banner(source, f"NO LONGER HOLDS THROUGHOUT: {event.condition}: {event.detail}{where}")
    else:
        screen.set_banner(source, None)
        screen.say(f"{event.condition} holds again.", timeout=5)


def procedure_title(screen: RunScreen, procedure_id: str) -> str:
    return substitute(screen.engine.checklist.procedure(procedure_id).title, screen.engine.values)


def raise_from_venue(screen: RunScreen, procedure_id: str, detail: str) -> None:
    """The venue raised this procedure on the room's row and the operator opened it: queued by
    hand (journaled as the venue's), unless the run has it open already, and opened."""
    from runbook_tui.engine.events import EngineRefusal

    procedures = screen.engine.procedures
    status = procedures.status(procedure_id)
    try:
        if status is None or not status.open:
            procedures.queue(procedure_id, detail, source="venue")
    except (EngineRefusal, KeyError) as exc:
        screen.say(f"The procedure raised at the venue could not be queued: {exc}", severity="error", timeout=10)
        return
    open_procedure(screen, procedure_id)
