"""What the person at the room sends from the floor view, taken into the open run."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runbook_tui.ui.run_screen import RunScreen


def take_confirmations(screen: RunScreen) -> None:
    """Confirmations sent from the floor view: each is journaled once by the engine (the
    console is the journal's one writer); the operator is told, and confirms after them."""
    from runbook_tui.engine.floor import console_alive, read_confirmations

    engine = screen.engine
    console_alive(engine.journal.path)  # the floor view says so when this stops
    seen = engine.room_confirmation_ids() | screen.room_refused
    for confirmation in read_confirmations(engine.journal.path, seen):
        if why := engine.receive_room_confirmation(confirmation):
            screen.room_refused.add(confirmation.id)  # said once, not taken, never read again
            screen.say(f"A confirmation from the room by {confirmation.name} was not taken: {why}",
                       title="From the room", severity="warning", timeout=8)
            continue
        screen.say(f"{screen.step_name(confirmation.step)}: confirmed at the room by {confirmation.name}. "
                   "d confirms it as the operator.", title="From the room", timeout=12)
        screen.show_selected()
