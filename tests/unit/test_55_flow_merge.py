"""Merging what the TUI's per-broker probe children saw (pure logic: the real children are
tested against the lab in tests/lab/test_60_probes.py): one flow per request id. (Dual
control is the rules' and is tested in tests/unit/test_35_rules.py.)"""

from __future__ import annotations

import json

from runbook_tui.probes.flows import FlowTracker, merge_flows

DISPATCH = {"id": "r1", "device": "sim1", "action": "SET"}


def _tracker_flows(*events):
    tracker = FlowTracker(room="room1")
    for role, topic, body, at in events:
        tracker.observe(role, topic, json.dumps(body).encode(), at)
    return tracker


def test_a_flow_seen_on_two_brokers_is_one_flow_in_time_order():
    primary = _tracker_flows(("primary", "core/dispatch", DISPATCH, 1.0),
                             ("primary", "rooms/room1/devices/sim1/command", {"id": "r1"}, 1.01))
    standby = _tracker_flows(("standby", "rooms/room1/devices/sim1/ack", {"id": "r1"}, 1.02),
                             ("standby", "core/dispatch/result", {"id": "r1", "status": "complete"}, 1.05))
    # Each child alone sees half of it; a single tracker that saw every message is the reference.
    both = _tracker_flows(("primary", "core/dispatch", DISPATCH, 1.0),
                          ("primary", "rooms/room1/devices/sim1/command", {"id": "r1"}, 1.01),
                          ("standby", "rooms/room1/devices/sim1/ack", {"id": "r1"}, 1.02),
                          ("standby", "core/dispatch/result", {"id": "r1", "status": "complete"}, 1.05))
    merged = merge_flows([standby.all_flows(), primary.all_flows()])  # what each child sends
    assert merged == tuple(both.flows.values())
    (flow,) = merged
    assert [s for s, _r, _t in flow.seen] == ["dispatch", "command", "ack", "result"]
    assert flow.brokers() == ("primary", "standby") and flow.device == "sim1" and flow.result == "complete"
    assert flow.latency_ms("ack") == 20.0


def test_merged_flows_are_ordered_by_their_latest_activity_and_bounded():
    a = _tracker_flows(("primary", "core/dispatch", {"id": "old"}, 1.0), ("primary", "core/dispatch", {"id": "new"}, 3.0))
    b = _tracker_flows(("standby", "core/dispatch", {"id": "mid"}, 2.0))
    assert [f.id for f in merge_flows([tuple(a.flows.values()), tuple(b.flows.values())])] == ["old", "mid", "new"]
    assert [f.id for f in merge_flows([tuple(a.flows.values()), tuple(b.flows.values())], limit=2)] == ["mid", "new"]


def test_acks_for_ids_never_dispatched_neither_show_nor_evict_real_flows():
    # Seen: ack/complete for ids never dispatched became flows and evicted the real ones.
    tracker = _tracker_flows(("primary", "core/dispatch", DISPATCH, 1.0))
    for n in range(1000):
        tracker.observe("primary", "rooms/room1/devices/sim1/ack", json.dumps({"id": f"junk{n}"}).encode(), 2.0 + n / 1000)
        tracker.observe("primary", "core/dispatch/result", json.dumps({"id": f"junk{n}", "status": "complete"}).encode(), 2.0)
    assert list(tracker.flows) == ["r1"] and len(tracker.orphans) <= 200
    assert [f.id for f in merge_flows([tracker.all_flows()])] == ["r1"]
    # An orphan whose dispatch comes later (or was seen on the other broker) joins its flow.
    tracker.observe("primary", "rooms/room1/devices/sim1/ack", json.dumps({"id": "late"}).encode(), 5.0)
    other = _tracker_flows(("standby", "core/dispatch", {"id": "late", "device": "sim1"}, 4.9))
    late = next(f for f in merge_flows([tracker.all_flows(), other.all_flows()]) if f.id == "late")
    assert [s for s, _r, _t in late.seen] == ["dispatch", "ack"] and late.latency_ms("ack") == 100.0
