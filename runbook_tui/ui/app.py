"""The runbook-tui app: what exists before a room's run is on screen, and around it.

The app draws the first frame (the opening screen of `panes.py`), opens the session off the
event loop, asks whether to resume an unfinished run, starts the run's engine and then pushes
the run's screen (`run_screen.RunScreen`), which owns everything of the run. Keys typed
meanwhile wait (`typeahead.py`); help and quit act at once; an internal error goes to a
masked file (`crash_safe.py`). Its I/O comes in through the Session it is given (engine,
probes), so tests hand in a session on a scratch stack root and, for pure UI behaviour, no
probes at all.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from runbook_tui.session import SessionOpener  # light: the engine loads after the first frame
from runbook_tui.ui.crash_safe import CrashToFile
from runbook_tui.ui.lasting import Frozen
from runbook_tui.ui.messages import (
    ContainersChanged,
    DnsAnswered,
    EngineEvent,
    MqttBatchArrived,
    RoomObserved,
    WrongRoomId,
)
from runbook_tui.ui.panes import OpeningScreen, PanesScreen
from runbook_tui.ui.typeahead import Typeahead

if TYPE_CHECKING:
    from textual.message import Message

    from runbook_tui.engine.run import RunEngine
    from runbook_tui.live.watcher import RoomWatcher
    from runbook_tui.session import Session
    from runbook_tui.ui.run_screen import RunScreen


def dialogs():
    """The dialogs' module, loaded when the first dialog opens: the first frame has none."""
    from runbook_tui.ui import dialogs

    return dialogs


class RunbookApp(CrashToFile, App):
    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses may live anywhere
    TITLE = "runbook-tui"
    COMMANDS = set()  # the run's screen has its own palette (commands.py), the opening screen Textual's
    # The keys that act from the first frame on; the run's own are its screen's (run_screen.py).
    BINDINGS = [
        Binding("question_mark", "help", "Help", tooltip="Keys and what they do", id="help"),
        Binding("q", "quit_app", "Quit", tooltip="Quit (asks if a command runs)", id="quit"),
    ]

    def __init__(self, session: Session | SessionOpener, *, live: bool = True, resume: bool | Path | None = None,
                 steady: bool = False, freeze_gc: bool | None = None, procedure: tuple[str, str] | None = None) -> None:
        """session: an open Session, or a SessionOpener, opened after the first frame (what the
        command line gives: the screen comes before the checklist and the engine load).
        live: start the probes and the reconciling loop. resume: None asks when an unfinished
        run exists; True resumes it; False starts a new run; a journal's path resumes that run.
        A room another console holds opens nothing (open_error). steady: no clock, no elapsed time,
        no cursor blink, so that screenshots of the same state are the same (snapshot tests).
        freeze_gc: keep what the open run holds out of the garbage collector's scans (see
        lasting.py); None: on a terminal, not under a test driver. procedure: (id, what its trigger
        saw) of a non-normal procedure the venue raised on this room: queued and opened once the run is on screen."""
        super().__init__()
        self.open_error: Exception | None = None  # the opener's error: the app ended before the run opened
        self.freeze_gc = freeze_gc
        self._frozen = Frozen()  # what lasts to the app's end, out of the collector's scans (lasting.py)
        # Keys between the first frame and the open run (typeahead.py); None once the run is on screen.
        self._typeahead: Typeahead | None = Typeahead() if isinstance(session, SessionOpener) else None
        self._question_unseen: Screen | None = None  # the resume question, pushed and not drawn yet: keys wait for it too
        self._leaving = False  # quit asked (q, or any exit()): an opening still under way stops
        self.steady = steady
        self.clock = (lambda: 0.0) if steady else time.time
        self.session = session
        self.live = live
        self.resume_choice = resume
        self.venue_procedure = procedure
        self.run_screen: RunScreen | None = None  # the run, once it is on screen
        self.probes: list = []
        self.watcher: RoomWatcher | None = None  # the room's probes, started after the run's frame
        self.set_keymap(session.settings.keymap)  # a site's [keys] table: binding id -> key

    @property
    def engine(self) -> RunEngine | None:
        """The run's engine; None until the run is on screen (its screen's is never None)."""
        return self.run_screen.engine if self.run_screen is not None else None

    @property
    def typing_ahead(self) -> bool:
        """Keys typed before the run was on screen are still held (typeahead.py)."""
        return self._typeahead is not None

    def get_default_screen(self) -> Screen:
        return OpeningScreen()

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

    def run_title(self, narrow: bool) -> str:
        s = self.session
        # A drill is always in the lab: its name says more than "LAB". At 80 columns the tool's
        # own name gives way, so the elapsed time and the run's state stay in the header.
        # A blind drill says DRILL only: the trainee meets the fault as on site, unnamed.
        drill = " · DRILL" + ("" if s.blind else f" {s.drill}")
        where = drill if s.drill else (" · LAB" if s.settings.lab else "")
        return ("" if narrow else "runbook-tui · ") + s.room + where

    # ---- the opening ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        if isinstance(self.session, SessionOpener):
            self.sub_title = "opening the checklist…"
        # Workers, not callbacks: a callback is awaited in the app's own message queue, so keys
        # (q among them) would wait behind a slow read. Every read of the opening (the checklist,
        # the .env files, the journals) runs off the event loop meanwhile.
        self.call_after_refresh(self._opening, self._open_session)  # after the first frame

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
            # Only on the screens it was typed for: not into help, opened at once.
            shown = isinstance(self.screen, PanesScreen) or self.screen is self._question_unseen
            if shown and self._typeahead.take(event):
                return  # waits for the open run (release_typeahead)
        await super().on_event(event)

    def release_typeahead(self, replay: bool) -> None:
        """The keys pressed before the run was on screen: the moves replayed (replay), the rest
        named. Not replayed when a question comes first (resume) or a dialog is on top (help):
        it was not what they were for."""
        ahead, self._typeahead, self._question_unseen = self._typeahead, None, None
        if ahead is None:
            return
        self.refresh_bindings()  # the footer's keys, all of them now (check_action)
        moves, not_acted = ahead.release(replay and self.run_screen is not None and self.screen is self.run_screen)
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

        if isinstance(self.session, SessionOpener):
            try:
                # Off the event loop: the checklist and the stacks' .env files are read from disk, and
                # whatever the stack root holds, q and the screen stay live meanwhile.
                self.session = await asyncio.to_thread(self.session.open)
            except (ChecklistInvalid, VariableError, ValueError) as exc:
                self._refused_opening(exc)
                return
        # q while it opened: no run begun (a journal made, or with --new-run the unfinished run abandoned).
        if self._leaving:
            return
        for role, refused in self.session.unreadable:  # said once, here; the run's screen knows them
            self.say(f"The {role} stack's .env is not read: {refused}", severity="error", timeout=30)
        await self._offer_or_begin()

    def _refused_opening(self, exc: Exception) -> None:
        """The run cannot open as asked (a checklist that does not load, another console holds the
        room, the run to resume is refused): the app ends and the command line says why."""
        self.open_error = exc
        self.exit(return_code=2)

    async def _offer_or_begin(self) -> None:
        from runbook_tui.engine.room_hold import RoomHeld

        s = self.session
        assert not isinstance(s, SessionOpener)
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
        if unfinished is None or self.resume_choice is not None:
            await self._open_run(unfinished.journal if (unfinished and self.resume_choice) else None)
            return
        question = dialogs().resume_question(unfinished, older)
        if self._typeahead is not None:
            # Keys typed before the question is drawn must not answer it: they wait, then are named.
            self._question_unseen = question
        self.call_after_refresh(self.release_typeahead, replay=False)  # the question's screen, once drawn
        if await self.push_screen_wait(question):  # the opening is a worker: it waits for the answer
            await self._open_run(unfinished.journal)
        else:
            await self._open_run(None)

    async def _open_run(self, resume_from: Path | None) -> None:
        """The run's engine, started off the loop (a resumed run's journal is read, a new run's
        written, an unfinished one abandoned), then its screen pushed."""
        from runbook_tui.engine.events import EngineRefusal
        from runbook_tui.engine.room_hold import RoomHeld

        starting = asyncio.ensure_future(asyncio.to_thread(self._start_engine, resume_from))
        try:
            engine = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The app closed while it started (its workers are cancelled): what it opened is let go.
            def let_go(done: asyncio.Future[RunEngine | None]) -> None:
                if not done.cancelled() and done.exception() is None and (opened := done.result()) is not None:
                    self._let_go(opened)

            starting.add_done_callback(let_go)
            raise
        except (EngineRefusal, RoomHeld) as exc:
            self._refused_opening(exc)
            return
        if engine is None or self._leaving:  # q meanwhile: nothing more is drawn
            if engine is not None:
                self._let_go(engine)
            return
        from runbook_tui.ui.run_screen import RunScreen

        session = self.session
        assert not isinstance(session, SessionOpener)
        if engine.config.drill and not session.drill:  # a resumed drill keeps its header
            session.drill = engine.config.drill
        # A blind drill stays blind however it is reopened (the journal says so, not the command line).
        session.blind = session.blind or engine.config.blind
        while self.screen is not self.screen_stack[0]:  # help opened meanwhile stays: the run comes once it closes
            await asyncio.sleep(0.05)
        run = RunScreen(session, engine, clock=self.clock)
        await self.push_screen(run)
        self.run_screen = run  # from here on what the engine and the probes post reaches it
        if self.venue_procedure is not None:
            from runbook_tui.ui.procedure_actions import raise_from_venue

            run.call_after_refresh(raise_from_venue, run, *self.venue_procedure)
        self.run_shown()

    def _start_engine(self, resume_from: Path | None) -> RunEngine | None:
        """In a thread: the run's engine, or None when the app closed meanwhile (then its journal
        and the room are let go here: nothing would close them after the app's end)."""
        assert not isinstance(self.session, SessionOpener)
        engine = self.session.start_engine(resume_from, on_event=lambda ev: self.post_message(EngineEvent(ev)))
        if self._leaving:
            self._let_go(engine)
            return None
        return engine

    def _let_go(self, engine: RunEngine) -> None:
        engine.journal.close()
        self.session.release()

    def run_shown(self) -> None:
        """The run's screen is up, its checklist loaded: the keys typed ahead, the resume's notes,
        then the probes and, last, what lasts leaves the collector's scans."""
        run = self.run_screen
        assert run is not None
        self.call_after_refresh(self.release_typeahead, replay=True)  # after the cursor's first move
        notes = list(run.session.resume_notes)

        def say_resume_notes() -> None:
            for note in notes:
                step_id, sep, rest = note.partition(": ")  # "up-primary: done on evidence: ...": the step by name
                self.say(f"{run.step_name(step_id)}: {rest}" if sep else note, title="Resumed", timeout=12)

        self.call_after_refresh(say_resume_notes)
        if self.live:
            # After the checklist's frame (the probes' libraries load then); the watcher's
            # observations tick the checklist from the first one on.
            self.call_after_refresh(self.start_probes)
        if (self.freeze_gc if self.freeze_gc is not None else not self.is_headless):
            self.call_after_refresh(self._frozen.freeze)  # after the probes started: their libraries last too

    # ---- the probes: their messages go to the run's screen -----------------------------------
    @work(thread=True, exclusive=True, group="probes", exit_on_error=False, description="start the room's probes")
    def start_probes(self) -> None:
        """Off the loop: the watcher reads the stacks' .env files as it is made and as it starts
        (its first look at the files). Stopped before it started (q meanwhile), it never starts."""
        run = self.run_screen
        assert run is not None  # started by run_shown, once the run's screen (and its open session) is up
        watcher = run.session.watcher(
            on_observation=lambda obs: self.post_message(RoomObserved(obs)),
            on_stack=lambda snap: self.post_message(ContainersChanged(snap)),
            on_dns=lambda snap: self.post_message(DnsAnswered(snap)),
            on_mqtt=lambda batch: self.post_message(MqttBatchArrived(batch)))
        self.watcher = watcher
        self.probes = [watcher]
        if not self._leaving:
            watcher.start()

    @on(EngineEvent)
    @on(RoomObserved)
    @on(ContainersChanged)
    @on(DnsAnswered)
    @on(MqttBatchArrived)
    @on(WrongRoomId)
    def to_the_run(self, message: Message) -> None:
        """What the engine, the probes and the dialogs post, for the run's screen (dropped before
        it is up, and while it is taken down at quit)."""
        if self.run_screen is not None and self.run_screen.is_attached:
            self.run_screen.post_message(message)

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            # One place for worker failures: a state on screen, never a crash.
            self.say(f"{event.worker.description}: {event.worker.error}", severity="error", timeout=10)

    # ---- help and quit -------------------------------------------------------------------------
    def action_help(self) -> None:
        s = self.session.settings
        # A site's operator sees no lab key, and a trainee in a drill no trainer's key.
        d = dialogs()
        text = d.HELP if s.lab and not self.session.drill else d.HELP.replace(d.LAB_ONLY_HELP, "")
        keys = "".join(f"  {escape(key):12} {escape(binding)} (this site's keys)\n" for binding, key in s.keymap.items())
        self.push_screen(d.HelpScreen(text + f"\n[b]This session[/b]\n  settings {escape(s.described_as)}\n"
                                           f"  stack root {escape(str(s.stack_root))}\n" + keys))

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
        self._frozen.unfreeze()  # collectable again, once this app lets go of them
        if self.engine is not None:
            self.engine.journal.close()
        self.session.release()  # the room: another console may open it now (after the journal)
        for probe in self.probes:
            if not probe.stopping.is_set():
                threading.Thread(target=probe.stop, name="stop-probes", daemon=True).start()
