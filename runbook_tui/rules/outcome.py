"""When a run is finished, and how its outcome is said: one rule for the header, the
journal's last record and the report."""

from __future__ import annotations

import time
from dataclasses import dataclass

PASSED = frozenset({"done", "skipped", "overridden"})


@dataclass(frozen=True)
class AlarmSpan:
    kind: str
    started: float
    ended: float | None  # None: still raised


@dataclass(frozen=True)
class Outcome:
    verdict: str  # complete / complete except deferred items / nothing was done / incomplete
    deferred: tuple[str, ...]
    open: tuple[str, ...]  # required steps not passed, and steps whose evidence no longer holds
    lapsed: tuple[str, ...]  # of those, the ones done on evidence whose condition no longer holds
    alarms: tuple[AlarmSpan, ...]
    optional_open: tuple[str, ...] = ()  # optional steps neither done nor decided on
    # Steps passed without their evidence: overridden (a guard run despite, or marked done by
    # the operator), and required steps skipped. Said with the verdict, never only further down.
    without_evidence: tuple[str, ...] = ()
    # Non-normal procedures queued and neither worked to their end nor dismissed with a reason:
    # the room fell into a condition nobody has answered yet, so the run is not complete.
    procedures_open: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        """Every step decided, optional ones included (done, skipped or deferred), and no
        evidence lapsed: the run ends here."""
        return self.verdict != "incomplete" and not self.optional_open

    def helped(self) -> str:
        """"with 2 steps without evidence (dns-repoint, smoke-test)", or "" when none was."""
        n = len(self.without_evidence)
        return f"with {n} step{'s' if n != 1 else ''} without evidence ({', '.join(self.without_evidence)})" if n else ""

    def text(self, now: float | None = None) -> str:
        """"complete with 1 step without evidence (smoke-test), with 15 s of dual control at
        02:53:10": the verdict, every way the run was helped, and every alarm of the run."""
        said = alarm_words(self.alarms, now)
        helped = self.helped()
        n = len(self.procedures_open)
        procedures = (f", with {n} non-normal procedure{'s' if n != 1 else ''} open ({', '.join(self.procedures_open)})"
                      if n else "")
        return self.verdict + (" " + helped if helped else "") + procedures + (", with " + said if said else "")


def close_span(spans: list[AlarmSpan], kind: str, at: float) -> None:
    """The newest open span of `kind` ends at `at` (an alarm cleared); none open: nothing to end."""
    for i in range(len(spans) - 1, -1, -1):
        if spans[i].kind == kind and spans[i].ended is None:
            spans[i] = AlarmSpan(kind, spans[i].started, at)
            return


def alarm_words(alarms: tuple[AlarmSpan, ...], now: float | None = None) -> str:
    """"15 s of dual control at 02:53:10 and ...", or "" when the run had no alarm."""
    return " and ".join(_span(a, now) for a in alarms)


def _span(alarm: AlarmSpan, now: float | None) -> str:
    name = alarm.kind.replace("_", " ")
    at = time.strftime("%H:%M:%S", time.localtime(alarm.started))
    if alarm.ended is None:
        lasted = f" ({int((now or alarm.started) - alarm.started)} s so far)" if now else ""
        return f"{name} since {at}, still raised{lasted}"
    return f"{max(1, round(alarm.ended - alarm.started))} s of {name} at {at}"


NOTHING_DONE = "nothing was done"


def run_outcome(steps: list[tuple[str, bool]], states: dict[str, str], lapsed: set[str],
                alarms: tuple[AlarmSpan, ...] = (), actions: frozenset[str] = frozenset(),
                superseded: frozenset[str] = frozenset(), procedures_open: tuple[str, ...] = ()) -> Outcome:
    """steps: the applicable steps in order, (id, optional). A required step is open until it
    passed or was deferred; an optional step left pending does not hold the run open. A step
    done on evidence whose condition no longer holds (and was not acknowledged) is open again.
    actions: the steps that act on the room (commands, .env edits, dispatches); when every one
    of them is optional and none was done, the run did nothing, and does not say "complete".
    superseded: steps a later done step ended on purpose ("bring up the primary", once the
    primary is shut down): left undone, they hold nothing open. procedures_open: non-normal
    procedures queued and neither worked nor dismissed: they hold the run open."""
    deferred, open_, lapses, optional_open, unproven = [], [], [], [], []
    for step_id, optional in steps:
        state = states.get(step_id, "pending")
        if state == "overridden" or (state == "skipped" and not optional):
            unproven.append(step_id)
        if state == "deferred":
            deferred.append(step_id)
        elif step_id in superseded and state in ("pending", "failed"):
            continue
        elif step_id in lapsed and state == "done":
            lapses.append(step_id)
            if not optional:
                open_.append(step_id)
        elif optional and state == "pending":
            optional_open.append(step_id)
        elif state not in PASSED:
            open_.append(step_id)
    acting = [(s, optional) for s, optional in steps if s in actions]
    did_nothing = bool(acting) and all(optional for _s, optional in acting) \
        and not any(states.get(s) in ("done", "overridden") for s, _o in acting)
    if open_ or procedures_open:
        verdict = "incomplete"
    elif did_nothing:
        verdict = NOTHING_DONE
    else:
        verdict = "complete except deferred items" if deferred else "complete"
    return Outcome(verdict, tuple(deferred), tuple(open_), tuple(lapses), alarms, tuple(optional_open), tuple(unproven),
                   tuple(procedures_open))
