"""What raised an alarm decides what may end it, across a resume: an alarm raised on Docker's
account is journaled as such, and a console resumed from the journal does not let a core's
status alone end it while Docker cannot be read."""

from __future__ import annotations

from pathlib import Path

from tests.observations import broker, dual_control_room, room, stack, status
from tests.unit.engine.test_engine_observe import new_engine, records, resume


def docker_blind_primary_says_offline():
    """Docker answers for neither stack; the primary's broker holds "offline" in room1's words."""
    return room([stack("primary", connected=False), stack("standby", connected=False)],
                [broker("primary", status(online=False, role="primary")),
                 broker("standby", status(online=True, dispatch_enabled=True, role="standby"))])


def test_a_docker_raised_alarm_keeps_its_source_through_a_resume(tmp_path: Path):
    engine = new_engine(tmp_path)
    engine.observe(dual_control_room())
    (raised,) = records(tmp_path, "alarm_raised")
    assert raised["source"] == "docker"
    resumed, _notes = resume(tmp_path, engine)
    assert [a.source for a in resumed.active_alarms] == ["docker"]
    resumed.observe(docker_blind_primary_says_offline())
    assert records(tmp_path, "alarm_cleared") == []
    (kept,) = resumed.active_alarms
    assert kept.unconfirmed and "not seen to end: cannot read primary Docker, standby Docker" in kept.reason


def test_a_status_raised_alarm_ends_on_a_status_after_a_resume(tmp_path: Path):
    engine = new_engine(tmp_path)
    on = [broker(r, status(online=True, dispatch_enabled=True, role=r)) for r in ("primary", "standby")]
    engine.observe(room([stack("primary", connected=False), stack("standby", connected=False)], on))
    assert [r["source"] for r in records(tmp_path, "alarm_raised")] == ["status"]
    resumed, _notes = resume(tmp_path, engine)
    resumed.observe(docker_blind_primary_says_offline())
    assert [r["alarm"] for r in records(tmp_path, "alarm_cleared")] == ["dual_control"]
