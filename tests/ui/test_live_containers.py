"""The live panel's Containers tab says why a running core differs from its .env only as far as
the room shows it (the words are the rules': tests/unit/test_39_env_differs.py)."""

from __future__ import annotations

import pytest

from runbook_tui.observe.docker_look import stack_snapshot
from runbook_tui.rules.conditions import _started_epoch
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.live_view import LiveView
from tests.observations import service
from tests.ui.test_app import session, wait_until

STARTED = _started_epoch("2026-12-02T02:00:00Z")  # tests.observations' containers


def standby(env_mtime: float | None):
    """The standby's core running with dispatch enabled while its .env says false."""
    services = (service("db"), service("mosquitto"), service("sentient-core", dispatch=True))
    return stack_snapshot("standby", "room9-standby", {"CORE_DISPATCH_ENABLED": "false"}, connected=True, error=None,
                          services=services, env_mtime=env_mtime)


@pytest.mark.asyncio
async def test_a_value_exported_where_compose_ran_is_not_blamed_on_the_env(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        live = app.run_screen.query_one(LiveView)
        live.update_containers(standby(STARTED - 3600))  # the .env last written an hour before the core started
        await pilot.pause()
        note = str(app.run_screen.query_one("#containers-note").render())
        assert ("room9-standby: running core differs from its .env: CORE_DISPATCH_ENABLED: .env false, running core "
                "true; started with a value its .env does not say (set in the environment of whoever started it?)") in note
        assert "changed" not in note and "recreate" not in note
        live.update_containers(standby(STARTED + 60))  # the .env written after it started
        await pilot.pause()
        note = str(app.run_screen.query_one("#containers-note").render())
        assert ("room9-standby: running core differs from its .env: CORE_DISPATCH_ENABLED: .env false, running core "
                "true; the .env changed after it started: recreate it") in note


@pytest.mark.asyncio
async def test_an_engine_never_reached_shows_nothing_seen_not_no_containers(tmp_path):
    # Seen: an engine that never answered showed "no containers" under "showing the last known
    # state", while the standby really had three running containers.
    from runbook_tui.probes.docker_probe import DockerProbe, DockerTarget

    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        live = app.run_screen.query_one(LiveView)
        seen = []
        probe = DockerProbe([DockerTarget("standby", "room9-standby", tmp_path / "none.env", "tcp://127.0.0.1:9")],
                            seen.append)
        probe._publish(probe.targets[0], False, "ConnectionError: refused")  # as its thread does on a failed connect
        never = seen[-1]
        assert not never.seen and never.unreachable_since is not None
        live.update_containers(never)
        await pilot.pause()
        from textual.widgets import DataTable

        table = app.run_screen.query_one("#containers", DataTable)
        cells = [str(c) for r in range(table.row_count) for c in table.get_row_at(r)]
        note = str(app.run_screen.query_one("#containers-note").render())
        assert "not seen (engine unreachable)" in cells and "nothing seen on it yet" in note
        assert "no containers" not in cells and "last state" not in note
        # Once seen, then lost: the last state seen is shown as that, and since when it is lost.
        services = (service("db"), service("mosquitto"), service("sentient-core"))
        probe._publish(probe.targets[0], True, None, (services, ()))
        probe._publish(probe.targets[0], False, "ConnectionError: refused")
        lost = seen[-1]
        assert lost.seen and lost.services == services and lost.unreachable_since is not None
        live.update_containers(lost)
        await pilot.pause()
        note = str(app.run_screen.query_one("#containers-note").render())
        assert "its Docker engine tcp://127.0.0.1:9 unreachable since" in note and "showing the last state seen there" in note


@pytest.mark.asyncio
async def test_env_values_that_differ_reach_the_containers_note_without_control_characters(tmp_path):
    """Seen on a site: both stacks' .env held `SITE_NOTE=...ESC]0;...`, with different values, and the
    note naming the drift drew them raw, retitling the terminal and clearing the screen at each redraw."""
    from runbook_tui.terminal import CONTROL

    hostile = "\x1b]0;PWN\x07\x1b[2J\u009b2J\u202ez"
    app = RunbookApp(session(tmp_path), live=False, resume=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        live = app.run_screen.query_one(LiveView)
        for role in ("primary", "standby"):
            live.update_containers(stack_snapshot(role, f"room9-{role}", {"SITE_NOTE": f"{role}{hostile}"},
                                                  connected=True, error=None, services=()))
        await pilot.pause()
        note = str(app.run_screen.query_one("#containers-note").render())
        assert "the stacks' .env files differ (runbook 5): SITE_NOTE primary" in note, note
        assert CONTROL.search(note) is None, repr(note)
        assert "\ufffd]0;PWN" in note  # shown, each control character replaced
