"""The runbook-tui app: the checklist, the selected step and the live panel on one screen.

Its I/O comes in through the Session it is given (engine, probes), so tests hand in a
session on a scratch stack root and, for pure UI behaviour, no probes at all.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Static, Tree
from textual.worker import Worker, WorkerState

from runbook_tui.checklist.kinds import StepType
from runbook_tui.engine.states import StepState
from runbook_tui.files import write_whole
from runbook_tui.session import SessionOpener  # light: the engine loads after the first frame (RunbookApp.on_mount)
from runbook_tui.ui.checklist_view import ChecklistView
from runbook_tui.ui.crash_safe import CrashToFile
from runbook_tui.ui.footer import SteadyFooter
from runbook_tui.ui.messages import (
    ContainersChanged,
    DnsAnswered,
    EngineEvent,
    MqttBatchArrived,
    Reconciled,
    RoomObserved,
    WrongRoomId,
)
from runbook_tui.ui.step_view import StepView
from runbook_tui.ui.typeahead import ACTIONS_AT_ONCE, Typeahead

if TYPE_CHECKING:
    from runbook_tui.session import Session
    from runbook_tui.ui.live_view import LiveView


def dialogs():
    """The dialogs' module, loaded when the first dialog opens: the first frame has none."""
    from runbook_tui.ui import dialogs

    return dialogs


def engine_events():
    """The engine's events and refusals, loaded with the engine after the first frame (their
    dataclasses are some milliseconds of start-up)."""
    from runbook_tui.engine import events

    return events


def live_view():
    """The live panel's module, loaded after the first frame (RunbookApp._mount_live_view)."""
    from runbook_tui.ui import live_view

    return live_view


def alarm_words(alarms, now: float) -> str:
    """rules.outcome.alarm_words, loaded when an alarm is first said (its module is 7 ms of start-up)."""
    from runbook_tui.rules.outcome import alarm_words

    return alarm_words(alarms, now)

NARROW_WIDTH = 110  # below this (or 30 rows) the three panes fold into tabs
NARROW_HEIGHT = 30


class MainArea(Horizontal):
    """The panes' container; it resizes with the terminal, so it tells the app to re-lay out
    (the app's own resize event does not reach handlers)."""

    def on_resize(self) -> None:
        self.app.apply_layout()


class StepCommands(Provider):
    """The command palette: every action on the selected step, jumping to any step, then
    Textual's own commands. One provider, so the runbook's entries always come first (with
    several, the order is whichever answers first)."""

    def _entries(self) -> list[tuple[str, object]]:
        app = self.app
        assert isinstance(app, RunbookApp)
        actions = [("Run the selected step", app.action_run), ("Mark the selected step done", app.action_mark_done),
                   ("Skip the selected step", app.action_skip), ("Defer the selected step", app.action_defer),
                   ("Mark the selected step done without evidence", app.action_override),
                   ("Acknowledge (evidence that no longer holds, or the run's alarms)", app.action_acknowledge),
                   ("Cancel the running command", app.action_cancel_step),
                   ("Export the report and printable checklist", app.action_export),
                   ("Floor view: the run on a phone at the room", app.action_floor),
                   ("Pause / resume MQTT traffic", app.action_pause), ("Help: keys", app.action_help)]
        if app.engine is not None:
            for step in app.engine.applicable_steps():
                actions.append((f"Go to step: {app.engine.preview(step.id).title}", partial(app.goto_step, step.id)))
        # Theme, keys, screenshot, maximize, quit (app.action_quit asks first while a command runs).
        actions += [(command.title, command.callback) for command in app.get_system_commands(self.screen) if command.discover]
        return actions

    async def discover(self) -> Hits:
        # Shown before anything is typed: an operator who opens the palette sees what it offers.
        for text, callback in self._entries():
            yield DiscoveryHit(text, callback)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=None)


class RunbookApp(CrashToFile, App):
    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses may live anywhere
    TITLE = "runbook-tui"
    COMMANDS = {StepCommands}
    BINDINGS = [
        Binding("r,enter", "run", "Run", tooltip="Run the selected step (you confirm first)", id="run"),
        Binding("d", "mark_done", "Done", tooltip="Mark an open-loop step done", id="mark_done"),
        Binding("s", "skip", "Skip", tooltip="Skip the selected step, with a reason", id="skip"),
        Binding("f", "defer", "Defer", tooltip="Defer the selected step, with a reason", id="defer"),
        Binding("o", "override", "No-evidence", tooltip="Mark the step done without evidence (room id and reason)", id="override"),
        Binding("a", "acknowledge", "Ack", show=False,
                tooltip="Acknowledge the step's evidence that no longer holds, or the run's alarms", id="acknowledge"),
        Binding("x", "cancel_step", "Cancel cmd", tooltip="Stop the running command", id="cancel_step"),
        Binding("question_mark", "help", "Help", tooltip="Keys and what they do", id="help"),
        Binding("q", "quit_app", "Quit", tooltip="Quit (asks if a command runs)", id="quit"),
        Binding("p", "pause", "Pause MQTT", tooltip="Pause the traffic log (messages are still counted)", id="pause"),
        # The same key, shown instead of the one above while the log is paused (check_action).
        Binding("p", "resume_traffic", "Resume MQTT", tooltip="Resume the traffic log", id="resume_traffic"),
        Binding("slash", "filter", "Filter", show=False, tooltip="Filter MQTT topics", id="filter"),
        Binding("e", "export", "Export", tooltip="Write the after-action report and printable checklist", id="export"),
        Binding("w", "floor", "Floor view", show=False,
                tooltip="The floor view: the run on a phone at the room, where the person there confirms", id="floor"),
        Binding("1", "pane('checklist')", "Checklist", show=False, id="pane_checklist"),
        Binding("2", "pane('step')", "Step", show=False, id="pane_step"),
        Binding("3", "pane('live')", "Live", show=False, id="pane_live"),
        Binding("left_square_bracket", "live_tab(-1)", "Prev tab", show=False, id="prev_tab"),
        Binding("right_square_bracket", "live_tab(1)", "Next tab", show=False, id="next_tab"),
        Binding("F", "inject_fault", "Inject fault", show=False, tooltip="Trainer: inject a drill fault (lab only)",
                id="inject_fault"),
    ]

    def __init__(self, session: Session | SessionOpener, *, live: bool = True, resume: bool | Path | None = None,
                 steady: bool = False, freeze_gc: bool | None = None) -> None:
        """session: an open Session, or a SessionOpener, opened after the first frame (what the
        command line gives: the screen comes before the checklist and the engine load).
        live: start the probes and the reconciling loop. resume: None asks when an unfinished
        run exists; True resumes it; False starts a new run; a journal's path resumes that run.
        A room another console holds opens nothing (open_error). steady: no clock, no elapsed time,
        no cursor blink, so that screenshots of the same state are the same (snapshot tests).
        freeze_gc: keep what the open run holds out of the garbage collector's scans (see
        _freeze_what_lasts); None: on a terminal, not under a test driver."""
        super().__init__()
        self.open_error: Exception | None = None  # the opener's error: the app ended before the run opened
        self.freeze_gc = freeze_gc
        self._frozen = False
        # Keys between the first frame and the open run (typeahead.py); None once the run is on screen.
        self._typeahead: Typeahead | None = Typeahead() if isinstance(session, SessionOpener) else None
        self._question_unseen = None  # the resume question, pushed and not drawn yet: keys wait for it too
        self._leaving = False  # quit asked (q, or any exit()): an opening still under way stops
        self.steady = steady
        self._room_refused: set[str] = set()  # floor confirmations not taken (the step was already decided)
        self._said_unreadable: set[tuple[str, str]] = set()  # (role, why) of .env files said not read
        self.clock = (lambda: 0.0) if steady else time.time
        self.session = session
        self.live = live
        self.resume_choice = resume
        self.engine = None
        self.started_at = time.time()
        self.guard_alarm: str | None = None
        self.probes: list = []
        self.watcher = None  # the room's probes (live.watcher.RoomWatcher), started after the checklist's frame
        self.banner_reasons: dict[str, str] = {}
        # The pane tabs exist only once the screen is narrow: on a wide one nothing shows them,
        # and their widgets cost the first frame a few per cent (built in apply_layout).
        self._pane_tabs = None
        self._pane_tabs_mounting = False
        # Kept where they are made, not queried: the footer asks check_action, which asks for
        # the live view, for each key it shows whenever the bindings may have changed.
        self._banner: Static | None = None
        self._live: LiveView | None = None  # None until the live panel is mounted (after the first frame)
        self.pane = "checklist"
        self.finished = False
        self._last_run: str | None = None  # the step the operator last ran (its result is shown when it ends)
        self._sensed: list[str] = []  # steps ticked on evidence, not yet said in a notice
        self._sensed_cursor: str | None = None  # the selected step when those ticks came

    def exit(self, *args, **kwargs) -> None:
        self._leaving = True  # ctrl+q, an error: whatever ends the app stops an opening under way
        super().exit(*args, **kwargs)

    def crash_dir(self) -> Path | None:
        return self.session.settings.runs_dir  # beside the journal

    def crash_root(self) -> Path | None:
        return self.session.settings.stack_root

    def say(self, message: str, **kwargs) -> None:
        """A notice in plain words. What it says comes from the engine, the room and the checklist
        ("[variables]", a path, a device name): Textual's markup would swallow or misread it."""
        self.notify(escape(message), **kwargs)

    # ---- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The screen's layout classes before its widgets are styled: set in on_mount, each one
        # restyled and laid out the whole screen again before the first frame.
        self._layout_classes()
        narrow = self._is_narrow()
        opening = isinstance(self.session, SessionOpener)
        # What the first frame says is set before its first layout: set in on_mount, each of
        # these laid out and drew the screen again before the first frame was done.
        self.title = self._title()
        if opening:
            self.sub_title = "opening the checklist…"
        yield Header(show_clock=not self.steady)
        banner = self._banner = Static(id="banner")
        banner.display = False  # shown with a guard's alarm (set_banner)
        yield banner
        if narrow:
            yield self._new_pane_tabs()
        with MainArea(id="main"):
            checklist = ChecklistView(id="checklist")
            if opening:  # the first frame first: the checklist, the engine and the probes load after it
                checklist.root.add_leaf(Text("Opening the checklist…", style="dim"))  # load() clears it
            yield checklist
            with Vertical(id="right"):
                yield StepView(id="step", output_later=opening)
                if opening:  # the panel mounts after the first frame
                    yield Static("Live: connecting…", id="live")
                else:
                    self._live = live_view().LiveView(id="live")
                    yield self._live
        yield SteadyFooter(show_command_palette=not narrow)

    def on_mount(self) -> None:
        self.apply_layout()
        # Workers, not callbacks: a callback is awaited in the app's own message queue, so keys
        # (q among them) would wait behind a slow read. Every read of the opening (the checklist,
        # the .env files, the journals) runs off the event loop meanwhile.
        if isinstance(self.session, SessionOpener):
            self.call_after_refresh(self._opening, self._open_session)  # after the first frame (compose)
        else:
            self._opening(self._offer_or_begin)

    def _opening(self, step) -> None:
        """Runs a step of the opening (a coroutine function) as a worker; an error in it is an
        internal error, said as any other (crash_safe), not a worker's notice."""
        async def guarded() -> None:
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - the crash handler says it, as on the loop before
                self._handle_exception(exc)

        self.run_worker(guarded(), group="opening", exit_on_error=False, description="open the run")

    async def on_event(self, event: events.Event) -> None:
        if self._typeahead is not None and isinstance(event, events.Key) and not event.is_forwarded:
            shown = len(self.screen_stack) == 1 or self.screen is self._question_unseen  # not help, opened at once
            if shown and self._typeahead.take(event):
                return  # waits for the open run (_release_typeahead)
        await super().on_event(event)

    def _release_typeahead(self, replay: bool) -> None:
        """The keys pressed before the run was on screen: the moves replayed (replay), the rest
        named. Not replayed when a question comes first (resume) or a dialog is on top (help):
        it was not what they were for."""
        ahead, self._typeahead, self._question_unseen = self._typeahead, None, None
        if ahead is None:
            return
        self.refresh_bindings()  # the footer's keys, all of them now (check_action)
        moves, not_acted = ahead.release(replay and len(self.screen_stack) == 1)
        for key in moves:
            self.post_message(key)
        if not_acted:
            self.say(f"Not acted on, pressed before the checklist was on screen: {not_acted}. "
                     "Press again to act on what you see now.", severity="warning", timeout=8)

    async def _open_session(self) -> None:
        """Loads what the opener names. A checklist or variable that does not load ends the app
        with the error kept for the command line to say (open_error), as before the TUI opened."""
        from runbook_tui.checklist.loader import ChecklistInvalid
        from runbook_tui.checklist.variables import VariableError

        if not isinstance(self.session, SessionOpener):
            return  # opened already
        try:
            # Off the event loop: the checklist and the stacks' .env files are read from disk, and
            # whatever the stack root holds, q and the screen stay live meanwhile.
            self.session = await asyncio.to_thread(self.session.open)
        except (ChecklistInvalid, VariableError, ValueError) as exc:
            self.open_error = exc
            self.exit(return_code=2)
            return
        # q while it opened: nothing more mounted on a closing screen, and no run begun (a journal
        # made, or with --new-run the unfinished run abandoned).
        if self._leaving:
            return
        for role, refused in self.session.unreadable:
            self._said_unreadable.add((role, refused.strerror))
            self.say(f"The {role} stack's .env is not read: {refused}", severity="error", timeout=30)
        await self.query_one(StepView).mount_output()
        await self._mount_live_view()
        if not self._leaving:
            await self._offer_or_begin()

    async def _mount_live_view(self) -> None:
        """The live panel in the place the first frame kept for it."""
        await self.query_one("#live", Static).remove()
        live = live_view().LiveView(id="live")
        await self.query_one("#right").mount(live)
        self._live = live

    def _refused_opening(self, exc: Exception) -> None:
        """The run cannot open as asked (another console holds the room, or the run to resume is
        refused): the app ends and the command line says why. Never a new run instead."""
        self.open_error = exc
        self.exit(return_code=2)

    async def _offer_or_begin(self) -> None:
        from runbook_tui.engine.room_hold import RoomHeld

        s = self.session
        self.sub_title = f"{s.checklist.name} {s.checklist.revision}"
        try:
            s.claim()  # one console acts on a room: before any question, no run of a held room opens
        except RoomHeld as exc:
            self._refused_opening(exc)
            return
        if isinstance(self.resume_choice, Path):  # --resume JOURNAL: that run, without the question
            await self._open_run(self.resume_choice)
            return
        # The room's journals are read off the loop: a long one took seconds, the screen deaf.
        unfinished = await asyncio.to_thread(s.unfinished)
        older = await asyncio.to_thread(s.older_unfinished, unfinished.journal) if unfinished is not None else []
        if self._leaving:
            return
        if unfinished is not None and self.resume_choice is None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(unfinished.started))
            last = time.strftime("%H:%M:%S", time.localtime(unfinished.last_activity))
            drill = f"Drill {unfinished.drill}, trainee {unfinished.operator}.\n" if unfinished.drill else ""
            passed = f"{unfinished.steps_passed} step{'' if unfinished.steps_passed == 1 else 's'} passed"
            # Not offered here, never lost: each older unfinished run reopens by name.
            also = (f"\n\nOlder unfinished run{'s' if len(older) > 1 else ''}, not offered here: "
                    f"{', '.join(p.name for p in older)}. Quit and reopen one with: runbook-tui --resume JOURNAL"
                    if older else "")
            question = dialogs().ResumeDialog(f"{drill}{unfinished.journal.name}\nstarted {when}, last activity {last}, "
                                              f"{passed}.\n\nResuming reconciles it with the live room first.{also}")
            if self._typeahead is not None:
                # Keys typed before the question is drawn must not answer it: they wait, then are named.
                self._question_unseen = question
            self.push_screen(question, lambda resume: self._opening(partial(self._open_run,
                                                                            unfinished.journal if resume else None)))
            self.call_after_refresh(self._release_typeahead, replay=False)  # the question's screen, once drawn
        else:
            await self._open_run(unfinished.journal if (unfinished and self.resume_choice) else None)

    async def _open_run(self, resume_from: Path | None) -> None:
        """The run's engine, started off the loop (a resumed run's journal is read, a new run's
        written, an unfinished one abandoned), then put on screen by begin()."""
        from runbook_tui.engine.room_hold import RoomHeld

        starting = asyncio.ensure_future(asyncio.to_thread(self._start_engine, resume_from))
        try:
            engine = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The app closed while it started (its workers are cancelled): what it opened is let go.
            starting.add_done_callback(lambda done: done.cancelled() or done.exception() or self._let_go(done.result()))
            raise
        except (engine_events().EngineRefusal, RoomHeld) as exc:
            self._refused_opening(exc)
            return
        if engine is None or self._leaving:  # q meanwhile: nothing more is drawn
            if engine is not None:
                self._let_go(engine)
            return
        self.engine = engine
        self.begin(resume_from)

    def _start_engine(self, resume_from: Path | None):
        """In a thread: the run's engine, or None when the app closed meanwhile (then its journal
        and the room are let go here: nothing would close them after the app's end)."""
        engine = self.session.start_engine(resume_from, on_event=lambda ev: self.post_message(EngineEvent(ev)))
        if self._leaving:
            self._let_go(engine)
            return None
        return engine

    def _let_go(self, engine) -> None:
        engine.journal.close()
        self.session.release()

    def _title(self) -> str:
        s = self.session
        # A drill is always in the lab: its name says more than "LAB". At 80 columns the tool's
        # own name gives way, so the elapsed time and the run's state stay in the header.
        where = f" · DRILL {s.drill}" if s.drill else (" · LAB" if s.settings.lab else "")
        return ("" if self._is_narrow() else "runbook-tui · ") + s.room + where

    def begin(self, resume_from: Path | None) -> None:
        """The run on screen, once _open_run has started its engine off the loop (resume_from:
        the journal it was resumed from, None for a new run)."""
        assert self.engine is not None
        self.started_at = self.engine.started_at
        if self.engine.config.drill and not self.session.drill:  # a resumed drill keeps its header
            self.session.drill = self.engine.config.drill
            self.title = self._title()
        tree = self.query_one(ChecklistView)
        tree.load(self.engine.checklist, self.engine.statuses, self.engine.choices, self.engine.values, self.engine.lapses)
        tree.focus()
        first = next((s for s in self.engine.applicable_steps() if self.engine.status(s.id).state is StepState.PENDING), None)
        if first is not None:
            # The tree lays out its new nodes on the next refresh; move the cursor after it.
            self.call_after_refresh(tree.select_step, first.id)
        self.call_after_refresh(self._release_typeahead, replay=True)  # after the cursor's move: the keys start from it
        self.call_after_refresh(self._show_resume_notes)
        self.tick()  # the header in its final form from the first frame on
        self.set_interval(1.0, self.tick)
        if self.session.settings.lab:
            self.set_interval(1.0, self._journal_faults)
        self.set_interval(1.0, self._take_room_confirmations)
        if self.live:
            # After the checklist's frame (the probes' libraries load then); the watcher's
            # observations tick the checklist from the first one on.
            self.call_after_refresh(self.start_probes)
        self.call_after_refresh(self._freeze_what_lasts)  # after the probes started: their libraries last too

    def _freeze_what_lasts(self) -> None:
        """What the app holds from here to its end (modules, widgets, the checklist, the engine)
        leaves the garbage collector's view. Python's oldest generation was collected every
        few seconds in an MQTT flood, scanning all of it: 116-176 ms each, the worst keypress
        latencies (bench.tui). Objects made later are collected as before; on_unmount gives
        the frozen ones back (a venue opens one room's app after another in one process).
        Not under a test driver (headless) unless asked: many apps in one process would keep
        one another's cycles."""
        freeze = self.freeze_gc if self.freeze_gc is not None else not self.is_headless
        if freeze:
            gc.collect()
            gc.freeze()
            self._frozen = True

    def _is_narrow(self) -> bool:
        return self.size.width < NARROW_WIDTH or self.size.height < NARROW_HEIGHT

    def _layout_classes(self) -> None:
        self.screen.set_class(self._is_narrow(), "narrow")
        for pane in ("checklist", "step", "live"):
            self.screen.set_class(self.pane == pane, f"show-{pane}")

    def _new_pane_tabs(self):
        from textual.widgets import Tab, Tabs

        self._pane_tabs_mounting = True  # its first TabActivated comes from its mount (on_tabs_tab_activated)
        self._pane_tabs = Tabs(Tab("1 Checklist", id="pane-checklist"), Tab("2 Step", id="pane-step"),
                               Tab("3 Live", id="pane-live"), active=f"pane-{self.pane}", id="pane-tabs")
        # The panes are chosen with 1, 2, 3 (or a click): the strip never takes the keys' focus
        # from the pane they chose (seen in CI: focus on the strip after "3 ] ]" typed at start).
        self._pane_tabs.can_focus = False
        return self._pane_tabs

    def apply_layout(self) -> None:
        narrow = self._is_narrow()
        if narrow and self._pane_tabs is None and self._banner is not None:
            self._banner.screen.mount(self._new_pane_tabs(), after=self._banner)
        self._layout_classes()
        self.title = self._title()
        footer = self.query_one(SteadyFooter)
        if footer.show_command_palette == narrow:
            # At 80 columns the palette's label would cover "? Help" and "q Quit"; ctrl+p still
            # works and the help screen names it.
            footer.show_command_palette = not narrow
            self.refresh_bindings()  # the footer redraws its keys

    def action_pane(self, pane: str) -> None:
        self.pane = pane
        self.apply_layout()  # on a screen just turned narrow, the tabs are made on this pane
        if self._pane_tabs is not None and not self._pane_tabs_mounting:
            self._pane_tabs.active = f"pane-{pane}"
        if pane == "live":
            if (live := self._live_view()) is not None:  # not there in the first frame
                live.focus_tabs()
            return
        target = {"checklist": "#checklist", "step": "#step-info"}[pane]  # step: its text scrolls with the keys
        self.query_one(target).focus()

    def on_tabs_tab_activated(self, event) -> None:  # Tabs.TabActivated; Tabs loads when the screen turns narrow
        if event.tabs is not self._pane_tabs:
            return  # the live panel's own tabs
        pane = event.tab.id.removeprefix("pane-") if event.tab.id else "checklist"
        if self._pane_tabs_mounting:
            # Its mount activates the pane it was made on; a pane key since then wins.
            self._pane_tabs_mounting = False
            if pane != self.pane:
                event.tabs.active = f"pane-{self.pane}"
            return
        if pane != self.pane:
            self.pane = pane
            self.apply_layout()

    def action_live_tab(self, delta: int) -> None:
        if self._live_view() is None:
            return
        tabs = self.query_one("#live-tabs")
        ids = ["tab-containers", "tab-dns", "tab-mqtt", "tab-flows"]
        tabs.active = ids[(ids.index(tabs.active) + delta) % len(ids)]

    def tick(self) -> None:
        if len(self.screen_stack) == 1 and self.screen.has_class("narrow") != self._is_narrow():
            # A resize while a dialog was on top never reached the panes: catch up now.
            self.apply_layout()
        if self._typeahead is not None and self.engine is not None and len(self.screen_stack) == 1:
            # The release after begin() runs on the screen on top then: help, closed before its
            # next frame, would take it along, and the keys would wait for ever.
            self._release_typeahead(replay=True)
        elapsed = max(0, int(self.clock() - self.started_at))
        result = self.engine.outcome() if self.engine else None
        outcome = ""
        if result is not None:
            from runbook_tui.engine.replay import outcome_words  # the phone's words too: one rule for both

            views = self.query(ChecklistView)
            outcome = outcome_words(result, views.first().numbers if views else None)
        if self.engine and self.engine.active_alarms:
            outcome = "⚠ " + " ".join(a.kind.replace("_", " ").upper() for a in self.engine.active_alarms) + " · " + outcome
        elif self.engine and self.engine.alarms_unacknowledged:
            # An alarm of this run stays in the header until the operator acknowledges it (a);
            # short, so that 80 columns still show it (the banner says when and what).
            spans = [a for a in result.alarms if a.ended is not None]
            lasted = sum(a.ended - a.started for a in spans)
            kinds = " ".join(dict.fromkeys(a.kind.replace("_", " ") for a in spans))
            outcome = f"⚠ {kinds} {max(1, round(lasted))} s (a: ack) · " + outcome
        running = ""
        if self.engine and self.engine.running_step and (views := self.query(ChecklistView)):
            number = views.first().numbers.get(self.engine.running_step)
            running = f" · running step {number}" if number else f" · running {self.engine.running_step}"
        # What matters under stress first: time, state, what runs; the checklist's name last.
        self.sub_title = (f"{elapsed // 3600:02d}:{elapsed % 3600 // 60:02d}:{elapsed % 60:02d} · {outcome}{running} · "
                          f"{self.session.checklist.name} {self.session.checklist.revision}")

    # ---- selection -----------------------------------------------------------------------
    @property
    def selected(self) -> str | None:
        # None while the main screen is not there (a dialog on top, or the app closing down:
        # a late highlight event must not fail).
        views = self.query(ChecklistView)
        return views.first().selected_step if views else None

    def goto_step(self, step_id: str) -> None:
        self.query_one(ChecklistView).select_step(step_id)

    @on(Tree.NodeHighlighted, "#checklist")
    def highlighted(self, _event: Tree.NodeHighlighted) -> None:
        self.show_selected()

    @on(Tree.NodeSelected, "#checklist")
    def selected_by_enter(self, _event: Tree.NodeSelected) -> None:
        pass  # a mouse click just selects; Enter on a step runs it (ChecklistView.action_enter)

    def show_selected(self) -> None:
        step_id = self.selected
        if self.engine is None or step_id is None or not self.query(StepView):
            return
        step = self.engine.checklist.step(step_id)
        self.query_one(StepView).show(step, self.engine.status(step_id), self.engine.preview(step_id),
                                      self.engine.values, step.applies(self.engine.choices), self.engine.lapses.get(step_id),
                                      self.engine.room_confirmations.get(step_id))

    def refresh_tree(self) -> None:
        e = self.engine
        self.query_one(ChecklistView).refresh_steps(e.checklist, e.statuses, e.choices, e.values, e.lapses)
        self.show_selected()

    # ---- how steps are named to the operator: as the checklist numbers them, never by id ---------
    def _step_name(self, step_id: str) -> str:
        if self.engine is None or step_id not in self.engine.statuses:
            return step_id
        number = self.query_one(ChecklistView).numbers.get(step_id)
        title = self.engine.preview(step_id).title
        return f"{number}. {title}" if number else title

    def _steps_named(self, step_ids: list[str]) -> str:
        numbers = self.query_one(ChecklistView).numbers
        if len(step_ids) <= 2 or not all(s in numbers for s in step_ids):
            return "; ".join(self._step_name(s) for s in step_ids)
        listed = [str(n) for n in sorted(numbers[s] for s in step_ids)]  # in the checklist's order
        return "steps " + ", ".join(listed[:-1]) + " and " + listed[-1]

    def _readable(self, note: str) -> str:
        """An engine note starts with a step id ("up-primary: done on evidence: ..."): name the step instead."""
        step_id, sep, rest = note.partition(": ")
        return f"{self._step_name(step_id)}: {rest}" if sep else note

    def _show_resume_notes(self) -> None:
        for note in self.session.resume_notes:
            self.say(self._readable(note), title="Resumed", timeout=12)

    # ---- engine events -------------------------------------------------------------------
    @on(EngineEvent)
    def engine_event(self, message: EngineEvent) -> None:
        event, said = message.event, engine_events()
        if isinstance(event, said.StepOutput):
            self.query_one(StepView).add_output(event.step_id, event.line)
        elif isinstance(event, said.StepChanged):
            self.refresh_tree()
            self.finish_if_complete()
            self.tick()  # the header says what runs now, not a second later
            self.refresh_bindings()  # "x Cancel" is in the footer only while something runs
            if event.status.state is StepState.FAILED:
                self.say(f"{self._step_name(event.step_id)} failed: {event.status.reason}", severity="error", timeout=10)
            elif event.status.state is StepState.DONE and event.step_id == self._last_run:
                # The cursor moves on to the next step; what this one proved stays in sight a while.
                proof = "; ".join(event.status.evidence[-2:]) or event.status.reason
                self.say(f"{self._step_name(event.step_id)}: done" + (f"\n{proof}" if proof else ""), timeout=8)
        elif isinstance(event, said.LapseChanged):
            self.refresh_tree()
            self.finish_if_complete()  # acknowledging (or the evidence holding again) may end the run
            self.tick()
            if event.news and event.lapse is not None and not event.lapse.acknowledged:
                # Short-lived: the checklist line, the step pane and the header keep saying it while it lasts.
                self.say(f"{self._step_name(event.step_id)}: no longer holds: {event.lapse.detail}", title="Evidence lost",
                            severity="error", timeout=6)
        elif isinstance(event, said.AlarmChanged):
            self.show_alarms()

    def finish_if_complete(self) -> None:
        if self.engine is None or self.finished:
            return
        outcome = self.engine.outcome()
        # One rule decides (rules.outcome): every step decided, optional ones included, no lapsed evidence.
        if outcome.finished:
            self.finished = True
            self.engine.finish()
            extra = f": deferred {', '.join(outcome.deferred)}" if outcome.deferred else ""
            self.say(f"Run {outcome.text()}{extra}. e exports the after-action report.", title="Checklist", timeout=20)

    # ---- actions on steps ------------------------------------------------------------------
    def _step_or_warn(self):
        if self.engine is None:
            return None
        if len(self.screen_stack) > 1:
            # A dialog is open: the app's keys (Enter runs) still reach here when the dialog's
            # focused widget does not take the key; a second dialog must not open under it.
            return None
        step_id = self.selected
        if step_id is None:
            self.say("Select a step first (a section heading is not a step).", severity="warning")
            return None
        return self.engine.checklist.step(step_id)

    def action_run(self) -> None:
        step = self._step_or_warn()
        if step is None:
            return
        if self.engine.running_step:
            self.say(f"{self._step_name(self.engine.running_step)} is running: wait for it, or press x to cancel it.",
                        severity="warning")
            return
        if step.type is StepType.CHOICE:
            choice = self.engine.checklist.choices[step.choice]
            self.push_screen(dialogs().ChooseOption(choice, self.engine.choices[choice.id]), partial(self._chosen, choice.id))
            return
        if step.confirm_at_room and step.id not in self.engine.room_confirmations:
            # Said before any dialog: the operator's confirmation comes after the room's.
            self.say(f"{self._step_name(step.id)} is confirmed by the person at the room first: they confirm it in "
                     "the floor view (w shows its link). Or o overrides it, with a reason.", severity="warning", timeout=10)
            return
        verb = "Mark done" if step.type is StepType.CONFIRM else "Run"
        preview = self.engine.preview(step.id)
        if preview.unset:
            self.say(f"{self._step_name(step.id)} needs {', '.join(preview.unset)}, which is not set on this site: "
                        "set it in the settings' [variables] or with --var NAME=VALUE.", severity="error", timeout=12)
            return
        self.push_screen(dialogs().ConfirmRun(preview, self.session.room, verb), partial(self._confirmed, step.id))

    def action_mark_done(self) -> None:
        step = self._step_or_warn()
        if step is None:
            return
        if step.type is not StepType.CONFIRM:
            self.say(f"{self._step_name(step.id)} turns done by running it or on sensed evidence; "
                        "o overrides it if you must.", severity="warning")
            return
        self.action_run()

    def _chosen(self, choice_id: str, option: str | None) -> None:
        if option is None:
            return
        try:
            self.engine.choose(choice_id, option)
        except engine_events().EngineRefusal as exc:
            self.say(str(exc), severity="error", timeout=15)
            return
        if self.selected is not None:
            self.select_next(self.selected)
        warning = self.engine.checklist.choices[choice_id].options[option].warning
        if warning:
            from runbook_tui.checklist.kinds import substitute

            self.say(substitute(warning, self.engine.values), severity="warning", timeout=15)
        self.refresh_tree()

    def _confirmed(self, step_id: str, answer) -> None:
        if answer is None:
            return
        step = self.engine.checklist.step(step_id)
        if step.type is StepType.CONFIRM:
            try:
                self.engine.mark_done(step_id, confirmed=True, typed_room=answer.typed_room)
            except engine_events().EngineRefusal as exc:
                self.say(str(exc), severity="error")
                return
            self.select_next(step_id)
            return
        self.run_step_worker(step_id, answer.typed_room, answer.override_reason)

    @work(group="step", exit_on_error=False, description="run the selected step")
    async def run_step_worker(self, step_id: str, typed_room: str | None, override_reason: str | None) -> None:
        self._last_run = step_id
        try:
            status = await self.engine.run_step(step_id, confirmed=True, typed_room=typed_room, override_reason=override_reason)
        except engine_events().GuardRefused as refused:
            title = self.engine.preview(step_id).title
            self.set_banner("guard", f"GUARD REFUSED {self._step_name(step_id)}: " + "; ".join(f.detail for f in refused.failures))
            self.push_screen(dialogs().GuardRefusedDialog(title, refused.failures, self.session.room, refused.consequences()),
                             partial(self._guard_answer, step_id, tuple(refused.consequences())))
            return
        except engine_events().EngineRefusal as exc:
            self.say(str(exc), severity="error")
            return
        if status.state in (StepState.DONE, StepState.OVERRIDDEN):
            self.set_banner("guard", None)
            self.select_next(step_id)

    def _guard_answer(self, step_id: str, consequences: tuple[str, ...], answer: str | None) -> None:
        if answer != "override":
            return
        detail = Text("The step will run although its guard does not hold. This is recorded.\n")
        for c in consequences:
            detail.append(f"It risks: {c}\n", style="bold red")
        self.push_screen(dialogs().AskReason(f"Run despite the guard: {self._step_name(step_id)}", self.session.room, needs_room=True,
                                   detail=detail, what="running it despite the guard"),
                         partial(self._run_overriding, step_id))

    def _run_overriding(self, step_id: str, answer) -> None:
        if answer is not None:
            self.set_banner("guard", None)  # the refusal is answered: the step runs, recorded as overridden
            self.run_step_worker(step_id, answer.typed_room, answer.override_reason)

    def select_next(self, step_id: str) -> None:
        steps = self.engine.applicable_steps()
        ids = [s.id for s in steps]
        if self.selected != step_id or step_id not in ids:
            return
        for later in steps[ids.index(step_id) + 1:]:
            # A failed step waits to be run again: the cursor stops there, not past it.
            if self.engine.status(later.id).state in (StepState.PENDING, StepState.FAILED):
                self.goto_step(later.id)
                return

    def _reasoned(self, kind: str) -> None:
        step = self._step_or_warn()
        if step is None:
            return
        titles = {"skip": "Skip", "defer": "Defer", "override": "Mark done without evidence"}
        self.push_screen(dialogs().AskReason(f"{titles[kind]}: {self.engine.preview(step.id).title}", self.session.room,
                                   needs_room=kind == "override", what="marking it done without evidence",
                                   detail="It counts as passed although nothing was sensed: the report shows it as "
                                          "overridden." if kind == "override" else ""), partial(self._record, kind, step.id))

    def _record(self, kind: str, step_id: str, answer) -> None:
        if answer is None:
            return
        try:
            if kind == "acknowledge":
                self.engine.acknowledge_lapse(step_id, answer.override_reason)
                self.refresh_tree()
                self.tick()
                return
            if kind == "skip":
                self.engine.skip(step_id, answer.override_reason)
            elif kind == "defer":
                self.engine.defer(step_id, answer.override_reason)
            else:
                self.engine.override(step_id, typed_room=answer.typed_room, reason=answer.override_reason)
        except engine_events().EngineRefusal as exc:
            self.say(str(exc), severity="error")
            return
        self.select_next(step_id)

    def action_skip(self) -> None:
        self._reasoned("skip")

    def action_defer(self) -> None:
        self._reasoned("defer")

    def action_override(self) -> None:
        self._reasoned("override")

    def _alarms_acknowledged(self, answer) -> None:
        if answer is None:
            return
        try:
            self.engine.acknowledge_alarms(answer.override_reason)
        except engine_events().EngineRefusal as exc:
            self.say(str(exc), severity="error")
            return
        self.show_alarms()
        self.say("Alarm acknowledged (journaled).", timeout=4)

    def action_acknowledge(self) -> None:
        """The selected step's lapsed evidence (with a reason), else the run's alarms."""
        if self.engine is None:
            return
        step_id = self.selected
        lapse = self.engine.lapses.get(step_id) if step_id else None
        if lapse is None or lapse.acknowledged:
            # The header counts lapses wherever the cursor is: a goes to the first one not yet
            # acknowledged (the dialog names it), not to "nothing to acknowledge".
            open_lapses = [s.id for s in self.engine.applicable_steps()
                           if (lp := self.engine.lapses.get(s.id)) is not None and not lp.acknowledged]
            if open_lapses and not self.engine.alarms_unacknowledged:
                step_id, lapse = open_lapses[0], self.engine.lapses[open_lapses[0]]
                self.goto_step(step_id)
        if lapse is not None and not lapse.acknowledged:
            self.push_screen(dialogs().AskReason(f"Acknowledge: {self._step_name(step_id)} no longer holds", self.session.room,
                                       needs_room=False, detail=f"{lapse.condition}: {lapse.detail}\n\nThe run may then end "
                                       "complete without this evidence; the report says so."),
                             partial(self._record, "acknowledge", step_id))
            return
        if self.engine.alarms_unacknowledged:
            said = alarm_words(self.engine.outcome().alarms, self.clock())
            self.push_screen(dialogs().AskReason(f"Acknowledge this run's alarm: {said}", self.session.room, needs_room=False,
                                       detail="Say what was done about it: the journal and the report keep it."),
                             self._alarms_acknowledged)
            return
        self.say("Nothing to acknowledge: no alarm, and the selected step's evidence holds.", timeout=4)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self._typeahead is not None and action not in ACTIONS_AT_ONCE:
            # Until the run is on screen the footer shows only the keys that act now (typeahead.py);
            # also the first frame's cost: each footer key is a widget to style and draw.
            return False
        if action == "cancel_step":
            # Hidden while nothing runs: at 80 columns the footer has no room for a key that does nothing.
            return self.engine is not None and self.engine.running_step is not None
        if action in ("pause", "resume_traffic"):
            live = self._live_view()
            paused = live is not None and live.paused
            return paused if action == "resume_traffic" else not paused
        return True

    def action_cancel_step(self) -> None:
        if self.engine is None or not self.engine.running_step:
            self.say("Nothing is running.")  # reached from the palette; the x key is off while idle
            return
        title = self.engine.preview(self.engine.running_step).title
        self.engine.cancel()
        self.say(f"Cancelling {title}…", severity="warning")

    # ---- export, help, quit ----------------------------------------------------------------
    def action_export(self) -> None:
        if self.engine is None:
            return
        self.say("Writing the after-action report and the printable checklist…", timeout=3)
        self.export_worker()

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, description="export the report")
    def export_worker(self) -> None:
        # Off the screen's thread: a drill report reads every earlier drill's journal.
        journal = self.engine.journal.path
        report = journal.with_name(journal.stem + "-report.md")
        paper = journal.with_name(journal.stem + "-checklist.txt")
        from runbook_tui.checklist.plan import render_plan
        from runbook_tui.engine.report import render_report

        try:
            # Whole or not at all: a report half-written is worse than none.
            write_whole(report, render_report(journal), mode=0o644)
            s = self.session.settings
            where = str(s.source) if s.source else "none (the training lab)"
            write_whole(paper, render_plan(self.engine.checklist, self.session.given, s.stack_root, self.engine.choices,
                                           lab=s.lab, settings=where, fence_command=self.engine.config.fence_command),
                       mode=0o644)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.say(f"Export failed: {exc}", severity="error")
            return
        self.say(f"Wrote {report}\nand {paper}", title="Exported", timeout=10)

    def action_inject_fault(self) -> None:
        if not self.session.settings.lab:
            self.say("Faults are injected in the training lab only.", severity="warning")
            return
        if self.session.drill:
            # The trainee's screen shows what a real room would: no list of faults, no "in" marks.
            self.say("In a drill the trainer injects faults from another terminal: runbook-tui lab fault "
                     f"{self.session.room} NAME", severity="information")
            return
        self.run_worker(self._offer_faults(), group="fault-menu", exclusive=True, exit_on_error=False,
                        description="list the drill faults")

    async def _offer_faults(self) -> None:
        from runbook_tui.checklist.model import Choice, ChoiceOption
        from runbook_tui.lab.faults import FAULTS

        active = await asyncio.to_thread(self._faults_in)  # the journal, read off the loop
        options = {name: ChoiceOption(name, f"{name}: {f.summary}" + (f"  (in: {active[name]})" if name in active else ""), "", "")
                   for name, f in FAULTS.items()}
        choice = Choice("fault", "Trainer: inject a fault into the lab room (marked in: already in this run)",
                        next(iter(options)), options, 0)
        self.push_screen(dialogs().ChooseOption(choice, choice.default), self._inject)

    def _faults_in(self) -> dict[str, str]:
        """Faults this run has already met: the drill's scenario and those the trainer injected (from the journal)."""
        active = {self.session.drill: "drill scenario"} if self.session.drill else {}
        if self.engine is not None:
            from runbook_tui.engine import records as rec
            from runbook_tui.engine.journal import read_journal

            try:
                records = read_journal(self.engine.journal.path).records
            except OSError:
                records = []
            for fault in rec.of_kind(records, rec.FaultInjected):
                active[fault.fault] = "injected " + time.strftime("%H:%M:%S", time.localtime(fault.ts))
        return active

    def _inject(self, name: str | None) -> None:
        if name is not None:
            self.inject_worker(name)

    @work(thread=True, exclusive=True, group="fault", exit_on_error=False, description="inject a drill fault")
    def inject_worker(self, name: str) -> None:
        from runbook_tui.lab.dns_server import DnsSettings
        from runbook_tui.lab.faults import inject
        from runbook_tui.lab.lab import Lab

        s = self.session.settings
        lab = Lab(s.stack_root, lambda _m: None, DnsSettings(port=s.resolvers[0][1]))
        what = inject(lab, self.session.room, name)  # logged for the run; _journal_faults records it
        self.say(f"Injected {name}: {what}", title="Trainer", timeout=10)

    def _journal_faults(self) -> None:
        """Faults injected into this room from anywhere (F here, `lab fault` in another terminal)
        go into this run's journal, the console being its one writer. A trainee is not told."""
        if self.engine is None:
            return
        from runbook_tui.engine import records as rec

        for r in self.session.new_faults():
            kind = rec.FaultHealed if r.get("healed") else rec.FaultInjected
            self.engine.journal.write(kind(fault=r["fault"], effect=str(r.get("effect", "")), by=str(r.get("by", "")),
                                           at=r.get("ts")))
            if not self.session.drill:
                self.say(f"{'Healed' if r.get('healed') else 'Injected'} {r['fault']}", title="Trainer", timeout=6)

    def _take_room_confirmations(self) -> None:
        """Confirmations sent from the floor view: each is journaled once by the engine (the
        console is the journal's one writer); the operator is told, and confirms after them."""
        if self.engine is None:
            return
        from runbook_tui.engine.floor import console_alive, read_confirmations

        console_alive(self.engine.journal.path)  # the floor view says so when this stops
        seen = self.engine.room_confirmation_ids() | self._room_refused
        for confirmation in read_confirmations(self.engine.journal.path, seen):
            if why := self.engine.receive_room_confirmation(confirmation):
                self._room_refused.add(confirmation.id)  # said once, not taken, never read again
                self.say(f"A confirmation from the room by {confirmation.name} was not taken: {why}",
                         title="From the room", severity="warning", timeout=8)
                continue
            self.say(f"{self._step_name(confirmation.step)}: confirmed at the room by {confirmation.name}. "
                     "d confirms it as the operator.", title="From the room", timeout=12)
            self.show_selected()

    def action_floor(self) -> None:
        from runbook_tui.ui.floor_dialog import FloorDialog

        s = self.session.settings
        self.push_screen(FloorDialog(s.runs_dir, self.session.room, s.source, s.floor_listen, s.floor_public_url))

    def action_help(self) -> None:
        s = self.session.settings
        # A site's operator sees no lab key, and a trainee in a drill no trainer's key.
        d = dialogs()
        text = d.HELP if s.lab and not self.session.drill else d.HELP.replace(d.LAB_ONLY_HELP, "")
        self.push_screen(d.HelpScreen(text + f"\n[b]This session[/b]\n  settings {escape(s.described_as)}\n"
                                           f"  stack root {escape(str(s.stack_root))}\n"))

    def action_pause(self) -> None:
        if (live := self._live_view()) is None:
            return
        paused = live.toggle_pause()
        self.refresh_bindings()  # the footer's p now says what it does next
        self.say("MQTT traffic paused (still counted)" if paused else "MQTT traffic resumed", timeout=3)

    def action_resume_traffic(self) -> None:
        self.action_pause()

    def action_filter(self) -> None:
        if self.screen.has_class("narrow"):
            self.action_pane("live")
        if (live := self._live_view()) is not None:
            live.open_filter()

    async def action_quit(self) -> None:
        # Textual's ctrl+q and the palette's "Quit" come here: they ask first too, as q does, so a
        # running command is never left behind by a quick exit.
        self.action_quit_app()

    def action_quit_app(self) -> None:
        engine = self.engine
        if engine is not None and engine.running_step:
            title = engine.preview(engine.running_step).title
            self.push_screen(dialogs().QuitDialog(title, lambda: engine.running_step is not None), self._quit_answer)
            return
        self._leaving = True  # now, not when shutdown's thread gets to exit(): an opening under way stops
        self.shutdown()

    def _quit_answer(self, quit_anyway: bool | None) -> None:
        if quit_anyway:
            if self.engine is not None and self.engine.running_step:
                self.engine.cancel()
                self.set_timer(0.5, self.shutdown)
            else:
                self.shutdown()

    @work(thread=True, exclusive=True, group="shutdown", exit_on_error=False, description="stop the probes")
    def shutdown(self) -> None:
        for probe in self.probes:
            try:
                probe.stop()
            except Exception:  # noqa: BLE001 - quitting must always work
                pass
        if self.engine is not None:
            self.engine.journal.close()
        self.call_from_thread(self.exit)

    def on_unmount(self) -> None:
        # However the app ends, release the journal (its lock) for the next run, and stop the
        # probes if quitting did not (their threads and child processes must not outlive the app).
        if self._frozen:
            gc.unfreeze()  # collectable again, once this app lets go of them
            self._frozen = False
        if self.engine is not None:
            self.engine.journal.close()
        self.session.release()  # the room: another console may open it now (after the journal)
        for probe in self.probes:
            if not probe.stopping.is_set():
                threading.Thread(target=probe.stop, name="stop-probes", daemon=True).start()

    # ---- probes and the safety banner ----------------------------------------------------------
    @work(thread=True, exclusive=True, group="probes", exit_on_error=False, description="start the room's probes")
    def start_probes(self) -> None:
        """Off the loop: the watcher reads the stacks' .env files as it is made and as it starts
        (its first look at the files). Stopped before it started (q meanwhile), it never starts."""
        watcher = self.session.watcher(
            on_observation=lambda obs: self.post_message(RoomObserved(obs)),
            on_stack=lambda snap: self.post_message(ContainersChanged(snap)),
            on_dns=lambda snap: self.post_message(DnsAnswered(snap)),
            on_mqtt=lambda batch: self.post_message(MqttBatchArrived(batch)))
        self.watcher = watcher
        self.probes = [watcher]
        if self._leaving:
            return
        watcher.start()

    def _live_view(self) -> LiveView | None:
        # None in the first frame (a placeholder; the module is not loaded yet), and while the main
        # screen is being taken down at quit: a probe's last message, already on its way, must
        # not fail the exit.
        live = self._live
        return live if live is not None and live.is_attached and self._main_screen_up() else None

    def _main_screen_up(self) -> bool:
        """The run's screen is in the DOM: its widgets leave it when it is taken down at quit, and
        none is attached once the app exits."""
        return self._banner is not None and self._banner.is_attached

    @on(ContainersChanged)
    def containers(self, message: ContainersChanged) -> None:
        if (live := self._live_view()) is not None:
            live.update_containers(message.snapshot)

    @on(DnsAnswered)
    def dns(self, message: DnsAnswered) -> None:
        if (live := self._live_view()) is not None:
            live.update_dns(message.snapshot)

    @on(MqttBatchArrived)
    def mqtt(self, message: MqttBatchArrived) -> None:
        if (live := self._live_view()) is not None:
            live.update_mqtt(message.batch)

    @on(RoomObserved)
    def room_observed(self, message: RoomObserved) -> None:
        """The room changed: the run judges it by the rules (ticks, lapses, alarms, all journaled)."""
        if self.engine is None or self._live_view() is None:
            return
        self._say_unreadable_files(message.observation)
        notes = self.engine.observe(message.observation)
        if notes:
            self.post_message(Reconciled(notes))

    def _say_unreadable_files(self, obs) -> None:
        """A stack's .env the tool will not read (a FIFO, past its cap) is said once, with why:
        its values are missing from every panel and rule until it is fixed."""
        for stack in obs.files.stacks if obs.files is not None else ():
            if stack.env_error and (stack.role, stack.env_error) not in self._said_unreadable:
                self._said_unreadable.add((stack.role, stack.env_error))
                self.say(f"The {stack.role} stack's .env is not read: {stack.env_error}", severity="error", timeout=30)

    def show_alarms(self) -> None:
        """The banner says what alarm is raised now; one that ended stays until acknowledged."""
        if self.engine is None or not self._main_screen_up():
            return
        raised = self.engine.active_alarms
        text = "   ".join(f"{a.kind.replace('_', ' ').upper()}: {a.reason}" for a in raised)
        if not raised and self.engine.alarms_unacknowledged:
            text = ("ALARM IN THIS RUN: " + alarm_words(self.engine.outcome().alarms, self.clock())
                    + "   (a acknowledges)")
        self.set_banner("alarm", text or None)
        self.tick()

    def set_banner(self, source: str, text: str | None) -> None:
        if text is None:
            self.banner_reasons.pop(source, None)
        else:
            self.banner_reasons[source] = text
        banner = self.query_one("#banner", Static)
        banner.display = bool(self.banner_reasons)
        banner.update(Text("  ⚠  " + "   ⚠  ".join(self.banner_reasons.values()), style="bold"))

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            # One place for worker failures: a state on screen, never a crash.
            self.say(f"{event.worker.description}: {event.worker.error}", severity="error", timeout=10)

    @on(WrongRoomId)
    def wrong_room_id(self, message: WrongRoomId) -> None:
        if self.engine is not None:
            self.engine.wrong_room_id(message.step_id)

    @on(Reconciled)
    def reconciled(self, message: Reconciled) -> None:
        done = [n.split(":", 1)[0] for n in message.notes if ": done on evidence" in n]
        if done:
            self.refresh_tree()
            # The room's parts arrive one by one (each stack, DNS, the brokers): ticks that come
            # within a moment of each other are said in one notice, not one each.
            if not self._sensed:
                self._sensed_cursor = self.selected  # where the operator was when the ticks came
                self.set_timer(0.8, self._say_sensed)
            self._sensed += [d for d in done if d not in self._sensed]

    def _say_sensed(self) -> None:
        done, self._sensed = self._sensed, []
        if not done or self.engine is None or not self.query(ChecklistView):
            return  # nothing to say, or the app is closing (its screen is being taken down)
        self.say("Done on sensed evidence: " + self._steps_named(done), timeout=6)
        selected = self.selected
        if selected in done and selected == self._sensed_cursor and self.engine.status(selected).state is StepState.DONE:
            # The step under the cursor was just ticked: the operator's place is the next open step.
            # Only then: a cursor the operator moved meanwhile (to a lapse, say) stays where it was put.
            self.select_next(selected)
