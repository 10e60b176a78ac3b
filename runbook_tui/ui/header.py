"""Textual's Header, with title watchers that outlive its being taken down.

Header (textual 8.2.8, `Header._on_mount`) watches the app's and the screen's title and
sub-title, and on each change looks its HeaderTitle up with `query_one`, letting NoMatches
through. Seen on a loaded machine: the opening screen was being taken down (its HeaderTitle
already removed) when the run's screen set the title, and the app ended on NoMatches. The run's
header changes its sub-title every second, so the window recurs: this one updates the titles
it has, none while it goes.
"""

from __future__ import annotations

from textual.css.query import NoMatches
from textual.events import Mount
from textual.widgets import Header
from textual.widgets._header import HeaderTitle


class SteadyHeader(Header):
    def _on_mount(self, event: Mount) -> None:
        # Header's own _on_mount (its unguarded watchers) is not run after this one, nor Widget's,
        # which only shows scrollbars for `overflow: scroll` (a header has none).
        event.prevent_default()

        async def set_title() -> None:
            try:
                title = self.format_title()
            except NoMatches:  # the screen itself is going
                return
            for shown in self.query(HeaderTitle):  # none while it is being taken down
                shown.update(title)

        self.watch(self.app, "title", set_title)
        self.watch(self.app, "sub_title", set_title)
        self.watch(self.screen, "title", set_title)
        self.watch(self.screen, "sub_title", set_title)
