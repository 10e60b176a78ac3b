"""The MQTT contract between operators, sentient-core and the room's devices.

Topics are settings (a site may rename them); the defaults are the reference contract of
infra/images/core/sentient_core.py.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BrokerEndpoint:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Topics:
    dispatch: str = "core/dispatch"
    result: str = "core/dispatch/result"
    status: str = "core/status"
    devices: str = "rooms/{room}/devices/{device}"

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Topics:
        defaults = cls()
        return cls(
            dispatch=env.get("CORE_TOPIC_DISPATCH") or defaults.dispatch,
            result=env.get("CORE_TOPIC_RESULT") or defaults.result,
            status=env.get("CORE_TOPIC_STATUS") or defaults.status,
            devices=env.get("CORE_TOPIC_DEVICES") or defaults.devices,
        )

    def device(self, room: str, device: str, leaf: str) -> str:
        """rooms/<room>/devices/<device>/<leaf>, leaf in command, ack, complete, status."""
        return self.devices.format(room=room, device=device) + "/" + leaf


@dataclass(frozen=True)
class DispatchRequest:
    room: str
    device: str
    action: str
    params: Any = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def payload(self) -> bytes:
        return json.dumps(
            {"id": self.id, "room": self.room, "device": self.device, "action": self.action, "params": self.params}
        ).encode()
