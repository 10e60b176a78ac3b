"""The key bar at the bottom of the run and venue screens.

Textual's `Footer` rebuilds all its keys whenever the screen's bindings may have changed: each
focus move, each `refresh_bindings()`. Every rebuilt key is a new widget to mount and restyle,
so on this console a rebuild costs a few milliseconds of CPU, and most rebuilds changed nothing
(the cursor moved within the checklist). `SteadyFooter` rebuilds only when what it would show
changed, which keeps keys typed during a traffic flood from queueing behind the footer.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class SteadyFooter(Footer):
    """A `Footer` that rebuilds its keys only when the keys it shows differ."""

    _shown: tuple[object, ...] | None = None

    def _what_it_shows(self, screen: Screen) -> tuple[object, ...]:
        # The same inputs Footer.compose reads, in the same order.
        keys = tuple((binding.key, binding.action, binding.description, binding.key_display, binding.group,
                      enabled, tooltip)
                     for (_, binding, enabled, tooltip) in screen.active_bindings.values() if binding.show)
        return keys, self.show_command_palette, self.compact

    def bindings_changed(self, screen: Screen) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            shown = self._what_it_shows(screen)
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)
