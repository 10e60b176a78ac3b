"""A drill as a trainee meets it: `runbook-tui drill` in a terminal (tmux), keystrokes only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.lab.test_70_tui_promotion import SESSION, goto, keys, tmux, wait_screen

ROOM = "room7"


def test_a_flapping_primary_drill_in_the_tui(lab):
    env = " ".join(f"{k}={v}" for k, v in lab.env().items())
    drill = f"{Path(sys.executable).parent / 'runbook-tui'} drill {ROOM} --scenario flapping-primary"
    tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40",
         f"cd {lab.root} && env -u COLUMNS -u LINES {env} {drill}; sleep 3600")
    tmux("resize-window", "-t", SESSION, "-x", "120", "-y", "40")
    try:
        wait_screen("DRILL flapping-primary", 180)  # the room started over, the fault in, the checklist open
        wait_screen("Done on sensed evidence", 30)
        # The live panel shows the core coming back again and again; the guard refuses the standby.
        goto("Enable dispatch on the standby core")
        keys("r", ROOM, "Enter")
        shown = wait_screen("Guard refused", 30)
        assert "primary_not_dispatching" in shown and "room7-primary sentient-core:" in shown
        keys("Escape")
        keys("q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        down = lab.sh(f"runbook-tui lab down {ROOM} --purge", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
