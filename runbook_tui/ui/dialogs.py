"""Modal dialogs: confirmations matched to the risk, reasons, choices, guard refusals, help,
quit and resume. Each returns its answer through dismiss(); None means cancelled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from runbook_tui.ui.messages import WrongRoomId

if TYPE_CHECKING:  # types only: the help and quit dialogs need none of the engine
    from runbook_tui.checklist.model import Choice
    from runbook_tui.engine.events import ActionPreview
    from runbook_tui.rules.conditions import Verdict
from runbook_tui.ui.step_view import action_text


@dataclass(frozen=True)
class Confirmed:
    typed_room: str | None
    override_reason: str | None = None


class _Dialog(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without doing anything")]
    # app.tcss keeps notices from drawing over a dialog (see .dialog-screen).
    DEFAULT_CLASSES = "dialog-screen"

    # Below this many rows a dialog drops its margins and draws its buttons and inputs one row
    # high. Seen at 80x24: the arming steps' confirmations put Run and Cancel below the screen.
    SHORT_ROWS = 32

    def on_mount(self) -> None:
        if getattr(self.app, "steady", False):
            for box in self.query(Input):
                box.cursor_blink = False
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        short = self.app.size.height < self.SHORT_ROWS
        self.set_class(short, "short")
        for button in self.query(Button):
            button.compact = short
        for box in self.query(Input):
            box.compact = short

    def focus_first(self, selector: str) -> None:
        """Focus the dialog's widget; none when its children are already gone (seen: a dialog's
        mount handled while the app was closing raised NoMatches on its own button)."""
        for widget in self.query(selector):
            widget.focus()
            return

    def action_cancel(self) -> None:
        self.dismiss(None)

    def refuse(self, message: str) -> None:
        """Said inside the dialog, under what was typed: a toast can hide behind a large dialog."""
        errors = self.query("#dialog-error")
        if errors:
            errors.first(Label).update(Text(message, style="bold red"))
        self.app.bell()


class ConfirmRun(_Dialog):
    """Shows exactly what will run and what it affects; risky steps need the room id typed."""

    def __init__(self, preview: ActionPreview, room: str, verb: str = "Run") -> None:
        super().__init__()
        self.preview, self.room, self.verb = preview, room, verb

    def compose(self) -> ComposeResult:
        p = self.preview
        with Vertical(classes="dialog" + (" risky" if p.needs_typed_room else "")):
            yield Label(f"{self.verb}: {p.title}", classes="dialog-title")
            if p.already:  # a second confirmation for a decided step must not look like the first
                yield Label(Text(p.already, style="bold yellow"), id="already")
            yield VerticalScroll(Static(action_text(p, guard_note="checked the moment you confirm")), classes="dialog-body")
            if p.needs_typed_room:
                yield Label(Text(f"This step is {p.risk.value}. Type the room id ({self.room}) to confirm:", style="bold red"))
                yield Input(placeholder="type the room id here", id="typed-room")
                yield Label("", id="dialog-error")
            else:
                yield Label("Enter confirms, Esc cancels.")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.verb, variant="error" if p.needs_typed_room else "primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        if self.preview.needs_typed_room:
            self.focus_first("#typed-room")
        else:
            self.focus_first("#ok")

    @on(Input.Submitted, "#typed-room")
    @on(Button.Pressed, "#ok")
    def confirm(self) -> None:
        if not self.preview.needs_typed_room:
            self.dismiss(Confirmed(None))
            return
        typed = self.query_one("#typed-room", Input).value.strip()
        if typed != self.room:
            if typed:
                self.app.post_message(WrongRoomId(self.preview.step_id))
            self.refuse(f"{typed} is not the room id ({self.room}). Nothing was run." if typed else
                        f"Type the room id ({self.room}) first. Nothing was run.")
            return
        self.dismiss(Confirmed(typed))

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


class AskReason(_Dialog):
    """A reason for a skip, a deferral or an override (which also takes the room id)."""

    def __init__(self, title: str, room: str, needs_room: bool, detail: str | Text = "", what: str = "the override") -> None:
        super().__init__()
        self.title_text, self.room, self.needs_room, self.detail, self.what = title, room, needs_room, detail, what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog" + (" risky" if self.needs_room else "")):
            yield Label(self.title_text, classes="dialog-title")
            if self.detail:
                yield VerticalScroll(Static(self.detail), classes="dialog-body")
            yield Label("Reason (recorded in the journal and the report):")
            yield Input(id="reason")
            if self.needs_room:
                yield Label(Text(f"Type the room id ({self.room}) to confirm {self.what}:", style="bold red"))
                yield Input(placeholder="type the room id here", id="typed-room")
            yield Label("", id="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Record", variant="warning", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.focus_first("#reason")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def confirm(self, event: Input.Submitted | Button.Pressed) -> None:
        if isinstance(event, Input.Submitted) and event.input.id == "reason" and self.needs_room:
            self.query_one("#typed-room", Input).focus()
            return
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.refuse("A reason is required.")
            self.query_one("#reason", Input).focus()
            return
        typed = self.query_one("#typed-room", Input).value.strip() if self.needs_room else None
        if self.needs_room and typed != self.room:
            self.refuse(f"That is not the room id ({self.room}). Nothing was recorded.")
            return
        self.dismiss(Confirmed(typed, reason))

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


class ChooseOption(_Dialog):
    def __init__(self, choice: Choice, current: str) -> None:
        super().__init__()
        self.choice, self.current = choice, current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.choice.prompt, classes="dialog-title")
            options = [Option(Text.assemble((f"{o.label}\n", "bold"), (o.text, "dim")), id=key)
                       for key, o in self.choice.options.items()]
            yield OptionList(*options, id="options")
            yield Label("Enter chooses, Esc cancels.")

    def on_mount(self) -> None:
        for options in self.query(OptionList):
            options.highlighted = list(self.choice.options).index(self.current)
            options.focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class GuardRefusedDialog(_Dialog):
    """A guard refused a step: what was sensed, what the guard protects against, and the way to
    run the step despite it (which names that consequence again, with the room id and a reason)."""

    def __init__(self, step_title: str, failures: list[Verdict], room: str, consequences: list[str] | None = None) -> None:
        super().__init__()
        self.step_title, self.failures, self.room = step_title, failures, room
        self.consequences = consequences or []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog risky"):
            yield Label(f"Guard refused: {self.step_title}", classes="dialog-title")
            body = Text("Nothing was changed. Sensed just now:\n\n")
            for f in self.failures:
                body.append(f"✗ {f.condition}\n", style="bold red")
                body.append(f"  {f.detail}\n")
            if self.consequences:
                body.append("\nRunning it despite the guard risks:\n", style="bold")
                for c in self.consequences:
                    body.append(f"  {c}\n", style="bold red")
            yield VerticalScroll(Static(body), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="close")
                yield Button("Run despite the guard…", variant="error", id="override")

    def on_mount(self) -> None:
        self.focus_first("#close")

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#override")
    def override(self) -> None:
        self.dismiss("override")


class QuitDialog(_Dialog):
    """Asked on quit while a command runs. It follows the command: if it ends while the operator
    reads, the dialog says so rather than naming a step that is no longer running."""

    def __init__(self, running: str, still_running: Callable[[], bool]) -> None:
        super().__init__()
        self.running = running
        self.still_running = still_running

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog risky"):
            yield Label(f"{self.running} is still running.", classes="dialog-title", id="quit-title")
            yield Label("Quit anyway? Its command is stopped (TERM, then KILL); the journal keeps the run.", id="quit-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stay", variant="primary", id="stay")
                yield Button("Stop it and quit", variant="error", id="quit")

    def on_mount(self) -> None:
        self.focus_first("#stay")
        self._follow = self.set_interval(0.25, self._check)

    def _check(self) -> None:
        if self.still_running():
            return
        self._follow.stop()
        self.query_one("#quit-title", Label).update(f"{self.running} has finished.")
        self.query_one("#quit-text", Label).update("Nothing is running now. Quit? The journal keeps the run.")
        self.query_one("#quit", Button).label = "Quit"
        self.query_one(".dialog").remove_class("risky")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit")


class ResumeDialog(ModalScreen):
    BINDINGS = [Binding("escape", "resume", "Resume")]

    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("An unfinished run was found", classes="dialog-title")
            yield Static(self.description)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Resume it", variant="primary", id="resume")
                yield Button("Start a new run", id="new")

    def on_mount(self) -> None:
        for button in self.query("#resume"):  # none when mounted as the app closes (seen: NoMatches)
            button.focus()

    def action_resume(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "resume")


def resume_question(unfinished, older: list) -> ResumeDialog:
    """Resume the room's unfinished run (session.UnfinishedRun)? Older ones are named, never lost."""
    import time

    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(unfinished.started))
    last = time.strftime("%H:%M:%S", time.localtime(unfinished.last_activity))
    drill = f"Drill {unfinished.drill}, trainee {unfinished.operator}.\n" if unfinished.drill else ""
    passed = f"{unfinished.steps_passed} step{'' if unfinished.steps_passed == 1 else 's'} passed"
    # Not offered here, never lost: each older unfinished run reopens by name.
    also = (f"\n\nOlder unfinished run{'s' if len(older) > 1 else ''}, not offered here: "
            f"{', '.join(p.name for p in older)}. Quit and reopen one with: runbook-tui --resume JOURNAL"
            if older else "")
    return ResumeDialog(f"{drill}{unfinished.journal.name}\nstarted {when}, last activity {last}, "
                        f"{passed}.\n\nResuming reconciles it with the live room first.{also}")


LAB_ONLY_HELP = "  F            trainer: inject a drill fault (lab only)\n"
HELP = """\
[b]runbook-tui[/b]: the v8 warm-standby runbook, step by step, proved
against the live room. The tool never acts by itself: every change
starts with your confirmation.

[b]Moving[/b]
  ↑ ↓  j k     select a step
  1 2 3        checklist / step / live pane (narrow screens)
  tab          next pane
  [ ]          previous / next live tab

[b]Acting on the selected step[/b]
  r  Enter     run it: shows exactly what runs and what it affects,
               then asks (destructive and arming steps: the room id)
  d            mark an open-loop step done (your confirmation); a
               step marked (at the room) waits for the person there
  s            skip it (with a reason)
  f            defer it (with a reason)
  o            mark it done without evidence (room id + reason)
  a            acknowledge: the selected step's evidence that no
               longer holds (with a reason), or the run's alarms
  x            cancel the running command (TERM, then KILL)

[b]Non-normal procedures[/b] (queued when the room falls into a
condition the runbook has a procedure for; the banner names it)
  n            open it: its steps at the top of the checklist, worked
               with the keys above; again: the next one queued
  N            dismiss it, with a reason (while one is open the run
               cannot end complete)

[b]Live panel[/b]
  p            pause / resume the MQTT traffic (still counted)
  /            filter topics (Enter applies, Esc leaves)

[b]Run[/b]
  e            export the after-action report and printable checklist
  w            the floor view: its link and QR code for a phone at the
               room (the person there confirms the steps marked "at
               the room"); start it, or close it
""" + LAB_ONLY_HELP + """\
  ctrl+p       command palette
  ?            this help
  q  ctrl+q    quit (asks first while a command runs)

Closed-loop steps (commands with 'done when', waits) turn done by
themselves on sensed evidence, which the step pane shows. When that
evidence stops holding, the step says NO LONGER HOLDS and the run
cannot end complete until it holds again, is run again, or is
acknowledged. A guard that refuses a step says what it protects
against; "Run despite the guard" takes the room id and a reason.
Alarms (dual control) stay in the header until acknowledged.
Skips, deferrals and overrides stay visible; the run ends
'complete' or 'complete except deferred items', naming any alarm.
Everything goes to the journal.
"""


class HelpScreen(_Dialog):
    BINDINGS = [Binding("escape,q,question_mark", "cancel", "Close")]

    def __init__(self, text: str = HELP) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield VerticalScroll(Static(Text.from_markup(self.text)))
            yield Label("Esc closes.", classes="dim")


class ChecklistChooser(_Dialog):
    """The venue view's Enter on a room: its checklists, each saying whether an unfinished run
    of it is waiting (opening it offers that run)."""

    def __init__(self, room: str, offers: list) -> None:
        super().__init__()
        self.room, self.offers = room, offers

    def compose(self) -> ComposeResult:
        import time

        options = []
        for index, offer in enumerate(self.offers):
            if offer.error:
                options.append(Option(Text.assemble((f"{offer.path.name}\n", "bold"), (f"does not load: {offer.error}", "red")),
                                      id=str(index), disabled=True))
                continue
            run = offer.unfinished
            passed = f"{run.steps_passed} step{'' if run.steps_passed == 1 else 's'} passed" if run else ""
            said = (f"unfinished run from {time.strftime('%Y-%m-%d %H:%M', time.localtime(run.started))}, "
                    f"{passed}{f' (drill {run.drill})' if run.drill else ''}: offered when opened"
                    if run else "no unfinished run")
            options.append(Option(Text.assemble((f"{offer.name} {offer.revision}\n", "bold"), (said, "yellow" if run else "dim")),
                                  id=str(index)))
        with Vertical(classes="dialog"):
            yield Label(Text(f"Open a checklist for {self.room}"), classes="dialog-title")
            yield OptionList(*options, id="options")
            yield Label("Enter opens, Esc goes back to the venue.")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.offers[event.option_index])  # the options are the offers, in order
