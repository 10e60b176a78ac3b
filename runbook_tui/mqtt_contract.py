"""The MQTT contract between operators, sentient-core and the room's devices.

Topics are settings (a site may rename them); the defaults are the reference contract of
infra/images/core/sentient_core.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def _new_id() -> str:
    import uuid  # here, not at the top: the TUI's first frame loads this module (4 ms)

    return uuid.uuid4().hex


@dataclass(frozen=True)
class BrokerEndpoint:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def broker_endpoint(env: dict[str, str], host: str | None = None) -> BrokerEndpoint:
    """The one endpoint builder: a stack's broker where controllers reach it (MQTT_BIND_ADDR,
    MQTT_PORT of its .env), with its credentials (never shown). A port that is not a number
    from 1 to 65535 gives port 0, which no look can reach: shown as unreachable, never a crash."""
    port_text = (env.get("MQTT_PORT") or "").strip() or "1883"  # unset or blank: the default
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else 0
    return BrokerEndpoint(host or env.get("MQTT_BIND_ADDR") or "127.0.0.1", port,
                          env.get("MQTT_USERNAME") or None, env.get("MQTT_PASSWORD") or None)


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
    id: str = field(default_factory=_new_id)

    def payload(self) -> bytes:
        return json.dumps(
            {"id": self.id, "room": self.room, "device": self.device, "action": self.action, "params": self.params}
        ).encode()
