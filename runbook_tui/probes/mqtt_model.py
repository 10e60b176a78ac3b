"""What the MQTT probe reports: plain values, without paho.

The screen imports these to show what the probe saw; keeping them apart from the probe keeps
paho (a tenth of a second to import) off the path to the first frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from runbook_tui.observe.model import CoreStatus
from runbook_tui.probes.flows import Flow


@dataclass(frozen=True)
class Message:
    broker: str  # role: primary / standby
    topic: str
    payload: bytes
    retained: bool
    at: float  # wall clock
    size: int = 0  # the payload's full size (the buffered payload may be cut)


@dataclass(frozen=True)
class BrokerState:
    role: str
    endpoint: str
    connected: bool
    error: str | None
    received: int
    connects: int
    since: float | None
    broker_dropped: int = 0  # messages the broker dropped for slow subscribers since the probe first connected


@dataclass(frozen=True)
class MqttSnapshot:
    brokers: tuple[BrokerState, ...]
    topic_counts: tuple[tuple[str, str, int, float], ...]  # (broker, topic, count, rate per second)
    core_status: tuple[tuple[str, CoreStatus], ...]
    flows: tuple[Flow, ...]
    callback_errors: int
    at: float
    last_commands: tuple[tuple[str, float], ...] = ()  # (broker role, monotonic time of its last device command)
    controllers: tuple[tuple[str, str, bool | None], ...] = ()  # (broker role, device, online; None: unreadable)


@dataclass(frozen=True)
class MqttBatch:
    messages: tuple[Message, ...]  # the newest, at most the buffer size since the last batch
    dropped: int  # messages not in this batch because the buffer overflowed (they are counted)
    snapshot: MqttSnapshot
