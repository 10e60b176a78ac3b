"""A room of the venue in one row (rules.venue), on hand-built observations: the same rules
the room's own checklist judges by."""

from __future__ import annotations

import dataclasses

from runbook_tui.rules.readiness import active_stack
from runbook_tui.rules.venue import venue_row
from tests.observations import broker, dns, dual_control_room, quiet_room, room, stack, status
from tests.unit.test_37_readiness import promoted_room, ready_room


def test_a_room_before_an_incident_is_on_its_primary_with_a_ready_standby():
    obs = dataclasses.replace(ready_room(), dns=dns(("127.0.0.2",), ("127.0.0.2",)),
                              brokers=(broker("primary", status(online=True, dispatch_enabled=True, version="8.0.0"),
                                              controllers=(("door1", True), ("sim1", True))),
                                       broker("standby", status(online=True, dispatch_enabled=False, version="8.0.0"))))
    row = venue_row(obs, now=1000.0)
    assert row.active == "primary" and row.alarm == ""
    assert [where for _r, where in row.dns] == ["primary", "primary"]
    assert row.controllers == "2 on primary (door1, sim1)" and row.controllers_ok is True
    assert row.ready_words == "ready"


def test_dual_control_is_an_alarm_and_both_cores_are_active():
    row = venue_row(dual_control_room())
    assert row.active == "both" and "both run with dispatch enabled" in row.alarm and row.alarm_short == "DUAL CONTROL"
    assert "does not point only" not in row.alarm  # no single active stack to compare the name with


def test_a_promoted_room_with_a_controller_left_on_the_primary_says_so():
    obs = quiet_room()
    obs = dataclasses.replace(obs, brokers=(broker("primary", controllers=(("door1", True),)), obs.broker("standby")))
    row = venue_row(obs)
    assert row.active == "standby"
    # Judged as it stands: this primary's .env still says dispatch on (runbook 3 disarms it).
    assert row.ready_words.startswith("NOT READY: primary quiet, ready for failback")
    assert row.ready_short.startswith("NOT READY: primary armed")
    assert row.controllers == "1 on primary (door1)" and row.controllers_ok is False


def test_a_cleanly_promoted_room_is_ready_with_the_standby_active():
    row = venue_row(promoted_room())
    assert row.active == "standby" and row.ready_words == row.ready_short == "ready, standby active"


def test_resolvers_that_disagree_or_point_away_from_the_active_stack_are_alarms():
    obs = dataclasses.replace(quiet_room(), dns=dns(("127.0.0.3",), ("127.0.0.2",)))
    row = venue_row(obs)
    assert "resolvers disagree" in row.alarm and "does not point only at the active standby" in row.alarm
    assert [where for _r, where in row.dns] == ["standby", "primary"]
    assert row.alarm_short == "DNS split" and row.dns_short == "1 standby, 1 primary"
    row = venue_row(dataclasses.replace(quiet_room(), dns=dns(("127.0.0.2",), ("127.0.0.2",))))
    assert row.alarm_short == "DNS not on standby" and row.dns_short == "primary (all 2)"


def test_the_dns_cell_stays_short_whatever_the_resolvers_answer():
    # Seen: the cell listed each resolver and its answer, addresses and all, and pushed the
    # Alarm and Standby columns off a 120-column screen. The answers stay in row.dns (the pane).
    def short(*answers):
        return venue_row(dataclasses.replace(quiet_room(), dns=dns(*answers))).dns_short

    assert short(("127.0.0.3",)) == "standby"
    assert short(("10.9.9.8", "10.9.9.9"), ("10.9.9.8", "10.9.9.9")) == "unknown (all 2)"
    assert short(("127.0.0.2", "127.0.0.3"), ("127.0.0.3",), ("127.0.0.3",)) == "1 both, 2 standby"
    assert short(("127.0.0.3",), ("127.0.0.2",), ("10.9.9.8", "10.9.9.9")) == "split 3 ways"
    assert short(("10.9.9.8",), ("10.9.9.9",)) == "split 2 ways"  # two unknown addresses, not one
    row = venue_row(dataclasses.replace(quiet_room(), dns=dns(("127.0.0.3",), ("10.9.9.8", "10.9.9.9"))))
    assert [where for _r, where in row.dns] == ["standby", "unknown 10.9.9.8, 10.9.9.9"]
    assert venue_row(dataclasses.replace(quiet_room(), dns=None)).dns_short == "not asked"


def test_a_standby_failing_many_checks_names_two_in_its_cell_and_counts_the_rest():
    row = venue_row(quiet_room())
    assert len(row.readiness.problems()) == 4
    assert row.ready_short == "NOT READY: primary armed, version +2"
    assert all(c.name in row.ready_words for c in row.readiness.problems())  # the pane names them all


def test_a_room_that_cannot_be_seen_is_unknown_not_safe():
    obs = room([stack("primary", connected=False), stack("standby", connected=False)],
               [broker("primary", state="no answer"), broker("standby", state="no answer")])
    active, detail = active_stack(obs)
    assert active == "unknown" and "primary and standby" in detail
    row = venue_row(obs)
    assert row.controllers == "not readable" and row.controllers_ok is None
    assert "standby up, dispatch off" in row.ready_words  # readiness fails closed on what it cannot see
