"""The run on screen: one room's checklist, the selected step and the live panel, once the
session has opened and the run's engine has started (the app pushes it; before it, the
opening screen of `panes.py` stands in its place).

It owns the panes' contents, the selection, the header's words, the banner and what the
engine and the watcher post. What each key does to a step is in `step_actions.py`, the
trainer's keys in `trainer.py`.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import on
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import TabbedContent, Tree

from runbook_tui.engine import events as engine_events
from runbook_tui.engine.replay import outcome_words
from runbook_tui.engine.states import StepState
from runbook_tui.rules.outcome import alarm_words
from runbook_tui.ui import procedure_actions, room_inbox, step_actions, trainer
from runbook_tui.ui.checklist_view import ChecklistView
from runbook_tui.ui.commands import StepCommands
from runbook_tui.ui.live_view import LiveView
from runbook_tui.ui.messages import (
    ContainersChanged,
    DnsAnswered,
    EngineEvent,
    MqttBatchArrived,
    RoomObserved,
    WrongRoomId,
)
from runbook_tui.ui.panes import PanesScreen
from runbook_tui.ui.step_view import StepView
from runbook_tui.ui.typeahead import ACTIONS_AT_ONCE

if TYPE_CHECKING:
    from collections.abc import Callable

    from runbook_tui.engine.run import RunEngine
    from runbook_tui.session import Session


class RunScreen(PanesScreen):
    COMMANDS = {StepCommands}
    # Each key has an id: a site's [keys] table rebinds it by that id (settings.keymap, App.set_keymap).
    BINDINGS = [
        # First: while a procedure the room queued is open, its key leads the footer (hidden otherwise, check_action).
        Binding("n", "open_procedure", "Non-normal", tooltip="Open the non-normal procedure the room queued",
                id="open_procedure"),
        Binding("r,enter", "step('run')", "Run", tooltip="Run the selected step (you confirm first)", id="run"),
        Binding("d", "step('mark_done')", "Done", tooltip="Mark an open-loop step done", id="mark_done"),
        Binding("s", "step('skip')", "Skip", tooltip="Skip the selected step, with a reason", id="skip"),
        Binding("f", "step('defer')", "Defer", tooltip="Defer the selected step, with a reason", id="defer"),
        Binding("o", "step('override')", "No-evidence", tooltip="Mark the step done without evidence (room id and reason)",
                id="override"),
        Binding("a", "step('acknowledge')", "Ack", show=False,
                tooltip="Acknowledge the step's evidence that no longer holds, or the run's alarms", id="acknowledge"),
        Binding("x", "step('cancel_step')", "Cancel cmd", tooltip="Stop the running command", id="cancel_step"),
        # The app's own, here too so that the footer keeps them before the live panel's keys.
        Binding("question_mark", "app.help", "Help", tooltip="Keys and what they do", id="help"),
        Binding("q", "app.quit_app", "Quit", tooltip="Quit (asks if a command runs)", id="quit"),
        Binding("p", "pause", "Pause MQTT", tooltip="Pause the traffic log (messages are still counted)", id="pause"),
        # The same key, shown instead of the one above while the log is paused (check_action).
        Binding("p", "resume_traffic", "Resume MQTT", tooltip="Resume the traffic log", id="resume_traffic"),
        Binding("slash", "filter", "Filter", show=False, tooltip="Filter MQTT topics", id="filter"),
        Binding("e", "step('export')", "Export", tooltip="Write the after-action report and printable checklist", id="export"),
        Binding("w", "floor", "Floor view", show=False,
                tooltip="The floor view: the run on a phone at the room, where the person there confirms", id="floor"),
        Binding("1", "pane('checklist')", "Checklist", show=False, id="pane_checklist"),
        Binding("2", "pane('step')", "Step", show=False, id="pane_step"),
        Binding("3", "pane('live')", "Live", show=False, id="pane_live"),
        Binding("left_square_bracket", "live_tab(-1)", "Prev tab", show=False, id="prev_tab"),
        Binding("right_square_bracket", "live_tab(1)", "Next tab", show=False, id="next_tab"),
        Binding("N", "step('dismiss_procedure')", "Dismiss proc", show=False,
                tooltip="Dismiss the open non-normal procedure, with a reason", id="dismiss_procedure"),
        Binding("F", "inject_fault", "Inject fault", show=False, tooltip="Trainer: inject a drill fault (lab only)",
                id="inject_fault"),
    ]

    def __init__(self, session: Session, engine: RunEngine, *, clock: Callable[[], float]) -> None:
        super().__init__()
        self.session = session
        self.engine = engine
        self.clock = clock
        self.checklist = ChecklistView(id="checklist")
        self.live = LiveView(id="live")
        self.finished = False
        self.asking = False  # a step action is asking (its dialog pushed or about to be): no second one
        self.last_run: str | None = None  # the step the operator last ran (its result is said when it ends)
        self._sensed: list[str] = []  # steps ticked on evidence, not yet said in a notice
        self._sensed_cursor: str | None = None  # the selected step when those ticks came
        # (role, why) of .env files said not read: those the opening found are said already (the app)
        self.said_unreadable: set[tuple[str, str]] = {(role, str(refused.strerror)) for role, refused in session.unreadable}
        self.room_refused: set[str] = set()  # floor confirmations not taken (the step was already decided)

    def panes(self) -> tuple[Widget, Widget, Widget]:
        return self.checklist, StepView(id="step"), self.live

    def apply_layout(self) -> None:
        super().apply_layout()
        procedure_actions.show_banner(self)  # its words depend on the width: one line for all at 80x24

    def on_mount(self) -> None:
        super().on_mount()
        e = self.engine
        self.checklist.load(e.checklist, e.statuses, e.choices, e.values, e.lapses)
        for status in e.procedures.queued():  # a resumed run's procedures, as its journal left them
            if status.opened_at is not None:
                self.checklist.show_procedure(e.checklist.procedure(status.id), status, e.values,
                                              e.checklist.procedure_letter(status.id))
        if self.checklist.procedure_nodes:
            self.refresh_tree()
        procedure_actions.show_banner(self)
        self.show_alarms()  # a resumed run's alarm not yet acknowledged stays in the banner, as in the header
        self.checklist.focus()
        first = next((s for s in e.applicable_steps() if e.status(s.id).state is StepState.PENDING), None)
        if first is not None:
            # The tree lays out its new nodes on the next refresh; move the cursor after it.
            self.call_after_refresh(self.goto_step, first.id)
        self.tick()  # the header in its final form from the first frame on
        self.set_interval(1.0, self.tick)
        if self.session.settings.lab:
            self.set_interval(1.0, partial(trainer.journal_faults, self))
        self.set_interval(1.0, partial(room_inbox.take_confirmations, self))

    def say(self, message: str, **kwargs) -> None:
        """A notice in plain words (the engine's, the room's, the checklist's: never markup)."""
        self.app.notify(escape(message), **kwargs)

    # ---- selection and naming --------------------------------------------------------------
    @property
    def selected(self) -> str | None:
        return self.checklist.selected_step if self.checklist.is_attached else None

    def goto_step(self, step_id: str) -> None:
        self.checklist.select_step(step_id)

    @on(Tree.NodeHighlighted, "#checklist")
    def show_selected(self) -> None:
        step_id, e = self.selected, self.engine
        if step_id is None or not self.is_attached:
            return
        step = e.checklist.step(step_id)
        self.query_one(StepView).show(step, e.status(step_id), e.preview(step_id), e.values, step.applies(e.choices),
                                      e.lapses.get(step_id), e.room_confirmations.get(step_id))

    def refresh_tree(self) -> None:
        e = self.engine
        self.checklist.refresh_steps(e.checklist, e.statuses, e.choices, e.values, e.lapses)
        self.show_selected()

    def select_next(self, step_id: str) -> None:
        procedure = self.engine.checklist.step(step_id).procedure if step_id in self.engine.statuses else None
        # A procedure's step moves the cursor on within its procedure.
        steps = list(self.engine.procedures.steps(procedure)) if procedure else self.engine.applicable_steps()
        ids = [s.id for s in steps]
        if self.selected != step_id or step_id not in ids:
            return
        for later in steps[ids.index(step_id) + 1:]:
            # A failed step waits to be run again: the cursor stops there, not past it.
            if self.engine.status(later.id).state in (StepState.PENDING, StepState.FAILED):
                self.goto_step(later.id)
                return

    def step_name(self, step_id: str) -> str:
        """As the checklist numbers it, never by id."""
        if step_id not in self.engine.statuses:
            return step_id
        number = self.checklist.numbers.get(step_id) or self.checklist.procedure_numbers.get(step_id)
        title = self.engine.preview(step_id).title
        return f"{number}. {title}" if number else title

    def steps_named(self, step_ids: list[str]) -> str:
        numbers = self.checklist.numbers
        if len(step_ids) <= 2 or not all(s in numbers for s in step_ids):
            return "; ".join(self.step_name(s) for s in step_ids)
        listed = [str(n) for n in sorted(numbers[s] for s in step_ids)]  # in the checklist's order
        return "steps " + ", ".join(listed[:-1]) + " and " + listed[-1]

    # ---- the header and the banner -----------------------------------------------------------
    def tick(self) -> None:
        app, e = self.app, self.engine
        if app.screen is self and app.run_screen is self:  # pushed: the app's run
            if self.has_class("narrow") != self.is_narrow():
                self.apply_layout()  # a resize while a dialog was on top never reached the panes: catch up now
            app.release_typeahead(replay=True)  # if a dialog took the first release along
        elapsed = max(0, int(self.clock() - e.started_at))
        result = e.outcome()
        outcome = outcome_words(result, self.checklist.numbers)  # the phone's words too: one rule for both
        if e.active_alarms:
            outcome = "⚠ " + " ".join(a.kind.replace("_", " ").upper() for a in e.active_alarms) + " · " + outcome
        elif e.alarms_unacknowledged:
            # An alarm of this run stays in the header until the operator acknowledges it (a);
            # short, so that 80 columns still show it (the banner says when and what).
            spans = [a for a in result.alarms if a.ended is not None]
            lasted = sum(a.ended - a.started for a in spans if a.ended is not None)
            kinds = " ".join(dict.fromkeys(a.kind.replace("_", " ") for a in spans))
            outcome = f"⚠ {kinds} {max(1, round(lasted))} s (a: ack) · " + outcome
        running = ""
        if e.running_step:
            number = self.checklist.numbers.get(e.running_step)
            running = f" · running step {number}" if number else f" · running {e.running_step}"
        # What matters under stress first: time, state, what runs; the checklist's name last.
        app.sub_title = (f"{elapsed // 3600:02d}:{elapsed % 3600 // 60:02d}:{elapsed % 60:02d} · {outcome}{running} · "
                         f"{e.checklist.name} {e.checklist.revision}")

    def show_alarms(self) -> None:
        """The banner says what alarm is raised now; one that ended stays until acknowledged."""
        if not self.is_attached:
            return
        raised = self.engine.active_alarms
        text = "   ".join(f"{a.kind.replace('_', ' ').upper()}: {a.reason}" for a in raised)
        if not raised and self.engine.alarms_unacknowledged:
            text = ("ALARM IN THIS RUN: " + alarm_words(self.engine.outcome().alarms, self.clock())
                    + "   (a acknowledges)")
        self.set_banner("alarm", text or None)
        self.tick()

    # ---- what the engine and the watcher post ------------------------------------------------
    @on(EngineEvent)
    def engine_event(self, message: EngineEvent) -> None:
        event = message.event
        if isinstance(event, engine_events.StepOutput):
            self.query_one(StepView).add_output(event.step_id, event.line)
        elif isinstance(event, engine_events.StepChanged):
            self.refresh_tree()
            if self.engine.checklist.step(event.step_id).procedure in self.engine.procedures.by_id:
                procedure_actions.show_banner(self)  # "N of M steps passed" follows its steps
            self.finish_if_complete()
            self.tick()  # the header says what runs now, not a second later
            self.refresh_bindings()  # "x Cancel" is in the footer only while something runs
            if event.status.state is StepState.FAILED:
                self.say(f"{self.step_name(event.step_id)} failed: {event.status.reason}", severity="error", timeout=10)
            elif event.status.state is StepState.DONE and event.step_id == self.last_run:
                # The cursor moves on to the next step; what this one proved stays in sight a while.
                proof = "; ".join(event.status.evidence[-2:]) or event.status.reason
                self.say(f"{self.step_name(event.step_id)}: done" + (f"\n{proof}" if proof else ""), timeout=8)
        elif isinstance(event, engine_events.LapseChanged):
            self.refresh_tree()
            self.finish_if_complete()  # acknowledging (or the evidence holding again) may end the run
            self.tick()
            if event.news and event.lapse is not None and not event.lapse.acknowledged:
                # Short-lived: the checklist line, the step pane and the header keep saying it while it lasts.
                self.say(f"{self.step_name(event.step_id)}: no longer holds: {event.lapse.detail}", title="Evidence lost",
                         severity="error", timeout=6)
        elif isinstance(event, engine_events.StepSensed):
            self.sensed(event.step_id)
        elif isinstance(event, engine_events.AlarmChanged):
            self.show_alarms()
        elif isinstance(event, engine_events.ProcedureChanged):
            procedure_actions.changed(self, event)
        elif isinstance(event, engine_events.HoldChanged):
            procedure_actions.hold_changed(self, event)

    def finish_if_complete(self) -> None:
        if self.finished:
            return
        outcome = self.engine.outcome()
        # One rule decides (rules.outcome): every step decided, optional ones included, no lapsed evidence.
        if outcome.finished:
            self.finished = True
            self.engine.finish()
            extra = f": deferred {', '.join(outcome.deferred)}" if outcome.deferred else ""
            self.say(f"Run {outcome.text()}{extra}. e exports the after-action report.", title="Checklist", timeout=20)

    @on(RoomObserved)
    def room_observed(self, message: RoomObserved) -> None:
        """The room changed: the run judges it by the rules (ticks, lapses, alarms, all journaled)."""
        if not self.live.is_attached:
            return
        obs = message.observation
        # A stack's .env the tool will not read (a FIFO, past its cap) is said once, with why:
        # its values are missing from every panel and rule until it is fixed.
        for stack in obs.files.stacks if obs.files is not None else ():
            if stack.env_error and (stack.role, stack.env_error) not in self.said_unreadable:
                self.said_unreadable.add((stack.role, stack.env_error))
                self.say(f"The {stack.role} stack's .env is not read: {stack.env_error}", severity="error", timeout=30)
        self.engine.observe(obs)  # what it changes comes back as engine events (StepSensed, LapseChanged, ...)

    def sensed(self, step_id: str) -> None:
        """The engine ticked a step on evidence (StepSensed)."""
        self.refresh_tree()
        # The room's parts arrive one by one (each stack, DNS, the brokers): ticks that come
        # within a moment of each other are said in one notice, not one each.
        if not self._sensed:
            self._sensed_cursor = self.selected  # where the operator was when the ticks came
            self.set_timer(0.8, self._say_sensed)
        if step_id not in self._sensed:
            self._sensed.append(step_id)

    def _say_sensed(self) -> None:
        done, self._sensed = self._sensed, []
        if not done or not self.is_attached:
            return  # nothing to say, or the app is closing (its screen is being taken down)
        self.say("Done on sensed evidence: " + self.steps_named(done), timeout=6)
        selected = self.selected
        if selected in done and selected == self._sensed_cursor and self.engine.status(selected).state is StepState.DONE:
            # The step under the cursor was just ticked: the operator's place is the next open step.
            # Only then: a cursor the operator moved meanwhile (to a lapse, say) stays where it was put.
            self.select_next(selected)

    @on(ContainersChanged)
    @on(DnsAnswered)
    @on(MqttBatchArrived)
    def live_part(self, message: ContainersChanged | DnsAnswered | MqttBatchArrived) -> None:
        # A probe's last message, already on its way as the screen is taken down at quit, must not fail the exit.
        if not self.live.is_attached:
            return
        if isinstance(message, ContainersChanged):
            self.live.update_containers(message.snapshot)
        elif isinstance(message, DnsAnswered):
            self.live.update_dns(message.snapshot)
        else:
            self.live.update_mqtt(message.batch)

    @on(WrongRoomId)
    def wrong_room_id(self, message: WrongRoomId) -> None:
        self.engine.wrong_room_id(message.step_id)

    # ---- keys --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if getattr(self.app, "typing_ahead", False) and action not in ACTIONS_AT_ONCE:
            # Until the keys typed ahead are released the footer shows only the keys that act now.
            return False
        if action == "step" and parameters == ("cancel_step",):
            # Hidden while nothing runs: at 80 columns the footer has no room for a key that does nothing.
            return self.engine.running_step is not None
        if action in ("pause", "resume_traffic"):
            return self.live.paused if action == "resume_traffic" else not self.live.paused
        if action == "open_procedure":
            # In the footer only while a procedure is open: at 80 columns there is no room for a key that does nothing.
            return bool(self.engine.procedures.open_ones())
        return True

    def action_step(self, kind: str) -> None:
        """A key on the selected step: its worker (step_actions.ACTIONS) asks and acts."""
        step_actions.start(self, kind)

    def action_pause(self) -> None:
        paused = self.live.toggle_pause()
        self.refresh_bindings()  # the footer's p now says what it does next
        self.say("MQTT traffic paused (still counted)" if paused else "MQTT traffic resumed", timeout=3)

    action_resume_traffic = action_pause  # the same p, named for the footer while the log is paused

    def action_filter(self) -> None:
        if self.has_class("narrow"):
            self.action_pane("live")
        self.live.open_filter()

    def action_pane(self, pane: str) -> None:
        self.show_pane(pane)
        if pane == "live":
            self.live.focus_tabs()
            return
        target = {"checklist": "#checklist", "step": "#step-info"}[pane]  # step: its text scrolls with the keys
        self.query_one(target).focus()

    def action_live_tab(self, delta: int) -> None:
        tabs = self.query_one("#live-tabs", TabbedContent)
        ids = ["tab-containers", "tab-dns", "tab-mqtt", "tab-flows"]
        tabs.active = ids[(ids.index(tabs.active) + delta) % len(ids)]

    def action_floor(self) -> None:
        from runbook_tui.ui.floor_dialog import FloorDialog

        s = self.session.settings
        self.app.push_screen(FloorDialog(s.runs_dir, self.session.room, s.source, s.floor_listen, s.floor_public_url))

    def action_open_procedure(self) -> None:
        if self.asking or self.app.screen is not self:
            return  # a dialog is open: the procedure opens once it is answered
        procedure_actions.open_procedure(self)

    def action_inject_fault(self) -> None:
        trainer.inject_fault(self)
