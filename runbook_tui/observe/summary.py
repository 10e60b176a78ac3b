"""An observation in a few words, for the journal: what a verdict or an alarm was based on.

Only what is safe to keep: container states and flags, resolver answers, what cores and
controllers say. Never a .env value.
"""

from __future__ import annotations

from runbook_tui.observe.model import RoomObservation


def summary(obs: RoomObservation) -> dict[str, object]:
    out: dict[str, object] = {"at": round(obs.at, 3)}
    for stack in obs.stacks:
        out[f"docker {stack.role}"] = (
            ", ".join(f"{s.service} {s.state}" + "".join(f" {k.removeprefix('CORE_').lower()}={'on' if v else 'off'}"
                                                          for k, v in s.flags) for s in stack.services) or "no containers"
        ) if stack.connected else f"not reachable: {stack.error}"
    if obs.dns is not None:
        out["dns"] = "; ".join(f"{a.resolver} {','.join(a.addresses) or a.classification}" for a in obs.dns.answers)
    for broker in obs.brokers:
        core = broker.core
        if broker.state != "ok":
            said = broker.state
        elif core is None:
            said = "no core status"
        elif not core.readable:
            said = f"core status unreadable ({core.problem})"
        elif not_own := obs.core_not_own(broker.role):
            said = not_own
        else:
            said = f"core {'online' if core.online else 'offline'} dispatch={'on' if core.dispatch_enabled else 'off'}"
        if broker.controllers:
            said += "; controllers " + ", ".join(f"{d} {'online' if up else 'offline' if up is False else '?'}"
                                                 for d, up in broker.controllers)
        out[f"mqtt {broker.role}"] = said
    return out
