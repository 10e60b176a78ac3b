"""Facts about the room that every other rule builds on: is a core live, where does the
broker name point, is there dual control."""

from __future__ import annotations

from dataclasses import dataclass

from runbook_tui.observe.model import ROLES, RoomObservation, ServiceState, StackSnapshot, classify

CORE = "sentient-core"
SERVICES = ("mosquitto", CORE, "db")
# A container in these states runs no code. "restarting" and "paused" are not among them: a
# flapping core comes back by itself, which is exactly the dual-control risk.
STOPPED_STATES = frozenset({"exited", "dead", "created", "removing"})
COMMAND_WINDOW_S = 10.0  # device commands carried by both brokers this close together: dual control


def is_live(service: ServiceState | None) -> bool:
    """A container that runs code now or will again by itself (running, restarting, paused)."""
    return service is not None and service.state not in STOPPED_STATES


def core_is_live(stack: StackSnapshot | None) -> bool:
    return stack is not None and is_live(stack.service(CORE))


def versions_said(obs: RoomObservation) -> dict[str, str]:
    """role -> the version a running core says of itself, where its own status reads."""
    return {r: c.version for r in ROLES if (c := obs.own_core(r)) is not None and c.readable and c.version}


def started_epoch(started_at: str) -> float | None:
    """Docker's StartedAt (RFC 3339, nanoseconds) as seconds since the epoch."""
    from datetime import datetime

    text = started_at.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most microseconds
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def started_with(service: ServiceState | None, flag: str) -> bool:
    return service is not None and dict(service.flags).get(flag, False)


# ---- where the broker name points -----------------------------------------------------------------

def dns_points_to(obs: RoomObservation, role: str) -> tuple[bool, str]:
    """Every configured resolver answers the broker name, and only with `role`'s address."""
    want = obs.address(role)
    dns = obs.dns
    if dns is None:
        return False, "DNS not looked at"
    if not want:
        return False, f"{obs.broker_name}: the {role}'s broker address is not known (MQTT_BIND_ADDR, {role}_broker_addr)"
    if not dns.answers:
        return False, f"{obs.broker_name}: no resolver configured"
    # The panel's own reading of an answer (observe.model.classify), asked about this role alone.
    holds = all(classify(a.addresses, {role: want}) == role for a in dns.answers)
    said = ", ".join(f"{a.resolver} -> {', '.join(a.addresses) if a.addresses else a.classification}"
                     + (f" ({a.classification})" if a.addresses and a.classification not in ROLES else "")
                     for a in dns.answers)
    return holds, f"{obs.broker_name} (want only {want}, the {role}'s): {said}"


# ---- dual control -------------------------------------------------------------------------------

SOURCES = ("docker", "status", "commands")  # what an alarm was raised on


@dataclass(frozen=True)
class Alarm:
    kind: str  # "dual_control"
    reason: str
    unconfirmed: bool = False  # raised before; what would show it ended cannot be seen now
    # What it was raised on (SOURCES). One raised on Docker's account ends only on Docker's
    # account; one whose source is not known ("": a journal written before it was kept) is
    # held to the same.
    source: str = ""


def docker_dispatching(stack: StackSnapshot | None) -> bool | None:
    """Is the stack's core live and started with dispatch enabled? None: Docker cannot be seen."""
    if stack is None or not stack.connected:
        return None
    core = stack.service(CORE)
    return is_live(core) and started_with(core, "CORE_DISPATCH_ENABLED")


def broker_dispatching(obs: RoomObservation, role: str) -> bool | None:
    """Does `role`'s core say, on its broker, that it is online with dispatch enabled? None: not
    known (the broker not read yet or refusing us, a status that does not read, or one that is
    not this stack's own: it hides what the core would say)."""
    broker = obs.broker(role)
    if broker is None:
        return None
    if broker.state == "unreachable":
        return False  # no broker, no dispatch through it (the container's side is Docker's to say)
    if broker.state != "ok":
        return None
    if broker.core is None:
        return False
    core = obs.own_core(role)
    if core is None or not core.readable:
        return None
    return core.online and core.dispatch_enabled


def status_words(obs: RoomObservation, role: str) -> str:
    """What `role`'s broker shows of its core, in a few words ("" when the broker was not read)."""
    broker = obs.broker(role)
    if broker is None or broker.state != "ok":
        return ""
    core = broker.core
    if core is None:
        return "no core status retained"
    if not core.readable:
        return f"core status unreadable ({core.problem}: {core.raw})"
    if mismatch := obs.core_not_own(role):
        return mismatch
    return f"core {'online' if core.online else 'offline'}, dispatch {'enabled' if core.dispatch_enabled else 'disabled'}"


def dual_control(obs: RoomObservation, previous: Alarm | None = None,
                 window_s: float = COMMAND_WINDOW_S) -> Alarm | None:
    """Both cores dispatching, by Docker's account or by their own, or device commands carried
    by both brokers within window_s. An alarm raised before stays up while the observation
    cannot show that it ended (a status that does not read, a daemon or broker not seen)."""
    by_docker = {r: docker_dispatching(obs.stack(r)) for r in ROLES}
    by_status = {r: broker_dispatching(obs, r) for r in ROLES}
    if all(by_docker.values()):
        projects = " and ".join(s.project for r in ROLES if (s := obs.stack(r)) is not None)
        return Alarm("dual_control", f"cores of {projects} both run with dispatch enabled", source="docker")
    if all(by_status.values()):
        return Alarm("dual_control", "cores on primary and standby both say online with dispatch enabled", source="status")
    recent = [r for r, t in obs.commands if obs.monotonic - t <= window_s]
    if len(set(recent)) > 1:
        return Alarm("dual_control", f"device commands carried by both brokers within {window_s:g}s", source="commands")
    if previous is None:
        return None
    # Raised on Docker's account (or on an account not known): a core's status alone cannot end
    # it, since whoever can publish on the broker can retain "offline" there. Docker must see a
    # side off (its status, if it reads, agreeing).
    status_ends = previous.source in ("status", "commands")

    def seen_off(role: str) -> bool:
        # Neither source says this side dispatches, and one that may end it says it does not.
        says = (by_docker[role], by_status[role])
        return True not in says and (by_docker[role] is False or (status_ends and by_status[role] is False))

    if any(seen_off(r) for r in ROLES):
        return None
    unseen = [f"{r} {'Docker' if by_docker[r] is None else 'core status'}" for r in ROLES
              if by_docker[r] is None or (status_ends and by_status[r] is None)]
    reason = previous.reason.split(" (not seen to end:")[0]
    return Alarm(previous.kind, f"{reason} (not seen to end: cannot read {', '.join(unseen) or 'either side'})", True,
                 previous.source)


def alarms(obs: RoomObservation, previous: tuple[Alarm, ...] = ()) -> tuple[Alarm, ...]:
    """Every alarm the observation raises (today: dual control)."""
    before = next((a for a in previous if a.kind == "dual_control"), None)
    found = dual_control(obs, before)
    return (found,) if found else ()
