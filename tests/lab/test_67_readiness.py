"""`runbook-tui readiness` on three real lab rooms: one in line with its primary, one whose
standby drifted (core version and config), one whose standby passwd is stale. Exactly the two
are not ready, each saying why and how to fix it; the runbook's fix turns one ready in seconds."""

from __future__ import annotations

import json
import time

import pytest

ROOMS = ("room7", "room8", "room9")


@pytest.fixture(scope="module")
def three_rooms(lab):
    with lab.extra_room("room7"), lab.extra_room("room8"), lab.extra_room("room9"):
        yield lab


def test_readiness_names_exactly_the_rooms_that_are_not_ready_and_why(three_rooms):
    lab = three_rooms
    for room, fault in (("room8", "standby-drift"), ("room9", "standby-passwd-stale")):
        r = lab.sh(f"runbook-tui lab fault {room} {fault}", timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    r = lab.sh(f"runbook-tui readiness --json {' '.join(ROOMS)}", timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "settings: none (the training lab)" in r.stderr
    result = {x["room"]: x for x in json.loads(r.stdout)}
    assert all(x["fixes_run_from"] == str(lab.root) for x in result.values())  # the fixes' paths are the stack root's
    assert {room for room, x in result.items() if not x["ready"]} == {"room8", "room9"}
    failed = {room: {c["check"]: c for c in x["checks"] if c["ok"] is False} for room, x in result.items()}
    assert set(failed["room8"]) == {"same core version", ".env aligned"}
    assert "standby 7.9.0" in failed["room8"]["same core version"]["detail"]
    assert "running cores say primary 8.0.0, standby 7.9.0" in failed["room8"]["same core version"]["detail"]
    assert set(failed["room9"]) == {"standby passwd current"}
    fix = failed["room9"]["standby passwd current"]["fix"]
    assert fix.startswith("scripts/mosquitto-make-passwd.sh infra/rooms/room9-standby/.env")
    # The runbook's command, as printed, fixes it.
    started = time.monotonic()
    done = lab.sh(fix.replace(", then ", " && "), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    again = lab.sh("runbook-tui readiness room9", timeout=120)
    assert again.returncode == 0 and "room9: READY" in again.stdout, again.stdout + again.stderr
    assert time.monotonic() - started < 30
    table = lab.sh("runbook-tui readiness room8", timeout=120)
    assert table.returncode == 1 and "room8: NOT READY" in table.stdout and f"fix, from {lab.root}: set CORE_VERSION=8.0.0" in table.stdout
