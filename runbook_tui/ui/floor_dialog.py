"""The console's side of the floor view (w): is it serving, its link and QR code, start it,
close it. The server runs as its own process (runbook-tui floor), so it outlives a console
that is restarted, and the phones keep their page."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from runbook_tui.ui.dialogs import _Dialog
from runbook_tui.ui.floor_server import close, qr_text, serving

START_WAIT_S = 10.0


class FloorDialog(_Dialog):
    BINDINGS = [Binding("escape,w", "cancel", "Close")]

    def __init__(self, runs_dir: Path, room: str, settings_file: Path | None) -> None:
        super().__init__()
        self.runs_dir, self.room, self.settings_file = runs_dir, room, settings_file

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog floor"):
            yield Label(Text("Floor view: the run, seen from the room", style="bold"))
            yield VerticalScroll(Static("", id="floor-state"))
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start it", id="floor-start", variant="primary")
                yield Button("Close it", id="floor-close", variant="error")
                yield Button("Back", id="floor-back")
            yield Label("", id="dialog-error")

    def on_mount(self) -> None:
        super().on_mount()
        self.show()

    def show(self) -> None:
        info = serving(self.runs_dir)
        text = Text()
        if info is None:
            text.append("Not serving.\n", style="bold")
            text.append("Start it to show this room's run on a phone at the room: the person there sees each step as "
                        "it happens and confirms, by name, the steps only they can see. Each start draws a new link.\n")
        else:
            since = time.strftime("%H:%M:%S", time.localtime(info.started))
            text.append(f"Serving {info.room} since {since}. Open on the phone:\n", style="bold")
            text.append(info.url + "\n\n")
            text.append(qr_text(info.url) + "\n")
            text.append("\nAnyone with the link sees the run and can confirm the steps left to the room. "
                        "Closing it ends every open page; a new start draws a new link.\n", style="dim")
        self.query_one("#floor-state", Static).update(text)
        self.query_one("#floor-start", Button).display = info is None
        self.query_one("#floor-close", Button).display = info is not None
        # Enter starts it when it is not serving; while it serves, Enter only goes back.
        self.query_one("#floor-start" if info is None else "#floor-back", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "floor-back":
            self.dismiss(None)
        elif event.button.id == "floor-start":
            event.button.disabled = True
            self.query_one("#floor-state", Static).update("Starting…")
            self.start()
        elif event.button.id == "floor-close":
            self.stop()

    @work(thread=True, exclusive=True)
    def start(self) -> None:
        argv = [sys.executable, "-m", "runbook_tui"]
        if self.settings_file is not None:
            argv += ["--settings", str(self.settings_file)]
        argv += ["floor", self.room]
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        log = self.runs_dir / "floor-view.log"
        with open(log, "ab") as out:
            # Its own session: it outlives this console (restarted, or crashed) until closed.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + START_WAIT_S
        while serving(self.runs_dir) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if serving(self.runs_dir) is None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            self.app.call_from_thread(self.refuse, f"It did not start: {tail[0] if tail else 'see ' + str(log)}")
        self.app.call_from_thread(self._started)

    def _started(self) -> None:
        self.query_one("#floor-start", Button).disabled = False
        self.show()

    @work(thread=True, exclusive=True)
    def stop(self) -> None:
        close(self.runs_dir)
        self.app.call_from_thread(self.show)
