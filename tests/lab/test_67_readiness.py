"""`runbook-tui readiness` on three real lab rooms: one in line with its primary, one whose
standby drifted (core version and config), one whose standby passwd is stale. Exactly the two
are not ready, each saying why and how to fix it; the runbook's fix turns one ready in seconds."""

from __future__ import annotations

import json
import re
import time

import pytest

from runbook_tui.lab.readiness import read_retained, wait_for
from tests.lab.rooms import mqtt_brokers

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


@pytest.mark.asyncio
async def test_the_venue_view_shows_the_same_two_rooms_not_ready_and_a_fix_turns_one_ready(three_rooms):
    """The TUI opened on the venue (no --room, several rooms): its rows are real one-shot looks."""
    from textual.widgets import DataTable, Static

    from runbook_tui.settings import Settings
    from runbook_tui.ui.venue import VenueApp
    from tests.conftest import TEST_DNS_PORT

    lab = three_rooms
    for room, fault in (("room8", "standby-drift"), ("room9", "standby-passwd-stale")):
        r = lab.sh(f"runbook-tui lab fault {room} {fault}", timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    settings = Settings(stack_root=lab.root, resolvers=(("127.0.0.1", int(TEST_DNS_PORT)),), lab=True)
    app = VenueApp(settings, list(ROOMS), period_s=2.0)

    def standby(room: str) -> str:
        return str(app.query_one(DataTable).get_cell(room, "standby"))

    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 60
        while not all(room in app.rows for room in ROOMS):
            assert time.monotonic() < deadline, f"rooms looked at: {sorted(app.rows)}"
            await pilot.pause(0.2)
        assert standby("room7") == "ready"
        assert standby("room8") == "NOT READY: version, .env"
        assert standby("room9") == "NOT READY: passwd S"
        for room in ROOMS:
            assert str(app.query_one(DataTable).get_cell(room, "active")) == "primary"
            assert str(app.query_one(DataTable).get_cell(room, "dns")) == "primary"
        await pilot.press("down", "down")  # room9: the pane says why, and the runbook's fix
        detail = str(app.query_one("#venue-room", Static).render())
        fix = app.rows["room9"].readiness.problems()[0].fix
        assert "FAIL standby passwd current" in detail and fix.split(",")[0] in detail
        started = time.monotonic()
        done = lab.sh(fix.replace(", then ", " && "), timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        await pilot.press("l")
        while standby("room9") != "ready":
            assert time.monotonic() - started < 30, standby("room9")
            await pilot.pause(0.2)
        assert standby("room8").startswith("NOT READY")
        await pilot.press("q")


PROMOTED = "room6"


@pytest.fixture(scope="module")
def promoted(lab):
    """A lab room promoted by the runbook's own commands (section 3): the primary shut down and
    disarmed in its .env, the standby's core recreated with dispatch enabled, the name repointed."""
    with lab.extra_room(PROMOTED):
        primary, standby = (f"infra/rooms/{PROMOTED}-{role}" for role in ("primary", "standby"))
        lab.sh(f"(cd {primary} && docker compose --env-file .env down)", timeout=300, check=True)
        for directory, value in ((primary, "false"), (standby, "true")):
            env_file = lab.root / directory / ".env"
            text = env_file.read_text()
            assert f"CORE_DISPATCH_ENABLED={'true' if value == 'false' else 'false'}" in text
            env_file.write_text(re.sub(r"(?m)^CORE_DISPATCH_ENABLED=.*$", f"CORE_DISPATCH_ENABLED={value}", text))
        lab.sh(f"(cd {standby} && docker compose --env-file .env up -d --force-recreate sentient-core)", timeout=300, check=True)
        lab.sh(f"runbook-tui lab dns point {PROMOTED} standby", check=True)
        brokers = mqtt_brokers({role: lab.root / "infra" / "rooms" / f"{PROMOTED}-{role}" for role in ("primary", "standby")})
        assert wait_for(lambda: (read_retained(brokers["standby"], "core/status") or {}).get("dispatch_enabled") is True, 60)
        yield lab


def test_readiness_after_a_promotion_judges_the_standby_as_the_active_stack(promoted):
    # Seen: readiness on a promoted room exited 1 and proposed recreating the standby with
    # dispatch off, which would disarm the only core that dispatches.
    lab = promoted
    r = lab.sh(f"runbook-tui readiness {PROMOTED}", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{PROMOTED}: READY" in r.stdout and "active: standby" in r.stdout
    assert "fix" not in r.stdout and "FAIL" not in r.stdout, r.stdout  # nothing to fix: above all, nothing to disarm
    as_json = json.loads(lab.sh(f"runbook-tui readiness --json {PROMOTED}", timeout=120, check=True).stdout)[0]
    assert as_json["ready"] is True and as_json["active"] == "standby"
    assert not any("CORE_DISPATCH_ENABLED=false" in c["fix"] for c in as_json["checks"])
    checks = {c["check"]: c for c in as_json["checks"]}
    assert "dispatch enabled" in checks["standby up, dispatching (active)"]["detail"]
    assert "CORE_DISPATCH_ENABLED=false" in checks["primary quiet, ready for failback"]["detail"]


def set_dispatch(lab, stack: str, value: str) -> None:
    env_file = lab.root / "infra" / "rooms" / stack / ".env"
    env_file.write_text(re.sub(r"(?m)^CORE_DISPATCH_ENABLED=.*$", f"CORE_DISPATCH_ENABLED={value}", env_file.read_text()))


def test_keeping_the_standby_current_after_a_promotion_copies_back_or_discards_as_a_decision(promoted):
    # Seen: the restore refused to lose the promotion's smoke-test record on the standby and said
    # "take a new backup of the primary first", which cannot help; the only way on was
    # --discard-newer, which left no trace in .last-restore; readiness said "ready" meanwhile.
    lab = promoted
    primary, standby = f"{PROMOTED}-primary", f"{PROMOTED}-standby"
    lab.sh(f"scripts/core-dispatch.sh --env-file infra/rooms/{standby}/.env --room {PROMOTED} --device sim1 --action SET "
           "--params '{\"note\":\"promotion smoke test\"}'", timeout=60)
    smoke = lab.psql(standby, "select id from dispatches where status <> 'rejected'")
    assert smoke and "\n" not in smoke, smoke
    # Failback by the runbook's commands: the standby's dispatch off first, then the primary up with it on.
    set_dispatch(lab, standby, "false")
    lab.sh(f"(cd infra/rooms/{standby} && docker compose --env-file .env up -d --force-recreate sentient-core)", timeout=300, check=True)
    set_dispatch(lab, primary, "true")
    lab.sh(f"(cd infra/rooms/{primary} && docker compose --env-file .env up -d)", timeout=300, check=True)
    lab.sh(f"runbook-tui lab dns point {PROMOTED} primary", check=True)
    ready = f"cd infra/rooms/{primary} && docker compose --env-file .env exec -T db pg_isready -q"
    assert wait_for(lambda: lab.sh(ready).returncode == 0, 60)

    found = lab.sh(f"scripts/copy-back-room-db.sh {PROMOTED} --check", check=True)
    assert f"{standby} holds 1 dispatch record(s) {primary} lacks: {smoke}" in found.stdout
    r = lab.sh(f"runbook-tui readiness --json {PROMOTED}", timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    result = json.loads(r.stdout)[0]
    assert result["active"] == "primary"
    failed = {c["check"]: c for c in result["checks"] if c["ok"] is False}
    assert set(failed) == {"no records only on the standby"}, failed
    assert smoke in failed["no records only on the standby"]["detail"]
    assert f"scripts/copy-back-room-db.sh {PROMOTED}" in failed["no records only on the standby"]["fix"]
    assert "--discard-newer REASON" in failed["no records only on the standby"]["fix"]

    backup = lab.sh(f"scripts/backup-room-db.sh {PROMOTED}", check=True).stdout.strip().splitlines()[-1]
    refused = lab.sh(f"scripts/restore-room-db.sh {standby} {backup}")
    assert refused.returncode == 1 and smoke in refused.stderr, refused.stderr
    assert f"scripts/copy-back-room-db.sh {PROMOTED}" in refused.stderr and "--discard-newer REASON" in refused.stderr
    assert "Take a new backup of the primary first" not in refused.stderr

    # Copied back, then a new backup: the restore goes through and loses nothing.
    copied = lab.sh(f"scripts/copy-back-room-db.sh {PROMOTED}", check=True)
    assert f"copied 1 dispatch record(s) from {standby} into {primary}: {smoke}" in copied.stdout
    assert lab.psql(primary, f"select stack from dispatches where id='{smoke}'") == standby
    backup = lab.sh(f"scripts/backup-room-db.sh {PROMOTED}", check=True).stdout.strip().splitlines()[-1]
    lab.sh(f"scripts/restore-room-db.sh {standby} {backup}", check=True)
    assert lab.psql(standby, f"select count(*) from dispatches where id='{smoke}'") == "1"
    again = lab.sh(f"runbook-tui readiness {PROMOTED}", timeout=120)
    assert again.returncode == 0 and f"{PROMOTED}: READY" in again.stdout, again.stdout + again.stderr

    # Or discarded, as a decision: the ids and the reason are recorded, and readiness shows them.
    lab.psql(standby, "insert into dispatches (id, room, stack, status) values "
                      f"('made-on-the-standby', '{PROMOTED}', '{standby}', 'complete')")
    assert lab.sh(f"scripts/restore-room-db.sh {standby} {backup}").returncode == 1
    reason = "a test record, not a guest's"
    done = lab.sh(f"scripts/restore-room-db.sh {standby} {backup} --discard-newer \"{reason}\"", check=True)
    assert f"discarding 1 dispatch(es) only {standby} held (made-on-the-standby): {reason}" in done.stdout
    record = (lab.root / "infra" / "rooms" / standby / ".last-restore").read_text().splitlines()
    assert record == [f"backup={backup.rsplit('/', 1)[-1]}", "discarded=made-on-the-standby", f"reason={reason}"]
    shown = json.loads(lab.sh(f"runbook-tui readiness --json {PROMOTED}", timeout=120, check=True).stdout)[0]
    restore = next(c for c in shown["checks"] if c["check"] == "last restore into the standby")
    assert "discarded 1 dispatch record(s) only the standby held (made-on-the-standby)" in restore["detail"]
    assert reason in restore["detail"] and shown["ready"] is True
