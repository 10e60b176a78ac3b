"""Dispatch flows correlated by request id, and the dual-control alarm.

Pure logic fed with messages from both brokers; the MQTT probe owns an instance and calls
it from its network threads under a lock.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from runbook_tui.mqtt_contract import Topics

STAGES = ("dispatch", "command", "ack", "complete", "result")
MAX_STAGES_PER_FLOW = 20  # a replayed or hostile id cannot grow one flow without bound
MAX_FLOWS = 200
COMMAND_WINDOW_S = 10.0  # device commands from both stacks this close together: dual control


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


@dataclass(frozen=True)
class DualControl:
    reason: str
    at: float


@dataclass
class FlowTracker:
    topics: Topics = field(default_factory=Topics)
    room: str = "+"
    max_flows: int = MAX_FLOWS
    command_window_s: float = COMMAND_WINDOW_S
    flows: OrderedDict[str, Flow] = field(default_factory=OrderedDict)
    core_status: dict[str, dict] = field(default_factory=dict)  # role -> last retained/live status
    last_command: dict[str, float] = field(default_factory=dict)  # role -> time of last device command

    def __post_init__(self) -> None:
        room = "[^/]+" if self.room == "+" else re.escape(self.room)
        pattern = re.escape(self.topics.devices).replace(r"\{room\}", room).replace(r"\{device\}", "([^/]+)")
        self._device_topic = re.compile(f"^{pattern}/(command|ack|complete)$")

    def _device_leaf(self, topic: str) -> tuple[str, str] | None:
        """(device, leaf) for a device command, ack or complete topic of the contract."""
        m = self._device_topic.match(topic)
        return (m.group(1), m.group(2)) if m else None

    def observe(self, role: str, topic: str, body: dict | None, now: float) -> None:
        if topic == self.topics.status:
            if body is not None:
                self.core_status[role] = body
            return
        if body is None:
            return
        rid = body.get("id")
        if topic == self.topics.dispatch:
            stage = "dispatch"
        elif topic == self.topics.result:
            stage = "result"
        else:
            found = self._device_leaf(topic)
            if found is None:
                return
            stage = found[1]
            if stage == "command":
                self.last_command[role] = now
        if not isinstance(rid, str) or not rid:
            return
        old = self.flows.pop(rid, None)
        seen = (old.seen if old else ())[-(MAX_STAGES_PER_FLOW - 1):] + ((stage, role, now),)
        result = old.result if old else None
        if stage == "result":
            status = str(body.get("status"))
            result = status + (f": {body['reason']}" if body.get("reason") else "")
        device = (old.device if old else None) or body.get("device")
        action = (old.action if old else None) or body.get("action")
        self.flows[rid] = Flow(rid, device if isinstance(device, str) else None,
                               action if isinstance(action, str) else None, seen, result)
        while len(self.flows) > self.max_flows:
            self.flows.popitem(last=False)

    def forget_status(self, role: str) -> None:
        """A broker went away: what its core last said is no longer known."""
        self.core_status.pop(role, None)
        self.last_command.pop(role, None)

    def dual_control(self, now: float) -> DualControl | None:
        return dual_control(self.core_status, self.last_command, now, self.command_window_s)


def dual_control(core_status: dict[str, dict], last_command: dict[str, float], now: float,
                 window_s: float = COMMAND_WINDOW_S) -> DualControl | None:
    """Both cores online with dispatch enabled, or device commands from both stacks within
    window_s (times are time.monotonic(), which every process on the machine shares)."""
    enabled = sorted(r for r, s in core_status.items() if s.get("online") and s.get("dispatch_enabled"))
    if len(enabled) > 1:
        return DualControl(f"cores on {' and '.join(enabled)} are both online with dispatch enabled", now)
    recent = sorted(r for r, t in last_command.items() if now - t <= window_s)
    if len(recent) > 1:
        return DualControl(f"device commands seen from {' and '.join(recent)} within {window_s:g}s", now)
    return None


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
    return tuple(sorted(merged.values(), key=lambda f: max(t for _s, _r, t in f.seen)))[-limit:]
