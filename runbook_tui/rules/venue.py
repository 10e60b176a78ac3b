"""A room of the venue in one row: which stack is active, where each resolver points the broker
name, whether the controllers are on the active broker, any alarm, and the standby's readiness.

Pure, like every rule: the venue view and its tests judge the same observation the same way
the room's own checklist does (the same dual-control rule, the same reading of a DNS answer,
the same readiness).
"""

from __future__ import annotations

from dataclasses import dataclass

from runbook_tui.observe.model import ROLES, RoomObservation
from runbook_tui.rules.readiness import Readiness, readiness
from runbook_tui.rules.room import alarms, broker_dispatching, docker_dispatching


@dataclass(frozen=True)
class VenueRow:
    room: str
    active: str  # primary / standby / both / none / unknown
    active_detail: str
    dns: tuple[tuple[str, str], ...]  # (resolver, what it points the name at)
    controllers: str
    controllers_ok: bool | None  # every controller seen is on the active broker (None: nothing to judge)
    alarm: str  # "" when none: every alarm in full
    alarm_short: str  # the same in a few words, for a table cell
    readiness: Readiness
    at: float

    @property
    def ready_words(self) -> str:
        if self.active == "standby":
            return "n/a: standby active"
        problems = self.readiness.problems()
        return "ready" if not problems else "NOT READY: " + ", ".join(c.name for c in problems)


def active_stack(obs: RoomObservation) -> tuple[str, str]:
    """Whose core is up with dispatch enabled, by Docker's account or by the core's own status."""
    says = {}
    for role in ROLES:
        by_docker, by_status = docker_dispatching(obs.stack(role)), broker_dispatching(obs.broker(role))
        says[role] = True if True in (by_docker, by_status) else (None if by_docker is None and by_status is None else False)
    dispatching = [r for r in ROLES if says[r]]
    if len(dispatching) == 2:
        return "both", "both cores dispatch"
    if dispatching:
        return dispatching[0], f"{dispatching[0]} core up with dispatch enabled"
    unseen = [r for r in ROLES if says[r] is None]
    if unseen:
        return "unknown", f"cannot see the {' and '.join(unseen)} (Docker and broker)"
    return "none", "no core dispatches"


def _controllers(obs: RoomObservation, active: str) -> tuple[str, bool | None]:
    online = {r: sorted(d for d, up in b.controllers if up) for r in ROLES if (b := obs.broker(r)) is not None}
    seen = {r: devices for r, devices in online.items() if devices}
    if not seen:
        readable = [r for r in ROLES if (b := obs.broker(r)) is not None and b.state == "ok"]
        return ("none online" if readable else "brokers not readable"), (False if active in ROLES else None)
    words = "; ".join(f"{len(d)} on {r} ({', '.join(d[:3])}{'…' if len(d) > 3 else ''})" for r, d in seen.items())
    if active not in ROLES:
        return words, None
    return words, set(seen) == {active}


def venue_row(obs: RoomObservation, now: float | None = None) -> VenueRow:
    active, active_detail = active_stack(obs)
    dns = tuple((a.resolver, a.classification if a.classification != "unknown address" or not a.addresses
                 else f"unknown {', '.join(a.addresses)}") for a in (obs.dns.answers if obs.dns else ()))
    controllers, controllers_ok = _controllers(obs, active)
    found = [("DUAL CONTROL", a.reason) for a in alarms(obs)]
    if obs.dns is not None and obs.dns.disagreement:
        found.append(("resolvers disagree", "resolvers disagree on " + obs.broker_name))
    if active in ROLES and dns and any(where != active for _r, where in dns):
        found.append((f"DNS not on {active}", f"{obs.broker_name} does not point only at the active {active}"))
    return VenueRow(obs.room, active, active_detail, dns, controllers, controllers_ok, "; ".join(long for _s, long in found),
                    ", ".join(short for short, _l in found), readiness(obs, now), obs.at)
