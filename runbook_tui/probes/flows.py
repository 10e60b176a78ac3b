"""Dispatch flows correlated by request id, and what cores and controllers say of themselves.

Pure logic fed with messages from both brokers; the MQTT probe owns an instance and calls
it from its network threads under a lock. Statuses are read strictly (observe.status); the
dual-control alarm is the rules' (runbook_tui.rules.room), judged on the room's observation.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from runbook_tui.mqtt_contract import Topics
from runbook_tui.observe.model import CoreStatus
from runbook_tui.observe.payloads import parse_json_object, safe_text
from runbook_tui.observe.status import parse_core_status, parse_device_status

STAGES = ("dispatch", "command", "ack", "complete", "result")
MAX_STAGES_PER_FLOW = 20  # a replayed or hostile id cannot grow one flow without bound
MAX_FLOWS = 200
MAX_ORPHANS = 200  # acks, completes and results of ids this tracker never saw dispatched or commanded
STARTING_STAGES = frozenset({"dispatch", "command"})
MAX_DEVICES = 500  # per broker: a hostile publisher cannot grow the table without bound


@dataclass(frozen=True)
class Flow:
    id: str
    device: str | None
    action: str | None
    seen: tuple[tuple[str, str, float], ...]  # (stage, broker role, monotonic time)
    result: str | None = None  # complete / rejected: reason / timeout: reason

    def at(self, stage: str) -> float | None:
        return next((t for s, _r, t in self.seen if s == stage), None)

    def latency_ms(self, stage: str) -> float | None:
        start, at = self.at("dispatch") or self.at("command"), self.at(stage)
        return None if start is None or at is None else round((at - start) * 1000, 1)

    def brokers(self) -> tuple[str, ...]:
        return tuple(sorted({r for _s, r, _t in self.seen}))

    @property
    def started(self) -> bool:
        """A dispatch or a device command was seen: a flow. Without one, an ack or result for an
        id nobody dispatched (a replay, a hostile publisher) is not shown and evicts nothing."""
        return any(s in STARTING_STAGES for s, _r, _t in self.seen)


@dataclass
class FlowTracker:
    topics: Topics = field(default_factory=Topics)
    room: str = "+"
    max_flows: int = MAX_FLOWS
    flows: OrderedDict[str, Flow] = field(default_factory=OrderedDict)
    orphans: OrderedDict[str, Flow] = field(default_factory=OrderedDict)  # not started (yet): bounded on their own
    core_status: dict[str, CoreStatus] = field(default_factory=dict)  # role -> last retained/live status
    controllers: dict[str, dict[str, bool | None]] = field(default_factory=dict)  # role -> device -> online
    last_command: dict[str, float] = field(default_factory=dict)  # role -> time of last device command

    def __post_init__(self) -> None:
        room = "[^/]+" if self.room == "+" else re.escape(self.room)
        pattern = re.escape(self.topics.devices).replace(r"\{room\}", room).replace(r"\{device\}", "([^/]+)")
        self._device_topic = re.compile(f"^{pattern}/(command|ack|complete|status)$")

    def _device_leaf(self, topic: str) -> tuple[str, str] | None:
        """(device, leaf) for a device command, ack or complete topic of the contract."""
        m = self._device_topic.match(topic)
        return (m.group(1), m.group(2)) if m else None

    def wants(self, topic: str) -> bool:
        """Whether a topic is one this tracker reads (the probe parses nothing else)."""
        t = self.topics
        return topic in (t.dispatch, t.result, t.status) or topic.endswith(("/command", "/ack", "/complete", "/status"))

    def observe(self, role: str, topic: str, payload: bytes, now: float) -> None:
        if topic == self.topics.status:
            # Whatever arrives replaces what was said before: a status that does not read is
            # shown as unreadable, never as the stale previous one.
            self.core_status[role] = parse_core_status(payload)
            return
        found = self._device_leaf(topic)
        if found is not None and found[1] == "status":
            devices = self.controllers.setdefault(role, {})
            if found[0] in devices or len(devices) < MAX_DEVICES:
                devices[safe_text(found[0], 64)] = parse_device_status(payload)
            return
        body = parse_json_object(payload)
        if body is None:
            return
        rid = body.get("id")
        if topic == self.topics.dispatch:
            stage = "dispatch"
        elif topic == self.topics.result:
            stage = "result"
        else:
            if found is None:
                return
            stage = found[1]
            if stage == "command":
                self.last_command[role] = now
        if not isinstance(rid, str) or not rid:
            return
        old = self.flows.pop(rid, None) or self.orphans.pop(rid, None)
        seen = (old.seen if old else ())[-(MAX_STAGES_PER_FLOW - 1):] + ((stage, role, now),)
        result = old.result if old else None
        if stage == "result":
            status = str(body.get("status"))
            result = safe_text(status + (f": {body['reason']}" if body.get("reason") else ""), 200)
        device = (old.device if old else None) or body.get("device")
        action = (old.action if old else None) or body.get("action")
        # Ids, devices and actions come from whoever publishes: sanitised before any widget sees them.
        flow = Flow(safe_text(rid, 80), safe_text(device, 64) if isinstance(device, str) else None,
                    safe_text(action, 64) if isinstance(action, str) else None, seen, result)
        # Only a started flow takes a place among the flows; the rest wait, bounded apart, in
        # case their dispatch comes later (or was seen by the other broker's tracker).
        table, limit = (self.flows, self.max_flows) if flow.started else (self.orphans, MAX_ORPHANS)
        table[rid] = flow
        while len(table) > limit:
            table.popitem(last=False)

    def all_flows(self) -> tuple[Flow, ...]:
        """Started flows and orphans, for merging with another tracker's (merge_flows shows only started ones)."""
        return tuple(self.flows.values()) + tuple(self.orphans.values())

    def forget_status(self, role: str) -> None:
        """A broker went away: what its core last said is no longer known."""
        self.core_status.pop(role, None)
        self.controllers.pop(role, None)
        self.last_command.pop(role, None)


def merge_flows(parts: list[tuple[Flow, ...]], limit: int = MAX_FLOWS) -> tuple[Flow, ...]:
    """One flow per request id from flows seen by separate trackers (one per broker), oldest
    activity first, as a single tracker that saw every message would have them."""
    merged: dict[str, Flow] = {}
    for flows in parts:
        for f in flows:
            old = merged.get(f.id)
            if old is None:
                merged[f.id] = f
                continue
            seen = tuple(sorted(old.seen + f.seen, key=lambda s: s[2]))[-MAX_STAGES_PER_FLOW:]
            merged[f.id] = Flow(f.id, old.device or f.device, old.action or f.action, seen, old.result or f.result)
    started = (f for f in merged.values() if f.started)
    return tuple(sorted(started, key=lambda f: max(t for _s, _r, t in f.seen)))[-limit:]
