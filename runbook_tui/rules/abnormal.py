"""The conditions a non-normal procedure is queued on (and the ones that say it is over), as pure
functions of an observation. Each is judged against the active stack as readiness judges it
(rules/readiness.active_stack: whose core dispatches, by Docker's account or by its own), so
that the procedure, the venue's row and the readiness pane speak of the same stack.

Registered in rules/conditions.py (RULES) with the parts they need; their names and meanings
are in checklist/conditions.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from runbook_tui.envfile import is_true
from runbook_tui.observe.model import ROLES, RoomObservation, StackSnapshot, classify
from runbook_tui.rules.readiness import active_stack
from runbook_tui.rules.room import (
    CORE,
    Alarm,
    broker_dispatching,
    dns_points_to,
    docker_dispatching,
    dual_control,
    is_live,
    started_epoch,
)

# A core Docker keeps restarting is crash-looping: restarting now, or back up for less than this
# after this many restarts (the restart policy's backoff leaves it "running" a moment each time).
LOOP_RESTARTS = 3
LOOP_UP_S = 60.0
# What a resolver answers that points the name somewhere (a timeout or an error points nowhere:
# the resolver is not answering, which is not the same fault).
_POINTING = ("primary", "standby", "both stacks", "unknown address", "NXDOMAIN")


# The facts most of these conditions share (the active stack, dual control), judged once an
# observation: the triggers are all judged on each observation the engine takes, one after another.
_facts: tuple[RoomObservation, tuple[str, str], Alarm | None] | None = None


def _shared(obs: RoomObservation) -> tuple[tuple[str, str], Alarm | None]:
    global _facts
    facts = _facts
    if facts is None or facts[0] is not obs:
        facts = _facts = (obs, active_stack(obs), dual_control(obs))
    return facts[1], facts[2]


def _active(obs: RoomObservation) -> tuple[str | None, str]:
    """(the active role, "") or (None, why there is no one active stack)."""
    active, detail = _shared(obs)[0]
    return (active, "") if active in ROLES else (None, f"no one active stack ({detail})")


def _standby_promoted(obs: RoomObservation) -> bool:
    """The standby is meant to dispatch: its .env enables dispatch (the promotion's step)."""
    files = obs.files.stack("standby") if obs.files else None
    return files is not None and is_true(files.env_dict.get("CORE_DISPATCH_ENABLED"))


def dual_control_meant(standby_promoted: bool) -> Callable[[RoomObservation], tuple[bool, str]]:
    """Dual control, where the standby is (or is not) the stack meant to dispatch: which side's
    core must be stopped depends on it (the primary's after a promotion, the standby's before)."""
    def judge(obs: RoomObservation) -> tuple[bool, str]:
        alarm = _shared(obs)[1]
        promoted = _standby_promoted(obs)
        meant = "standby .env enables dispatch (promoted)" if promoted else "standby .env keeps dispatch off"
        if alarm is None:
            return False, f"no dual control; {meant}"
        return promoted == standby_promoted, f"{alarm.reason}; {meant}"
    return judge


def _stack_live(stack: StackSnapshot | None) -> list[str]:
    return [f"{s.service} {s.state}" for s in stack.services if is_live(s)] if stack is not None and stack.connected else []


def primary_came_back(obs: RoomObservation) -> tuple[bool, str]:
    """After a promotion (the standby's core dispatches) the primary is live again: one of its
    containers runs on its Docker host, or its broker answers."""
    standby = docker_dispatching(obs.stack("standby")) or broker_dispatching(obs, "standby")
    live = _stack_live(obs.stack("primary"))
    broker = obs.broker("primary")
    answers = broker is not None and broker.state not in ("unreachable", "connecting")
    said = (f"primary: {', '.join(live) if live else 'nothing live'}; its broker "
            f"{broker.endpoint + ' ' + broker.state if broker is not None else 'not looked at'}")
    if not standby:
        return False, f"the standby's core does not dispatch (no promotion to come back after); {said}"
    if (alarm := _shared(obs)[1]) is not None:
        # Dual control is answered first, by its own procedure (stop the primary's core); what is
        # still live of the primary after it is this condition's.
        return False, f"dual control ({alarm.reason}): its own procedure first; {said}"
    return bool(live) or answers, said


def _controllers_online(obs: RoomObservation, role: str) -> tuple[bool | None, str]:
    broker = obs.broker(role)
    if broker is None or broker.state != "ok":
        state = f"{broker.endpoint}: {broker.state}" if broker is not None else "not looked at"
        return None, f"the active {role}'s broker cannot be read ({state})"
    online = sorted(d for d, up in broker.controllers if up is True)
    return bool(online), f"online on the active {role}'s broker: {', '.join(online) or 'none'}"


def controllers_lost_on_active(obs: RoomObservation) -> tuple[bool, str]:
    """The active stack's broker is read and no controller reports online there."""
    active, why = _active(obs)
    if active is None:
        return False, why
    online, said = _controllers_online(obs, active)
    return online is False, said


def controllers_on_active(obs: RoomObservation) -> tuple[bool, str]:
    active, why = _active(obs)
    if active is None:
        return False, why
    online, said = _controllers_online(obs, active)
    return online is True, said


def dns_points_away_from_active(obs: RoomObservation) -> tuple[bool, str]:
    """A resolver answers the broker name with something other than the active stack's broker."""
    active, why = _active(obs)
    if active is None or obs.dns is None:
        return False, why or "DNS not looked at"
    want = obs.address(active)
    away = [f"{a.resolver} -> {', '.join(a.addresses) or a.classification}" for a in obs.dns.answers
            if a.classification in _POINTING and (not want or classify(a.addresses, {active: want}) != active)]
    if away:
        return True, f"{obs.broker_name} points away from the active {active} ({want or 'address not known'}): {'; '.join(away)}"
    return False, f"{obs.broker_name}: no resolver points away from the active {active}"


def dns_points_to_active(obs: RoomObservation) -> tuple[bool, str]:
    active, why = _active(obs)
    if active is None:
        return False, why
    return dns_points_to(obs, active)


def _failing(obs: RoomObservation, role: str, now: float) -> list[str]:
    """Why `role`'s broker or core is failing ([] when neither is)."""
    found = []
    broker = obs.broker(role)
    if broker is not None and broker.state == "unreachable":
        found.append(f"its broker {broker.endpoint} unreachable")
    stack = obs.stack(role)
    if stack is not None and stack.connected:
        mosquitto = stack.service("mosquitto")
        if mosquitto is None or mosquitto.state != "running":
            found.append(f"mosquitto {mosquitto.state if mosquitto else 'absent'}")
        core = stack.service(CORE)
        if core is not None and core.state == "restarting":
            found.append(f"{CORE} restarting (restarted {core.restart_count} times)")
        elif core is not None and core.state == "running" and core.restart_count >= LOOP_RESTARTS:
            started = started_epoch(core.started_at)
            if started is not None and now - started < LOOP_UP_S:
                found.append(f"{CORE} crash-looping (restarted {core.restart_count} times, up {int(now - started)} s)")
    return found


def active_stack_failing(obs: RoomObservation) -> tuple[bool, str]:
    """The active stack's broker is down, or its core crash-loops."""
    active, why = _active(obs)
    if active is None:
        return False, why
    found = _failing(obs, active, obs.at or time.time())
    return bool(found), f"the active {active}: " + ("; ".join(found) if found else "broker up, core not looping")


def active_stack_healthy(obs: RoomObservation) -> tuple[bool, str]:
    holds, detail = active_stack_failing(obs)
    active, why = _active(obs)
    return (active is not None and not holds), why or detail


def resolvers_disagree(obs: RoomObservation) -> tuple[bool, str]:
    """The configured resolvers answer the broker name differently."""
    if obs.dns is None:
        return False, "DNS not looked at"
    # The look's own reading (observe/dns_look), which the DNS tab and the venue's row show too.
    said = "; ".join(f"{a.resolver} -> {', '.join(a.addresses) or a.classification}" for a in obs.dns.answers)
    return obs.dns.disagreement, f"{obs.broker_name}: {said or 'no resolver configured'}"
