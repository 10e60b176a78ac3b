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
from runbook_tui.rules.room import alarms


@dataclass(frozen=True)
class VenueRow:
    room: str
    active: str  # primary / standby / both / none / unknown
    active_detail: str
    dns: tuple[tuple[str, str], ...]  # (resolver, what it points the name at)
    dns_details: tuple[str, ...]  # per resolver: why it did not answer, when it did not ("" otherwise)
    controllers: str
    controllers_short: str  # the same in a few words, for a table cell
    controllers_ok: bool | None  # every controller seen is on the active broker (None: nothing to judge)
    alarm: str  # "" when none: every alarm in full
    alarm_short: str  # the same in a few words, for a table cell
    readiness: Readiness
    at: float

    @property
    def ready_words(self) -> str:
        # After a promotion the pair is judged as it stands (readiness): "ready" is then ready
        # for failback, and the words say which stack is active.
        problems = self.readiness.problems()
        ready = "ready, standby active" if self.readiness.active == "standby" else "ready"
        return ready if not problems else "NOT READY: " + ", ".join(c.name for c in problems)

    @property
    def ready_short(self) -> str:
        """ready_words for a narrow table cell: the first two failed checks by a word each, and
        how many more (the pane lists them all)."""
        problems = self.readiness.problems()
        if not problems:
            return self.ready_words
        words = [SHORT_CHECK.get(c.name, c.name) for c in problems]
        return "NOT READY: " + ", ".join(words[:2]) + (f" +{len(words) - 2}" if len(words) > 2 else "")

    @property
    def dns_short(self) -> str:
        """Where the resolvers point the name, for a table cell of bounded width whatever they
        answer: once when they agree, counted when two answers differ, else how many ways they
        split. Each resolver's answer, addresses and all, is in dns and the pane."""
        if not self.dns:
            return "not asked"
        answers = [where for _resolver, where in self.dns]
        distinct = list(dict.fromkeys(answers))
        if len(distinct) == 1:
            return _short_where(distinct[0]) + (f" (all {len(answers)})" if len(answers) > 1 else "")
        kinds = list(dict.fromkeys(_short_where(a) for a in distinct))
        if len(distinct) > 2 or len(kinds) < 2:
            return f"split {len(distinct)} ways"
        return ", ".join(f"{sum(_short_where(a) == kind for a in answers)} {kind}" for kind in kinds)


def _short_where(where: str) -> str:
    """A resolver's answer in a word: "unknown 10.9.9.8, 10.9.9.9" is "unknown"."""
    return {"both stacks": "both"}.get(where, where.split(" ", 1)[0] if where.startswith("unknown ") else where)


SHORT_CHECK = {"standby up, dispatch off": "state", "standby up, dispatching (active)": "state S",
               "primary quiet, ready for failback": "primary armed", "same core version": "version", ".env aligned": ".env",
               "primary passwd current": "passwd P", "standby passwd current": "passwd S", "stacks created": "no stacks",
               "no records only on the standby": "records S"}

def _controllers(obs: RoomObservation, active: str) -> tuple[str, str, bool | None]:
    online = {r: sorted(d for d, up in b.controllers if up) for r in ROLES if (b := obs.broker(r)) is not None}
    seen = {r: devices for r, devices in online.items() if devices}
    if not seen:
        readable = [r for r in ROLES if (b := obs.broker(r)) is not None and b.state == "ok"]
        words = "none online" if readable else "not readable"
        return words, words, (False if active in ROLES else None)
    words = "; ".join(f"{len(d)} on {r} ({', '.join(d[:3])}{'…' if len(d) > 3 else ''})" for r, d in seen.items())
    short = ", ".join(f"{len(d)} on {r}" for r, d in seen.items())
    if active not in ROLES:
        return words, short, None
    return words, short, set(seen) == {active}


def venue_row(obs: RoomObservation, now: float | None = None) -> VenueRow:
    ready = readiness(obs, now)  # it judges the pair by which stack is active: the row says the same
    active, active_detail = ready.active, ready.active_detail
    dns = tuple((a.resolver, a.classification if a.classification != "unknown address" or not a.addresses
                 else f"unknown {', '.join(a.addresses)}") for a in (obs.dns.answers if obs.dns else ()))
    controllers, controllers_short, controllers_ok = _controllers(obs, active)
    details = tuple(a.detail for a in (obs.dns.answers if obs.dns else ()))
    found = [("DUAL CONTROL", a.reason) for a in alarms(obs)]
    split = obs.dns is not None and obs.dns.disagreement
    if split:
        found.append(("DNS split", "resolvers disagree on " + obs.broker_name))
    if active in ROLES and dns and any(where != active for _r, where in dns):
        # Split resolvers point some of them away already: "DNS split" says it in the cell.
        found.append(("" if split else f"DNS not on {active}",
                      f"{obs.broker_name} does not point only at the active {active}"))
    return VenueRow(obs.room, active, active_detail, dns, details, controllers, controllers_short, controllers_ok,
                    "; ".join(long for _s, long in found),
                    ", ".join(short for short, _l in found if short), ready, obs.at)
