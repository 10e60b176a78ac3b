"""The floor view: the room's current run as the person standing in the room sees it, on a
phone (served to the browser by textual-serve, one process per connection; see floor_server).

It reads the run's journal and nothing else, so it shows no secret, no command and no
variable, and it survives the console's restart (it follows the room's open run, whichever
console writes it). The only thing it can do is confirm, by name, the steps the checklist
leaves to the person at the room; the confirmation goes to the run's inbox, and the console,
the journal's one writer, takes it. Run: python -m runbook_tui.ui.floor_app --runs-dir D --room R
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from runbook_tui.engine.floor import (
    HEARTBEAT_STALE_S,
    FloorState,
    FloorStep,
    console_seen,
    room_floor_state,
    send_confirmation,
    withdraw_confirmation,
)
from runbook_tui.engine.replay import RoomConfirmation, not_taken

GLYPHS = {"pending": "○", "running": "◐", "done": "✓", "failed": "✗", "skipped": "–", "deferred": "»", "overridden": "!"}
LAPSED = "⚠"  # done, and its evidence no longer holds
POLL_S = 0.5


class FloorApp(App):
    TITLE = "runbook-tui floor view"
    CSS = """
    Screen { layout: vertical; }
    #head { background: $primary; color: $text; padding: 0 1; }
    #alarms { background: $error; color: $text; padding: 0 1; display: none; }
    #name { margin: 0 0; }
    #steps { height: 1fr; }
    .step { padding: 0 1; }
    .step-done { color: $success; }
    .step-failed { color: $error; }
    .confirm { width: 100%; margin: 0 1; }
    #said { padding: 0 1; color: $warning; }
    .procedure { background: $error; color: $text; padding: 0 1; margin: 0 0 1 0; }
    #foot { padding: 0 1; color: $text-muted; }
    """

    def __init__(self, runs_dir: Path, room: str) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.room = room
        self.state: FloorState | None = None
        self.sent: dict[str, RoomConfirmation] = {}  # step -> what this view sent, until the console decides on it
        self._sent_in: Path | None = None  # the run those confirmations were sent in
        self._shown_key: object = object()  # nothing shown yet: the first poll always draws
        self._at: str | None = None  # the step the view last scrolled to

    def compose(self) -> ComposeResult:
        yield Static(f"Room {escape(self.room)}: looking for its run…", id="head")
        yield Static("", id="alarms")
        yield Input(placeholder="Your name (it goes in the record)", id="name", max_length=40)
        yield VerticalScroll(id="steps")
        yield Static("", id="said")
        yield Static("", id="foot")

    async def on_mount(self) -> None:
        await self.refresh_state()
        self.set_interval(POLL_S, self.refresh_state)

    async def refresh_state(self) -> None:
        if not self.is_running:  # the page is being taken down: its widgets are going or gone
            return
        try:
            await self._refresh_state()
        except NoMatches:
            # A poll that was drawing as the page was taken down (its widgets pruned meanwhile, seen
            # under load): nothing left to draw on. While the page runs, a missing widget is a fault.
            if self.is_running:
                raise

    async def _refresh_state(self) -> None:
        try:
            state = room_floor_state(self.runs_dir, self.room)
        except (OSError, StopIteration, KeyError, ValueError):
            state = None  # a journal being created: the next poll reads it
        self.state = state
        said = self._follow(state)
        self.query_one("#foot", Static).update(self._foot(state))
        key = (state.journal, state.steps, state.procedures, state.alarms, state.last_dispatch, state.ended, state.outcome,
               tuple(sorted(self.sent))) if state else None
        if key != self._shown_key:
            self._shown_key = key
            await self.show(state, said)
        elif said is not None:
            self.query_one("#said", Static).update(said)

    def _follow(self, state: FloorState | None) -> str | None:
        """What this view sent, against the run: a new run of the room starts with nothing sent
        (the last run's "waiting for the console" is not this one's); a confirmation the console
        can no longer take (another person's came first, or the step was decided) is taken back
        out of the inbox, and what to say of it (with why) returned. None: what is said stays."""
        said = None
        journal = state.journal if state is not None else None
        if journal != self._sent_in:
            if self.sent:
                said = ""
            self.sent, self._sent_in = {}, journal
            return said
        if state is None or state.run is None:
            return None
        for step_id, confirmation in list(self.sent.items()):
            if confirmation.id in state.run.room_confirmation_ids:
                del self.sent[step_id]  # taken: the step now says who confirmed it
            elif why := not_taken(state.run, confirmation.id, step_id):
                del self.sent[step_id]
                withdraw_confirmation(state.journal, confirmation)
                number = next((s.number for s in state.steps if s.id == step_id), step_id)
                said = (f"[b]Not taken[/b]: your confirmation of step {number} ({escape(confirmation.name)}): "
                        f"{escape(why)}.")
        return said

    def _foot(self, state: FloorState | None) -> str:
        if state is None:
            return f"No run of {escape(self.room)} yet: this view shows it once the console opens one."
        seen = console_seen(state.journal)
        if seen is not None and time.time() - seen <= HEARTBEAT_STALE_S:
            return "The console is open on this run."
        since = time.strftime("%H:%M:%S", time.localtime(seen or state.last_record))
        return (f"[b]The console is not open on this run[/b] (last seen {since}). This view keeps following it; "
                "confirmations wait for the console.")

    async def show(self, state: FloorState | None, said: str | None = None) -> None:
        """The run's steps drawn again; `said` (what _follow has to say, None: nothing new) is said
        between the old steps going and the new ones coming. Seen otherwise: a refusal stood under
        its step's old "waiting for the console", or a new run's button beside the last run's "Sent
        as", while the steps were taken down and mounted again."""
        head = self.query_one("#head", Static)
        alarms = self.query_one("#alarms", Static)
        steps = self.query_one("#steps", VerticalScroll)
        kept_y = steps.scroll_y  # where the person had scrolled: kept across the redraw
        await steps.remove_children()  # gone before the new ones (same ids) are mounted
        if said is not None:
            self.query_one("#said", Static).update(said)
        if state is None:
            head.update(f"Room {escape(self.room)}: no run yet")
            alarms.display = False
            return
        # A blind drill says DRILL only: the phone is in the trainee's hand.
        drill = "" if state.drill is None else " · DRILL" + (f" {escape(state.drill)}" if state.drill else "")
        # The outcome as the console's header says it (one replay of the journal for both).
        head.update(f"[b]{escape(state.room)}[/b] · {escape(state.checklist)}{drill}\n"
                    f"operator {escape(state.operator)} · " + escape(state.ended or state.outcome))
        alarms.display = bool(state.alarms)
        alarms.update("\n".join(f"ALARM {escape(a)}" for a in state.alarms))
        widgets: list[Widget] = []
        # A non-normal procedure with a step for the room comes first: what to do now.
        for procedure in state.procedures:
            widgets.append(Static(f"[b]NON-NORMAL PROCEDURE[/b]: {escape(procedure.title)}\n{escape(procedure.detail)}",
                                  classes="procedure", id=f"procedure-{procedure.id}"))
            widgets += self._step_widgets(procedure.steps, procedure.letter)
        widgets += self._step_widgets(state.steps, "")
        if state.last_dispatch:
            widgets.append(Static(f"Last smoke test {escape(state.last_dispatch)}", classes="step"))
        await steps.mount_all(widgets)
        # A long checklist on a small screen: keep where the run is in sight (the room's button
        # first), moving there only when that changes, so that a person scrolling is not pulled back.
        every = [s for p in state.procedures for s in p.steps] + list(state.steps)
        at = next((s.id for s in every if self._confirmable(s)), None) or next(
            (s.id for s in state.steps if s.state in ("pending", "failed", "running")), None)
        if at is not None and at != self._at:
            self._at = at
            self.call_after_refresh(steps.scroll_to_widget, self.query_one(f"#step-{at}"), top=True, animate=False)
        else:
            self.call_after_refresh(steps.scroll_to, y=kept_y, animate=False)

    def _step_widgets(self, steps: tuple[FloorStep, ...], prefix: str) -> list[Widget]:
        """Each step's line and, when the room may confirm it now, its button (a procedure's steps with its letter: A1, A2, ...)."""
        widgets: list[Widget] = []
        for step in steps:
            glyph = LAPSED if step.lapse else GLYPHS.get(step.state, "?")
            line = f"{glyph} {prefix}{step.number}. {escape(step.title)}"
            if step.lapse:  # as the console shows it: done, and its evidence no longer holds
                line += f"\n   [b]NO LONGER HOLDS[/b]: {escape(step.lapse)}"
            if step.confirmed_by:
                if step.confirmed_by not in step.detail:
                    line += f"\n   confirmed at the room by {escape(step.confirmed_by)}"
            elif step.id in self.sent:
                line += f"\n   sent {time.strftime('%H:%M:%S', time.localtime(self.sent[step.id].at))}: waiting for the console"
            elif step.confirm_at_room and step.state not in ("done", "skipped", "overridden"):
                line += ("\n   [b]to be confirmed here[/b]" if step.reached else
                         "\n   to be confirmed here once the run reaches it")
            if step.detail and not step.lapse:
                line += f"\n   {escape(step.detail)}"
            widgets.append(Static(line, classes=f"step step-{step.state}", id=f"step-{step.id}"))
            if self._confirmable(step):
                widgets.append(Button(f"I confirm step {prefix}{step.number}", id=f"confirm-{step.id}", classes="confirm",
                                      variant="warning"))
        return widgets

    def _confirmable(self, step) -> bool:
        return (step.confirm_at_room and step.reached and not step.confirmed_by and step.id not in self.sent
                and step.state in ("pending", "failed") and self.state is not None and not self.state.ended)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        button_id = event.button.id or ""
        if not button_id.startswith("confirm-") or self.state is None:
            return
        step_id = button_id.removeprefix("confirm-")
        name = self.query_one("#name", Input).value
        said = self.query_one("#said", Static)
        try:
            confirmation = send_confirmation(self.state.journal, step_id, name)
        except ValueError as exc:
            said.update(escape(str(exc)))
            self.query_one("#name", Input).focus()
            return
        except OSError as exc:
            said.update(f"Not sent: {escape(exc.strerror or str(exc))}")
            return
        self.sent[step_id] = confirmation
        self._sent_in = self.state.journal
        said.update(f"Sent as {escape(confirmation.name)}; the console takes it within a second or two.")
        await self.refresh_state()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runbook_tui.ui.floor_app")
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--room", required=True)
    args = parser.parse_args(argv)
    FloorApp(args.runs_dir, args.room).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
