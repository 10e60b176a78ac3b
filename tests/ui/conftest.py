"""The UI tier: Textual apps driven by its Pilot, headless.

Pilot.press waits after every key until the process looks idle: Textual samples it in 20 ms
sleeps (textual._wait, pinned with textual in pyproject) and waits two such samples a key, so
typing a reason of 20 characters cost about a second of sleeping. Here the sample is 5 ms,
with the same ratio for "idle" (a twentieth of the sample in CPU). Each key is still waited
for until its messages are handled (Pilot._wait_for_screen), as before.
"""

from __future__ import annotations

import textual._wait
import textual.constants

textual._wait.SLEEP_GRANULARITY = 1 / 200
textual._wait.SLEEP_IDLE = textual._wait.SLEEP_GRANULARITY / 20
# No animations (TEXTUAL_ANIMATIONS=none, read by each App when it is made): a tab's underline
# or a scroll drawn over many frames is CPU the tests spend without checking it, and Pilot
# waits for every animation to end after each key. What the tests check is where they end.
textual.constants.TEXTUAL_ANIMATIONS = "none"

# A headless app draws every frame only to throw it away (textual's App._display writes nothing
# without a terminal): about 45% of a UI test's CPU (bench: 390 -> 220 ms an app opened, moved in
# and closed), and the UI tier is most of the fast tiers' CPU. So here a frame is drawn when a test
# looks at one (export_screenshot and the snapshots draw their own), once as each app closes (a
# widget that cannot draw its last state still fails its test), and always in a test marked
# `frames`: one that uses the mouse (a widget learns what is under the pointer as it draws).
# The lab tier, bench.tui and the operator's terminal draw every frame.
from contextlib import asynccontextmanager  # noqa: E402

import pytest  # noqa: E402
from textual.app import App  # noqa: E402
from textual.screen import Screen  # noqa: E402

_every_frame = False
_draw = Screen._compositor_refresh
_run_test = App.run_test


def _compositor_refresh(self: Screen) -> None:
    app = self.app
    if _every_frame or not app.is_headless or app.is_inline or self is not app.screen:
        _draw(self)
        return
    self._compositor._dirty_regions.clear()
    self._dirty_widgets.clear()
    app._update_mouse_over(self)


@asynccontextmanager
async def _run_test_drawing_the_last_frame(self: App, *args, **kwargs):
    async with _run_test(self, *args, **kwargs) as pilot:
        yield pilot
        if self.is_running and self._screen_stack:
            self.screen._compositor.render_update(full=True, screen_stack=self._background_screens)


Screen._compositor_refresh = _compositor_refresh
App.run_test = _run_test_drawing_the_last_frame

# Each app parses the CSS of every widget class it shows, once (textual keeps the rules per
# stylesheet): about 30 sources, 15 ms of each test's app. Parsed once per process here instead,
# keyed as textual keys them plus the variables (the theme) the values were read with. The rules
# are only read after parsing (textual.css.stylesheet), so apps may share them.
from textual.css.stylesheet import Stylesheet  # noqa: E402

_parse_rules = Stylesheet._parse_rules
_parsed: dict[tuple, list] = {}


def _parse_rules_once(self: Stylesheet, css, read_from, is_default_rules=False, tie_breaker=0, scope=""):
    own = (css, read_from, is_default_rules, tie_breaker, scope)
    if own in self._parse_cache:
        return self._parse_cache[own]
    variables = self._variables
    if getattr(self, "_variables_keyed", (None,))[0] is not variables:
        self._variables_keyed = (variables, tuple(sorted(variables.items())))
    key = (*own, self._variables_keyed[1])
    if key not in _parsed:
        _parsed[key] = _parse_rules(self, css, read_from, is_default_rules, tie_breaker, scope)
    self._parse_cache[own] = _parsed[key]
    return _parsed[key]


Stylesheet._parse_rules = _parse_rules_once


@pytest.fixture(autouse=True)
def _frames(request):
    global _every_frame
    _every_frame = request.node.get_closest_marker("frames") is not None
    yield
    _every_frame = False
