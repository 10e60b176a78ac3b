"""The header outlives a title set while it is being taken down (seen on a loaded machine: the
opening screen's header, its title already removed, ended the app on NoMatches when the run's
screen set the title)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Header
from textual.widgets._header import HeaderTitle

from runbook_tui.ui.header import SteadyHeader


def app_with(header: type[Header]) -> App:
    class OneHeader(App):
        def compose(self) -> ComposeResult:
            yield header()

    return OneHeader()


async def set_title_while_its_title_is_gone(app: App) -> None:
    async with app.run_test() as pilot:
        await app.query_one(HeaderTitle).remove()  # taken down child first, as a screen going is
        app.title = "room1 · LAB"
        app.sub_title = "00:00:01"
        await pilot.pause()


@pytest.mark.asyncio
async def test_textuals_header_ends_the_app_there_and_the_steady_one_does_not():
    with pytest.raises(Exception, match="HeaderTitle"):  # what was seen: the reason for SteadyHeader
        await set_title_while_its_title_is_gone(app_with(Header))
    app = app_with(SteadyHeader)
    await set_title_while_its_title_is_gone(app)
    assert app.return_code in (None, 0)


@pytest.mark.asyncio
async def test_the_steady_header_shows_the_title_and_follows_it():
    app = app_with(SteadyHeader)
    async with app.run_test() as pilot:
        app.title = "room9 · LAB"
        await pilot.pause()
        assert "room9 · LAB" in str(app.query_one(HeaderTitle).render())
