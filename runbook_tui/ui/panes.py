"""The three panes (checklist, step, live) and how they fold on a narrow terminal.

Two screens draw them: the opening screen, the first frame, before the checklist and the
engine load (placeholders), and the run's screen (`run_screen.RunScreen`) once they have. They
look the same, so that opening a run changes what the panes say, never where they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.system_commands import SystemCommandsProvider
from textual.widget import Widget
from textual.widgets import Static

from runbook_tui.ui.footer import SteadyFooter
from runbook_tui.ui.header import SteadyHeader

if TYPE_CHECKING:
    from textual import getters
    from textual.widgets import Tabs  # loaded when the screen first turns narrow (_new_pane_tabs)

    from runbook_tui.ui.app import RunbookApp

NARROW_WIDTH = 110  # below this (or 30 rows) the three panes fold into tabs
NARROW_HEIGHT = 30
PANES = ("checklist", "step", "live")


class MainArea(Horizontal):
    """The panes' container; it resizes with the terminal, so it tells its screen to re-lay out
    (the app's own resize event does not reach handlers)."""

    def on_resize(self) -> None:
        screen = self.screen
        if isinstance(screen, PanesScreen):
            screen.apply_layout()


# The banner's reasons by their source, the most urgent first (a hold's source is "hold:...").
_URGENCY = {"alarm": 0, "guard": 1, "hold": 2, "procedure": 3}


class PanesScreen(Screen):
    """Header, banner, the three panes and the footer. Subclasses give the panes' widgets."""

    if TYPE_CHECKING:  # Textual's typed app, for the checker: these screens are only ever the runbook app's
        app = getters.app(RunbookApp)

    def __init__(self) -> None:
        super().__init__()
        self.pane = "checklist"
        # The pane tabs exist only once the screen is narrow: on a wide one nothing shows them,
        # and their widgets cost the first frame a few per cent (built in apply_layout).
        self._pane_tabs: Tabs | None = None
        self._pane_tabs_mounting = False
        # Kept where it is made, not queried: the footer asks check_action for each key it shows.
        self.banner = Static(id="banner")
        self.banner.display = False  # shown with a guard's refusal, an alarm or a procedure (set_banner)
        self.banner_reasons: dict[str, str] = {}  # source (alarm, procedure, ...) -> what the banner says of it

    def panes(self) -> tuple[Widget, Widget, Widget]:
        """The checklist, step and live panes' widgets (ids checklist, step, live)."""
        raise NotImplementedError

    def set_banner(self, source: str, text: str | None) -> None:
        if text is None:
            self.banner_reasons.pop(source, None)
        else:
            self.banner_reasons[source] = text
        self.draw_banner()

    def draw_banner(self) -> None:
        """The reasons run on in one paragraph; narrow, two or more take one line each (app.tcss cuts them)."""
        from rich.text import Text

        self.banner.display = bool(self.banner_reasons)
        cut = len(self.banner_reasons) > 1 and self.is_narrow()
        self.banner.set_class(cut, "cut")
        # The most urgent first, whatever came first: an alarm, a guard's refusal, a condition
        # that no longer holds, then the procedures that answer them.
        reasons = [text for _, text in sorted(self.banner_reasons.items(), key=lambda kv: _URGENCY.get(kv[0].split(":")[0], 9))]
        if cut:
            self.banner.update(Text("\n".join("⚠ " + r for r in reasons), style="bold"))
        else:
            self.banner.update(Text("  ⚠  " + "   ⚠  ".join(reasons), style="bold"))

    def compose(self) -> ComposeResult:
        # The layout classes and the title before the widgets are styled: set in on_mount, each
        # restyled and laid out the whole screen again before the first frame.
        self._layout_classes()
        self.app.title = self.app.run_title(self.is_narrow())
        yield SteadyHeader(show_clock=not getattr(self.app, "steady", False))
        yield self.banner
        if self.is_narrow():
            yield self._new_pane_tabs()
        checklist, step, live = self.panes()
        with MainArea(id="main"):
            yield checklist
            with Vertical(id="right"):
                yield step
                yield live
        yield SteadyFooter(show_command_palette=not self.is_narrow())

    def on_mount(self) -> None:
        self.apply_layout()

    def is_narrow(self) -> bool:
        size = self.app.size
        return size.width < NARROW_WIDTH or size.height < NARROW_HEIGHT

    def _layout_classes(self) -> None:
        self.set_class(self.is_narrow(), "narrow")
        for pane in PANES:
            self.set_class(self.pane == pane, f"show-{pane}")

    def _new_pane_tabs(self) -> Tabs:
        from textual.widgets import Tab, Tabs

        self._pane_tabs_mounting = True  # its first TabActivated comes from its mount (on_tabs_tab_activated)
        tabs = Tabs(Tab("1 Checklist", id="pane-checklist"), Tab("2 Step", id="pane-step"),
                    Tab("3 Live", id="pane-live"), active=f"pane-{self.pane}", id="pane-tabs")
        # The panes are chosen with 1, 2, 3 (or a click): the strip never takes the keys' focus
        # from the pane they chose (seen in CI: focus on the strip after "3 ] ]" typed at start).
        tabs.can_focus = False
        self._pane_tabs = tabs
        return tabs

    def apply_layout(self) -> None:
        narrow = self.is_narrow()
        if narrow and self._pane_tabs is None and self.banner.is_attached:
            self.mount(self._new_pane_tabs(), after=self.banner)
        self._layout_classes()
        self.app.title = self.app.run_title(narrow)
        self.draw_banner()
        footers = self.query(SteadyFooter)
        if footers and footers.first().show_command_palette == narrow:
            # At 80 columns the palette's label would cover "? Help" and "q Quit"; ctrl+p still
            # works and the help screen names it.
            footers.first().show_command_palette = not narrow
            self.refresh_bindings()  # the footer redraws its keys

    def show_pane(self, pane: str) -> None:
        self.pane = pane
        self.apply_layout()  # on a screen just turned narrow, the tabs are made on this pane
        if self._pane_tabs is not None and not self._pane_tabs_mounting:
            self._pane_tabs.active = f"pane-{pane}"

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:  # Tabs loads when the screen turns narrow
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


class OpeningScreen(PanesScreen):
    """The first frame: the panes say the checklist is opening; nothing heavy is loaded yet.
    Its only keys are the app's (help, quit): what is typed for the run waits (typeahead.py)."""

    COMMANDS = {SystemCommandsProvider}  # the run's steps are in the run screen's palette

    def panes(self) -> tuple[Widget, Widget, Widget]:
        from rich.text import Text

        from runbook_tui.ui.checklist_view import ChecklistView
        from runbook_tui.ui.step_view import StepView

        checklist = ChecklistView(id="checklist")
        checklist.root.add_leaf(Text("Opening the checklist…", style="dim"))
        return checklist, StepView(id="step", output_later=True), Static("Live: connecting…", id="live")
