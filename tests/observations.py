"""Building RoomObservations by hand, for the pure rules and for UI behaviour (narrow fakes: the
real observations come from tests/lab). Polled parts are stamped with the time they are built
at, as a look taken now would be."""

from __future__ import annotations

import json
import time

from runbook_tui.observe.model import (
    BrokerView,
    CoreStatus,
    DnsSnapshot,
    FilesView,
    ResolverAnswer,
    RoomObservation,
    ServiceState,
    StackFiles,
    StackSnapshot,
    classify,
)
from runbook_tui.observe.status import parse_core_status

ADDRESSES = {"primary": "127.0.0.2", "standby": "127.0.0.3"}


def service(name: str, state: str = "running", dispatch: bool | None = None) -> ServiceState:
    flags = () if dispatch is None else (("CORE_DISPATCH_ENABLED", dispatch), ("CORE_CRITICAL_ARMED", False))
    return ServiceState(name, f"x-{name}-1", state, None, 0, "2026-12-02T02:00:00Z", "img", flags)


def stack(role: str, core: str | None = "running", dispatch: bool = False, others: str | None = "running",
          connected: bool = True, volumes: tuple[str, ...] = ()) -> StackSnapshot:
    services = []
    if others is not None:
        services += [service("db", others), service("mosquitto", others)]
    if core is not None:
        services.append(service("sentient-core", core, dispatch))
    return StackSnapshot(role, f"room1-{role}", connected, None if connected else "ConnectionError: no daemon",
                         tuple(sorted(services, key=lambda s: s.service)), (), (), 0.0, 0, (), volumes)


def status(**fields) -> CoreStatus:
    """A core's status as read; it names room1 as the contract requires unless told (room=None:
    a status that names no room)."""
    fields.setdefault("room", "room1")
    return parse_core_status(json.dumps(fields).encode())


def broker(role: str, core: CoreStatus | None = None, state: str = "ok", controllers=()) -> BrokerView:
    return BrokerView(role, f"{ADDRESSES[role]}:1883", state, "", core, tuple(controllers), time.time())


def dns(*answers: tuple[str, ...], name: str = "mqtt.room1.sentientengine.ai") -> DnsSnapshot:
    known = ADDRESSES
    rows = tuple(ResolverAnswer(f"127.0.0.1:{5353 + i}", classify(tuple(sorted(a)), known), tuple(sorted(a)), 5, 1.0)
                 for i, a in enumerate(answers))
    kinds = {(r.classification, r.addresses) for r in rows}
    return DnsSnapshot(name, rows, len(kinds) > 1, "disagreement" if len(kinds) > 1 else rows[0].classification, time.time())


def files(standby_dispatch: bool = False) -> FilesView:
    def env(role: str, dispatch: bool) -> tuple[tuple[str, str], ...]:
        return tuple(sorted({"MQTT_BIND_ADDR": ADDRESSES[role], "CORE_DISPATCH_ENABLED": str(dispatch).lower(),
                             "ROOM_ID": "room1", "STACK_ROLE": role}.items()))
    return FilesView((StackFiles("primary", "infra/rooms/room1-primary", True, True, True, True, env("primary", True)),
                      StackFiles("standby", "infra/rooms/room1-standby", True, True, True, True, env("standby", standby_dispatch))),
                     time.time())


def room(stacks=(), brokers=(), dns_answers=None, commands=(), monotonic: float = 100.0, standby_dispatch: bool = False,
         at: float = 0.0) -> RoomObservation:
    return RoomObservation("room1", "mqtt.room1.sentientengine.ai", (), tuple(stacks), dns_answers, tuple(brokers),
                           files(standby_dispatch), tuple(commands), at, monotonic)


def dual_control_room() -> RoomObservation:
    """Both cores running with dispatch enabled, by Docker's account and by their own."""
    on = status(online=True, dispatch_enabled=True, critical_armed=False, role="x", version="8.0.0")
    return room([stack("primary", dispatch=True), stack("standby", dispatch=True)],
                [broker("primary", on), broker("standby", on)], dns(("127.0.0.3",)), standby_dispatch=True)


def quiet_room() -> RoomObservation:
    """After a clean promotion: the primary's stack down, the standby dispatching alone."""
    on = status(online=True, dispatch_enabled=True, critical_armed=False, role="standby", version="8.0.0")
    return room([stack("primary", core="exited", others="exited"), stack("standby", dispatch=True)],
                [broker("primary", state="unreachable"), broker("standby", on)], dns(("127.0.0.3",)), standby_dispatch=True)


class Unseen:
    """A one-shot observer that sees nothing of its room: a run keeps exactly what its journal
    and its operator say (a resumed console, a floor view's engine)."""

    def __init__(self, room: str = "room9") -> None:
        self.room = room

    def look(self, parts=None) -> RoomObservation:
        return RoomObservation(self.room, f"mqtt.{self.room}.sentientengine.ai", ())


class NoLook:
    """A one-shot observer for steps with no guard and no condition: a look is a test's error."""

    def look(self, parts=None):
        raise AssertionError("no look: these steps have no guard or condition")
