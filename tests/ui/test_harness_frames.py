"""The UI tier's frames (tests/ui/conftest.py): drawing is skipped between keys, but a widget that
cannot draw what it shows when the app closes still fails its test."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget


class Brittle(Widget):
    broken = False

    def render(self) -> str:
        if self.broken:
            raise RuntimeError("cannot draw")
        return "fine"


class BrittleApp(App):
    def compose(self) -> ComposeResult:
        yield Brittle()


@pytest.mark.asyncio
async def test_a_widget_that_cannot_draw_its_last_state_fails_the_test():
    app = BrittleApp()
    with pytest.raises(RuntimeError, match="cannot draw"):
        async with app.run_test() as pilot:
            app.query_one(Brittle).broken = True
            app.query_one(Brittle).refresh()
            await pilot.pause()


@pytest.mark.asyncio
async def test_a_widget_that_draws_passes():
    app = BrittleApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "fine" in app.export_screenshot()
