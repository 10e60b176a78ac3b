"""A running core whose dispatch flag differs from its .env: the words say why only as far as
the room shows it. Compose reads a variable from the environment of whoever runs it before the
.env, so only a .env written after the core started shows that the file changed since."""

from __future__ import annotations

import dataclasses

from runbook_tui.observe.model import FilesView
from runbook_tui.rules.conditions import _started_epoch, env_differs_cause, evaluate
from tests.observations import broker, room, stack

STARTED = "2026-12-02T02:00:00Z"  # when tests.observations' containers started
CHANGED = "the .env changed after it started: recreate it"
ELSEWHERE = "started with a value its .env does not say (set in the environment of whoever started it?)"


def test_only_a_env_written_after_the_core_started_is_said_to_have_changed():
    started = _started_epoch(STARTED)
    assert env_differs_cause(STARTED, started + 60) == CHANGED
    assert env_differs_cause("2026-12-02T02:00:00.123456789Z", started + 1) == CHANGED
    assert env_differs_cause(STARTED, started - 3600) == ELSEWHERE  # exported where compose ran
    assert env_differs_cause(STARTED, None) == ELSEWHERE  # the .env's time unknown: cannot tell
    assert env_differs_cause("not a time", started + 60) == ELSEWHERE


def standby_started_with_dispatch_on(env_mtime: float | None):
    """The standby's core runs with dispatch enabled; its .env says false."""
    obs = room([stack("primary", core="exited"), stack("standby", dispatch=True)], [broker("standby")])
    stacks = tuple(dataclasses.replace(f, env_mtime=env_mtime) for f in obs.files.stacks)
    return dataclasses.replace(obs, files=FilesView(stacks, obs.files.at))


def test_a_core_started_with_a_value_set_on_the_command_line_is_not_blamed_on_the_env():
    # Seen: CORE_DISPATCH_ENABLED=true exported where `compose up` ran, the .env untouched since
    # long before, said "changed in .env, not yet recreated".
    verdict = evaluate("standby_core_dispatch_disabled", standby_started_with_dispatch_on(_started_epoch(STARTED) - 3600))
    assert not verdict.holds
    assert verdict.detail == f"running core started with CORE_DISPATCH_ENABLED=true (.env says false: {ELSEWHERE})"
    assert "changed" not in verdict.detail


def test_a_env_written_after_the_core_started_asks_for_a_recreate():
    verdict = evaluate("standby_core_dispatch_disabled", standby_started_with_dispatch_on(_started_epoch(STARTED) + 60))
    assert not verdict.holds
    assert verdict.detail == f"running core started with CORE_DISPATCH_ENABLED=true (.env says false: {CHANGED})"
