"""What the UI tests share: waiting for a state, and reading what the app shows."""

from __future__ import annotations

import asyncio
import re
import time

from tests.conftest import REPO, settings_without_dns


async def wait_until(pilot, predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        # What the screen said meanwhile: a refusal in a notice is most often why.
        assert time.monotonic() < deadline, f"condition not reached; notices: {notices(pilot.app)}"
        await pilot.pause(0.05)



async def laid_out(pilot, screen, timeout: float = 10.0) -> None:
    """Until a screen under a dialog has handled what it was told and laid it out. The pilot
    waits only for the screen on top; one under it lays out on its own timer, after its widgets
    asked it to (seen under load: the guard_refused snapshot caught the banner behind the dialog
    on one line of its two). Textual's flags, read as Pilot reads the screen on top."""
    deadline = time.monotonic() + timeout
    while True:
        handled = []
        for pump in (pilot.app, *screen.walk_children(with_self=True)):
            done = asyncio.Event()
            if pump.call_later(done.set):
                handled.append(done.wait())
        await asyncio.wait_for(asyncio.gather(*handled), max(0.1, deadline - time.monotonic()))
        if not any(widget._layout_required for widget in screen.walk_children(with_self=True)):
            return
        assert time.monotonic() < deadline, "the screen under the dialog was not laid out in time"
        await pilot.pause(0.02)


async def confirm_run(pilot, app, typed_room: str | None = None) -> None:
    """r on the selected step, then Enter once its confirmation is on screen (the room id typed
    first where asked). An Enter typed before the dialog is up is dropped on purpose (it must not
    confirm what the operator has not seen), so a test that presses both at once races the dialog."""
    from runbook_tui.ui.dialogs import ConfirmRun

    await pilot.press("r")
    # Up and focused: Enter presses the focused Run button (the room id's field, where asked).
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmRun) and app.screen.focused is not None)
    if typed_room is not None:
        await pilot.press(*typed_room)
    await pilot.press("enter")


def selected(app) -> str | None:
    """The step under the run's cursor; None before the run is on screen."""
    return app.run_screen.selected if app.run_screen is not None else None


def notices(app) -> list[str]:
    """The notices on screen now, as their markup."""
    return [str(n.message) for n in app._notifications]


def footer_keys(app) -> dict[str, tuple[int, int]]:
    """The keys an operator can read in the footer, by action (a step action by its own name:
    "run" for step('run')): whole, on screen, not under the palette's label."""
    from textual.widgets._footer import FooterKey

    keys = list(app.screen.query(FooterKey))
    palette = [k for k in keys if k.has_class("-command-palette") and k.region.width]
    limit = palette[0].region.x if palette else app.size.width
    return {action_name(k.action): (k.region.x, k.region.right) for k in keys
            if not k.has_class("-command-palette") and k.region.width == k.outer_size.width and 0 < k.region.right <= limit}


def action_name(action: str) -> str:
    """A footer key's action as the tests name it: step('run') is "run", app.help is "help"."""
    return re.sub(r"^step\('(\w+)'\)$", r"\1", action.removeprefix("app."))


def promotion_on_site(tmp_path, room: str = "room9", **settings):
    """A session of the real promotion checklist on a site (not the lab) whose stack root is
    tmp_path: no stacks, no fence command, nothing of the lab."""
    from runbook_tui.session import Session

    (tmp_path / "infra").mkdir(exist_ok=True)
    return Session(settings_without_dns(tmp_path, lab=False, **settings), room,
                   REPO / "checklists" / "promotion.yaml")
