"""The venue view: a row per room of the venue, its standby's readiness, and Enter to open a room.

The operator's first questions in an incident: which rooms are affected, and is their standby
ready? Each row is the rules' reading (`rules.venue.venue_row`) of a cheap one-shot look
(`observe.venue.VenueWatcher`): no traffic probes for rooms that are not open. Enter on a room
offers its checklists; the chosen one opens in the runbook app, and quitting it comes back here.

A room's non-normal procedures are judged on the same looks (`venue_procedures.py`, the run's
own trigger rules): one whose trigger fires is raised on the room's row, and Enter there opens
the room's run (its unfinished one is offered, as from the chooser) with that procedure queued
and open, its first step under the cursor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from runbook_tui.engine.room_hold import Holder, room_holder
from runbook_tui.observe.model import RoomObservation
from runbook_tui.observe.payloads import safe_text
from runbook_tui.observe.site import room_site
from runbook_tui.observe.venue import PERIOD_S, VenueWatcher
from runbook_tui.rules.venue import VenueRow, venue_row
from runbook_tui.session import ChecklistOffer, room_checklists
from runbook_tui.settings import Settings
from runbook_tui.ui.crash_safe import CrashToFile
from runbook_tui.ui.dialogs import ChecklistChooser, HelpScreen
from runbook_tui.ui.footer import SteadyFooter
from runbook_tui.ui.header import SteadyHeader
from runbook_tui.ui.venue_procedures import Raised, VenueProcedures

# No "seen" column: at 80 columns it pushed the standby's readiness off screen. A room whose
# look is late says so in its own cell, and the pane below says when it was looked at.
COLUMNS = (("room", "Room"), ("active", "Active"), ("dns", "DNS"), ("controllers", "Controllers"),
           ("alarm", "Alarm"), ("standby", "Standby"))

VENUE_HELP = """\
[b]The venue[/b]: every room of the site, looked at every few seconds
(files, both stacks' containers, both brokers, every resolver).
Nothing here acts on a room.

[b]Columns[/b]
  Room         ✎ NAME: the room is open on another console (Enter says
               whose: one console acts on a room)
  Active       whose core is up with dispatch enabled (BOTH: dual control)
  DNS          where the resolvers point mqtt.<room>: once when they
               agree, else how many say what (each in the pane below)
  Controllers  the controllers online, and on which broker
  Alarm        dual control, DNS split (resolvers that disagree), DNS
               not on the active stack (in full in the pane below);
               ⚑ a non-normal procedure the room raised (its trigger
               held its time on the looks): Enter opens it
  Standby      readiness per runbook section 5; the pane below says
               each check, and the runbook command that fixes it
               (after a promotion: the pair as it stands, the
               primary quiet and ready for failback)

[b]Keys[/b]
  ↑ ↓          select a room
  Enter  o     open the room's checklists (an unfinished run is offered);
               on a room with a ⚑ procedure: the room's run on that
               procedure, queued and open
  l            look at every room again now
  ?            this help
  q            quit
"""


@dataclass(frozen=True)
class VenueChoice:
    room: str
    checklist: Path
    procedure: str | None = None  # a procedure raised on the room's row: the run opens on it
    detail: str = ""  # what its trigger saw


class VenueApp(CrashToFile, App[VenueChoice | None]):
    CSS_PATH = Path(__file__).parent / "app.tcss"
    CSS = """
    #venue-rooms { height: auto; max-height: 50%; min-height: 5; border: round $primary; }
    #venue-detail { height: 1fr; border: round $secondary; padding: 0 1; }
    """
    TITLE = "runbook-tui · venue"
    BINDINGS = [
        Binding("o", "open_room", "Open room", tooltip="The room's checklists (or Enter)"),
        Binding("l", "look_now", "Look now", tooltip="Look at every room again now"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings, rooms: list[str], notice: str = "", period_s: float = PERIOD_S,
                 live: bool = True, selected: str | None = None) -> None:
        """selected: the room the cursor starts on (the one the operator came back from)."""
        super().__init__()
        self.settings, self.rooms, self.notice, self.selected = settings, rooms, notice, selected
        self.period_s, self.live = period_s, live
        self.rows: dict[str, VenueRow] = {}
        self.errors: dict[str, str] = {}
        self.watcher: VenueWatcher | None = None
        self.procedures = VenueProcedures({room: settings.for_room(room).checklist for room in rooms})
        self.raised: dict[str, tuple[Raised, ...]] = {}  # room -> procedures raised on its row
        self.holders: dict[str, Holder] = {}  # room -> the console that has it open (one console acts on a room)
        self._relook_at: float | None = None  # a look asked for when an episode will have held its time

    def crash_dir(self) -> Path | None:
        return self.settings.runs_dir

    def crash_root(self) -> Path | None:
        return self.settings.stack_root

    def compose(self) -> ComposeResult:
        yield SteadyHeader()
        yield DataTable(id="venue-rooms", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="venue-detail"):
            yield Static(id="venue-room")
        yield SteadyFooter()

    def on_mount(self) -> None:
        s = self.settings
        # The file's name here (the full path is in the help and on the command line's last words).
        self.sub_title = f"{len(self.rooms)} rooms · " + (s.source.name if s.source else "training lab") + (" · LAB" if s.lab else "")
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        for room in self.rooms:
            table.add_row(Text(room, style="bold"), *(Text("looking…", style="dim") for _ in COLUMNS[1:]), key=room)
        table.focus()
        if self.selected in self.rooms:
            table.move_cursor(row=self.rooms.index(self.selected))
        if self.notice:
            self.notify(self.notice, severity="error", timeout=15, markup=False)
        self._show_detail()
        if self.live:
            sites = {room: room_site(s.for_room(room)) for room in self.rooms}
            self.watcher = VenueWatcher(sites, self.room_looked, period_s=self.period_s)
            self.watcher.start()
        self.set_interval(1.0, self._age_cells)

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    # ---- what the looks say ------------------------------------------------------------
    def room_looked(self, room: str, obs: RoomObservation | None, error: str) -> None:
        """What the venue watcher calls with each look at a room (tests call it with observations
        of their own). On the look's thread: judged there (pure rules), shown on the app's loop."""
        row = venue_row(obs) if obs is not None else None
        raised, due = None, None
        if obs is not None:
            raised, _changes, due = self.procedures.see(room, obs)
        try:
            holder = room_holder(self.settings.for_room(room).runs_dir, room)
        except OSError:
            holder = None  # the runs folder unreadable: said by the console that tries to open it
        if holder is not None and raised is not None:
            # A room open on a console: its run queues its own procedures, those of its own
            # checklist. Seen on a site walk: mid-failback on another console, the row raised the
            # promotion's "the primary came back" over the failback's own step. Judged still (the
            # hold time counts), raised once the console lets the room go.
            raised = ()
        try:
            self.call_from_thread(self.show_holder, room, holder)
            self.call_from_thread(self.show_row, room, row, error, raised)
            if due is not None:
                self.call_from_thread(self._look_when_held, due)
        except RuntimeError:
            pass  # the app is closing

    def _look_when_held(self, due: float) -> None:
        """A condition began to hold: the rooms are looked at again once it has held its time, not
        a period later, so that its row raises the procedure within one look cycle."""
        if self.watcher is None or (self._relook_at is not None and self._relook_at <= due):
            return
        self._relook_at = due

        def look() -> None:
            self._relook_at = None
            if self.watcher is not None:
                self.watcher.look_now()

        self.set_timer(max(0.1, due - time.time() + 0.1), look)

    def show_row(self, room: str, row: VenueRow | None, error: str = "", raised: tuple[Raised, ...] | None = None) -> None:
        """raised: the procedures raised on the room after this look (None: as they were)."""
        table = self.query_one(DataTable)
        if raised is not None:
            before = {r.procedure for r in self.raised.get(room, ())}
            self.raised[room] = raised
            for new in (r for r in raised if r.procedure not in before):
                self.notify(f"{room}: {safe_text(new.title, 120)}: {safe_text(new.detail, 200)}. Enter on its row opens it.",
                            title="Non-normal procedure", severity="error", timeout=15, markup=False)
        if row is None:
            self.errors[room] = error
            table.update_cell(room, "active", Text("look failed", style="bold red"), update_width=True)
            # Cut short like every cell, so the Standby column stays on screen: the pane says it all.
            table.update_cell(room, "alarm", Text(safe_text(error, 30), style="red"), update_width=True)
        else:
            self.errors.pop(room, None)
            self.rows[room] = row
            for key, cell in self._cells(row).items():
                table.update_cell(room, key, cell, update_width=True)
        if self.raised.get(room):
            # Over the alarm's words (the pane below says both): what to do comes first.
            first = self.raised[room][0]
            more = f" +{len(self.raised[room]) - 1}" if len(self.raised[room]) > 1 else ""
            table.update_cell(room, "alarm", Text(f"⚑ {safe_text(first.short, 30)}{more}", style="bold white on red"),
                              update_width=True)
        if self._selected() == room:
            self._show_detail()

    @staticmethod
    def _cells(row: VenueRow) -> dict[str, Text]:
        active_style = {"both": "bold white on red", "unknown": "yellow", "none": "yellow"}.get(row.active, "green")
        kinds = {where for _resolver, where in row.dns}
        ready = row.ready_short
        ready_style = "green" if ready.startswith("ready") else "bold red"
        created = not (row.readiness.checks and row.readiness.checks[0].name == "stacks created")
        return {
            "active": Text("BOTH" if row.active == "both" else row.active, style=active_style) if created
            else Text("not created", style="yellow"),
            "dns": Text(safe_text(row.dns_short, 30), style="" if kinds == {row.active} else "yellow"),
            "controllers": Text(safe_text(row.controllers_short, 60),
                                style={True: "green", False: "bold yellow", None: ""}[row.controllers_ok]),
            "alarm": Text(safe_text(row.alarm_short, 60) or "-", style="bold red" if row.alarm else "dim"),
            "standby": Text(safe_text(ready, 60), style=ready_style),
        }

    def show_holder(self, room: str, holder: Holder | None) -> None:
        """Another console has the room open: its row says so, and Enter says who instead of opening
        a run the one-console rule would refuse."""
        if holder is None:
            self.holders.pop(room, None)
        else:
            self.holders[room] = holder
        self._room_cell(room)

    def _room_cell(self, room: str) -> None:
        row = self.rows.get(room)
        late = row is not None and time.time() - row.at > 3 * self.period_s + 5
        held = self.holders.get(room)
        words = room + (" (late)" if late else "") + (f" ✎ {safe_text(held.operator, 12)}" if held else "")
        self.query_one(DataTable).update_cell(room, "room", Text(words, style="bold yellow" if late else "bold"),
                                              update_width=True)

    def _age_cells(self) -> None:
        """A room not looked at for three periods says so in its cell (an unreachable room's looks are slow)."""
        for room in self.rows:
            self._room_cell(room)

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.rooms or table.cursor_row >= len(self.rooms):
            return None
        return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value

    @on(DataTable.RowSelected)
    def _selected_row(self) -> None:
        self.action_open_room()  # Enter on the table (it takes the key before the app's binding)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        room = self._selected()
        out = Text()
        if room is None:
            out.append("No rooms.")
        elif room in self.errors:
            out.append(f"{room}: the look failed: {safe_text(self.errors[room], 300)}", style="red")
        elif room not in self.rows:
            out.append(f"{room}: looking…", style="dim")
        else:
            row = self.rows[room]
            out.append(f"{room}", style="bold")
            out.append(f"  looked at {time.strftime('%H:%M:%S', time.localtime(row.at))}; active: {row.active_detail}\n")
            if (held := self.holders.get(room)) is not None:
                out.append(f"  ✎ open on another console: {safe_text(held.words(), 300)}\n", style="bold yellow")
            for (resolver, where), detail in zip(row.dns, row.dns_details, strict=True):
                out.append(f"  DNS {resolver}: {safe_text(where, 80)}" + (f" ({safe_text(detail, 200)})" if detail else "") + "\n")
            out.append(f"  controllers: {safe_text(row.controllers, 200)}\n")
            if row.alarm:
                out.append(f"  ALARM: {safe_text(row.alarm, 300)}\n", style="bold red")
            for raised in self.raised.get(room, ()):
                out.append(f"  ⚑ NON-NORMAL PROCEDURE since {time.strftime('%H:%M:%S', time.localtime(raised.since))}: "
                           f"{safe_text(raised.title, 200)}\n", style="bold white on red")
                out.append(f"    {safe_text(raised.detail, 300)}\n    Enter opens the room's run on it.\n", style="bold")
            out.append(f"\nStandby readiness (runbook 5; active: {row.readiness.active}): {row.ready_words}\n", style="bold")
            for check in row.readiness.checks:
                mark, style = {True: ("ok  ", "green"), False: ("FAIL", "bold red"), None: ("info", "dim")}[check.ok]
                out.append(f"  {mark} ", style=style)
                out.append(f"{check.name}: {safe_text(check.detail, 300)}\n")
                if check.ok is False and check.fix:
                    out.append(f"       fix, from {self.settings.stack_root}: {safe_text(check.fix, 300)}\n", style="yellow")
            if room in self.holders:
                out.append("\nEnter says which console has it: one console acts on a room.", style="dim")
            else:
                out.append("\nEnter opens the room's run on the procedure raised." if self.raised.get(room)
                           else "\nEnter opens the room's checklists.", style="dim")
        self.query_one("#venue-room", Static).update(out)

    # ---- actions -----------------------------------------------------------------------
    def action_open_room(self) -> None:
        room = self._selected()
        if room is None or len(self.screen_stack) > 1:
            return
        if (held := self.holders.get(room)) is not None:
            # One console acts on a room: opening it here would be refused after the venue closed.
            self.notify(f"{room} is open on another console: {safe_text(held.words(), 300)}. Work it there, or "
                        "close that console first.", title="Not opened", severity="warning", timeout=10, markup=False)
            return
        offers = room_checklists(self.settings, room)
        if self.raised.get(room):
            first = self.raised[room][0]
            home = Path(self.settings.for_room(room).checklist).resolve()
            elsewhere = [o for o in offers if o.unfinished is not None and o.path.resolve() != home]
            if not elsewhere:
                # The procedure the row raised: the room's run opens on it (no chooser: it is what the row asks for).
                self.exit(VenueChoice(room, self.settings.for_room(room).checklist, first.procedure, first.detail))
                return
            # Seen on a site walk: mid-failback (no console open) the row raised "the primary came
            # back after the promotion", and Enter opened a new promotion run over the failback.
            # The unfinished run is offered first; it queues the procedures of its own checklist.
            self.notify(f"{room}: an unfinished {elsewhere[0].name} run waits. Choose it to go on (it queues its own "
                        f"procedures), or another checklist.", title=safe_text(first.short, 60), severity="warning",
                        timeout=10, markup=False)
        self.push_screen(ChecklistChooser(room, offers), lambda offer: self._open(room, offer))

    def _open(self, room: str, offer: ChecklistOffer | None) -> None:
        if offer is not None:
            self.exit(VenueChoice(room, offer.path))

    def action_look_now(self) -> None:
        if self.watcher is not None:
            self.watcher.look_now()
            self.notify("Looking at every room again.", timeout=3)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(VENUE_HELP + f"\n[b]Settings[/b]\n  {escape(self.settings.described_as)}\n"
                                    f"  stack root {escape(str(self.settings.stack_root))}\n"))
