"""The console's side of the floor view (w): is it serving, its link and QR code, start it,
close it. The server runs as its own process (runbook-tui floor), so it outlives a console
that is restarted, and the phones keep their page."""

from __future__ import annotations

import os
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

from runbook_tui.engine.floor import close, log_path, loopback_only, serving
from runbook_tui.ui.dialogs import _Dialog
from runbook_tui.ui.floor_server import qr_text

START_WAIT_S = 10.0
QR_ROWS = 34  # a terminal this tall shows the QR code whole inside the dialog


class FloorDialog(_Dialog):
    BINDINGS = [Binding("escape,w", "cancel", "Close")]

    def __init__(self, runs_dir: Path, room: str, settings_file: Path | None, listen: tuple[str, int],
                 public_url: str | None) -> None:
        super().__init__()
        self.runs_dir, self.room, self.settings_file = runs_dir, room, settings_file
        self.loopback = loopback_only(listen[0], public_url)

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
        info = serving(self.runs_dir, self.room)
        text = Text()
        if info is None:
            text.append("Not serving.\n", style="bold")
            text.append("Start it to show this room's run on a phone at the room: the person there sees each step as "
                        "it happens and confirms, by name, the steps only they can see. Each start draws a new link.\n")
        else:
            since = time.strftime("%H:%M:%S", time.localtime(info.started))
            text.append(f"Serving {info.room} since {since}. Open on the phone:\n", style="bold")
            text.append(info.url + "\n")
            if self.loopback:
                text.append("Only this machine can open it: for phones, set [floor] listen and public_url in the settings.\n",
                            style="bold yellow")
            if self.app.size.height >= QR_ROWS:
                text.append("\n" + qr_text(info.url) + "\n")
            else:
                text.append(f"(its QR code needs a terminal {QR_ROWS} rows tall; the link above works)\n", style="dim")
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
        log = log_path(self.runs_dir, self.room)
        # Private and new each start: it holds the link, token included.
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            # Its own session: it outlives this console (restarted, or crashed) until closed.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + START_WAIT_S
        while serving(self.runs_dir, self.room) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if serving(self.runs_dir, self.room) is None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            self.app.call_from_thread(self.refuse, f"It did not start: {tail[0] if tail else 'see ' + str(log)}")
        self.app.call_from_thread(self._started)

    def _started(self) -> None:
        self.query_one("#floor-start", Button).disabled = False
        self.show()

    @work(thread=True, exclusive=True)
    def stop(self) -> None:
        close(self.runs_dir, self.room)
        self.app.call_from_thread(self.show)
