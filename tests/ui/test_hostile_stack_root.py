"""Whatever the stack root holds, the app opens, says what it will not read and why, and q
quits: a 2 GB sparse .env once froze it at "Opening the checklist…" (4.2 GB read), deaf to q."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from runbook_tui.session import Session
from runbook_tui.settings import LAB_VARIABLES, Settings
from runbook_tui.ui.app import RunbookApp
from tests.conftest import REPO
from tests.ui.helpers import notices, wait_until

PROMOTION = REPO / "checklists" / "promotion.yaml"


def hostile_root(root: Path) -> Settings:
    for role in ("primary", "standby"):
        stack = root / "infra" / "rooms" / f"room9-{role}"
        stack.mkdir(parents=True)
    # A sparse file: 2 GB long, no disk used; read whole it costs 2 GB of memory.
    subprocess.run(["truncate", "-s", "2G", str(root / "infra/rooms/room9-standby/.env")], check=True)
    os.mkfifo(root / "infra/rooms/room9-primary/.env")  # a FIFO: opening it to read waits for a writer
    return Settings(stack_root=root, lab=True, journal_dir=root / "runs", variables=dict(LAB_VARIABLES))


@pytest.mark.asyncio
async def test_a_huge_sparse_env_and_a_fifo_in_the_stack_root_are_said_and_q_quits(tmp_path: Path):
    from runbook_tui.session import SessionOpener

    app = RunbookApp(SessionOpener(hostile_root(tmp_path), "room9", PROMOTION), live=False, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.session, Session) and app.engine is not None, timeout=10)
        said = notices(app)
        standby = next((m for m in said if "standby stack's .env is not read" in m), None)
        primary = next((m for m in said if "primary stack's .env is not read" in m), None)
        assert standby is not None and "2048 MiB, over its cap of 4 MiB" in standby, said
        assert primary is not None and "a FIFO (named pipe), not a regular file" in primary, said
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, timeout=5)
    assert app.open_error is None
