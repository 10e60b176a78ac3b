"""Every condition a checklist may name, as a pure function of a RoomObservation.

`needs(name)` says which parts of the room a condition looks at (the one-shot look takes
just those); `evaluate(name, obs)` judges it. A condition whose parts are missing from the
observation is not judged ("not looked at", seen=False): the live ticks leave a step alone
then, and a guard fails closed. The names and meanings the checklist format accepts are in
`runbook_tui.checklist.conditions`; a name there without a rule here is caught by a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from runbook_tui.envfile import is_true
from runbook_tui.errors import RunbookError
from runbook_tui.observe.model import ROLES, BrokerView, FilesView, RoomObservation, ServiceState, StackFiles, StackSnapshot
from runbook_tui.rules import abnormal
from runbook_tui.rules.room import (
    CORE,
    SERVICES,
    broker_dispatching,
    dns_points_to,
    is_live,
    started_epoch,
    started_with,
    status_words,
    versions_said,
)
from runbook_tui.stacks import differing_keys

_started_epoch = started_epoch  # its name here before it moved to rules/room.py


@dataclass(frozen=True)
class Verdict:
    condition: str
    holds: bool
    detail: str
    at: float = field(default_factory=time.time)
    seen: bool = True  # False: the observation lacked a part this condition needs

    def __str__(self) -> str:
        return f"{self.condition}: {'yes' if self.holds else 'no'}: {self.detail}"


Judge = Callable[[RoomObservation], tuple[bool, str]]


@dataclass(frozen=True)
class Rule:
    needs: frozenset[str]
    judge: Judge
    # What holding protects against, said to an operator about to act although it does not hold.
    protects: str = ""


def _env(obs: RoomObservation, role: str) -> dict[str, str]:
    files = obs.files.stack(role) if obs.files else None
    return files.env_dict if files else {}


class NotLookedAt(RunbookError, LookupError):
    """A part a rule needs is missing from the observation. `evaluate` judges a rule only when
    every part it `needs` is there, so this names a rule whose `needs` forgot a part (the verdict
    says it: "could not judge")."""


# A rule reads the parts its `needs` names as present: these say so to the type checker, and a
# part missing all the same makes the rule "could not judge" (evaluate), never a wrong verdict.
def _files(obs: RoomObservation) -> FilesView:
    if obs.files is None:
        raise NotLookedAt("files")
    return obs.files


def _stack_files(obs: RoomObservation, role: str) -> StackFiles:
    if (files := _files(obs).stack(role)) is None:
        raise NotLookedAt(f"files of {role}")
    return files


def _stack(obs: RoomObservation, role: str) -> StackSnapshot:
    if (stack := obs.stack(role)) is None:
        raise NotLookedAt(f"docker:{role}")
    return stack


def _broker(obs: RoomObservation, role: str) -> BrokerView:
    if (broker := obs.broker(role)) is None:
        raise NotLookedAt(f"broker:{role}")
    return broker


def _docker_says(stack: StackSnapshot) -> str | None:
    return None if stack.connected else f"{stack.project}: Docker not reachable ({stack.error})"


# ---- files ----------------------------------------------------------------------------------------

def _dirs_exist(obs: RoomObservation) -> tuple[bool, str]:
    stacks = _files(obs).stacks
    ok = [s for s in stacks if s.has_compose and s.has_env]
    return len(ok) == len(ROLES), ", ".join(f"{s.directory}: {'present' if s in ok else 'missing'}" for s in stacks)


def _dirs_absent(obs: RoomObservation) -> tuple[bool, str]:
    present = [s.directory for s in _files(obs).stacks if s.exists]
    return not present, f"already present: {', '.join(present)}" if present else "neither exists"


def _passwd(role: str) -> Judge:
    def judge(obs: RoomObservation) -> tuple[bool, str]:
        s = _stack_files(obs, role)
        return s.passwd_present, f"{s.directory}/mosquitto/passwd: {'present' if s.passwd_present else 'missing or empty'}"
    return judge


def _env_aligned(obs: RoomObservation) -> tuple[bool, str]:
    differing = differing_keys(_env(obs, "primary"), _env(obs, "standby"))
    # Names only: values may be secrets.
    return not differing, f"differ: {', '.join(differing)}" if differing else "aligned except per-stack keys"


def _versions_match(obs: RoomObservation) -> tuple[bool, str]:
    """Runbook 5's version sync, sensed: both .env files name the same CORE_VERSION and the
    running cores say the same version of themselves (where their status reads)."""
    wanted = {r: _env(obs, r).get("CORE_VERSION", "") for r in ("primary", "standby")}
    said = versions_said(obs)
    detail = f"CORE_VERSION primary {wanted['primary'] or '(unset)'}, standby {wanted['standby'] or '(unset)'}"
    if said:
        detail += "; running cores say " + ", ".join(f"{r} {v}" for r, v in said.items())
    holds = bool(wanted["primary"]) and wanted["primary"] == wanted["standby"] and len(set(said.values())) <= 1 \
        and all(v == wanted["primary"] for v in said.values())
    return holds, detail


# ---- Docker -------------------------------------------------------------------------------------

def _stack_running(role: str) -> Judge:
    def judge(obs: RoomObservation) -> tuple[bool, str]:
        stack = _stack(obs, role)
        if (why := _docker_says(stack)) is not None:
            return False, why
        states = {s: (svc.state if (svc := stack.service(s)) else "absent") for s in SERVICES}
        return all(v == "running" for v in states.values()), f"{stack.project}: " + ", ".join(f"{s} {v}" for s, v in states.items())
    return judge


def _here(stack: StackSnapshot) -> str | None:
    """Why nothing of the project may simply be on another Docker host, or None when it is here."""
    if stack.services or stack.volumes:
        return None
    return f"{stack.project}: nothing of it on this Docker host; is docker.{stack.role} set in the site settings?"


def _unreachable(obs: RoomObservation, role: str) -> str | None:
    """Why `role`'s host cannot be reached, in words, when neither its engine nor its broker
    answers; None when either does (a host that answers in part is no lost host)."""
    stack, broker = obs.stack(role), obs.broker(role)
    if stack is None or broker is None or stack.connected or broker.state != "unreachable":
        return None
    engine = stack.engine or "on this machine"
    detail = broker.detail if broker.detail and broker.detail != broker.endpoint else "down"
    return f"its engine {engine} ({stack.error}) and its broker {broker.endpoint} ({detail}) unreachable"


def _fenced(obs: RoomObservation, role: str) -> str | None:
    """A host that cannot be reached says nothing of what runs on it: it may still reach the
    controllers. Cut off on purpose (powered off, unplugged, its switch port off) and still
    unreachable, it cannot act: evidence of its own kind, said as such, never an override."""
    fence, why = obs.fence(role), _unreachable(obs, role)
    if fence is None or why is None:
        return None
    at = time.strftime("%H:%M:%S", time.localtime(fence.at))
    return f"{role} host fenced at {at} by {fence.by}" + (f" ({fence.how})" if fence.how else "") + f"; {why}"


def _host_unreachable(obs: RoomObservation) -> tuple[bool, str]:
    why = _unreachable(obs, "primary")
    if why is not None:
        return True, f"primary host: {why}"
    stack, broker = _stack(obs, "primary"), _broker(obs, "primary")
    return False, (f"primary host answers: engine {'reachable' if stack.connected else 'unreachable'}, "
                   f"broker {broker.endpoint} {broker.state}")


def _core_stopped(obs: RoomObservation) -> tuple[bool, str]:
    if (fenced := _fenced(obs, "primary")) is not None:
        return True, fenced
    stack = _stack(obs, "primary")
    if (why := _docker_says(stack)) is not None:
        return False, why
    core = stack.service(CORE)
    if core is not None:
        return not is_live(core), f"{stack.project} {CORE}: {core.state}"
    if (why := _here(stack)) is not None:
        return False, why
    return True, f"{stack.project} {CORE}: removed (its volume {stack.volumes[0]} is here)" if stack.volumes else \
        f"{stack.project} {CORE}: removed"


def _stack_down(obs: RoomObservation) -> tuple[bool, str]:
    if (fenced := _fenced(obs, "primary")) is not None:
        return True, fenced
    stack = _stack(obs, "primary")
    if (why := _docker_says(stack)) is not None:
        return False, why
    if (why := _here(stack)) is not None:
        return False, why
    live = [f"{s.service} {s.state}" for s in stack.services if is_live(s)]
    if live:
        return False, f"{stack.project}: still live: {', '.join(live)}"
    gone = [s for s in SERVICES if stack.service(s) is None]
    states = [f"{s.service} {s.state}" for s in stack.services] + [f"{s} removed" for s in gone]
    return True, f"{stack.project}: " + ", ".join(states)


def _primary_not_dispatching(obs: RoomObservation) -> tuple[bool, str]:
    if (fenced := _fenced(obs, "primary")) is not None:
        return True, fenced
    stopped, core_said = _core_stopped(obs)
    broker = _broker(obs, "primary")
    says = broker_dispatching(obs, "primary")
    if broker.state == "unreachable":
        broker_said = f"primary broker {broker.endpoint}: down ({broker.detail})"
    elif broker.state != "ok":
        # A broker that answers but cannot be read could be hiding a live core: fail closed.
        broker_said = f"primary broker {broker.endpoint}: cannot be read ({broker.state}: {broker.detail})"
    elif broker.core is None:
        broker_said = f"primary broker {broker.endpoint}: up, no core status retained"
    else:
        # Another room's status there fails closed too: it hides what this core would say.
        broker_said = f"primary broker: {status_words(obs, 'primary')}"
    return stopped and says is False, f"{core_said}; {broker_said}"


def _standby_not_dispatching(obs: RoomObservation) -> tuple[bool, str]:
    in_env = is_true(_env(obs, "standby").get("CORE_DISPATCH_ENABLED"))
    stack = _stack(obs, "standby")
    if (why := _docker_says(stack)) is not None:
        return False, why
    live = core if is_live(core := stack.service(CORE)) else None
    in_container = live is not None and started_with(live, "CORE_DISPATCH_ENABLED")
    return not in_env and not in_container, (
        f"standby .env CORE_DISPATCH_ENABLED={'true' if in_env else 'false'}; running core: "
        + (f"started with {'true' if in_container else 'false'} ({live.state})" if live is not None else "not running"))


def _standby_start_safe(obs: RoomObservation) -> tuple[bool, str]:
    if not is_true(_env(obs, "standby").get("CORE_DISPATCH_ENABLED")):
        return True, "standby .env CORE_DISPATCH_ENABLED=false: it starts without dispatch"
    holds, detail = _primary_not_dispatching(obs)
    return holds, f"standby .env CORE_DISPATCH_ENABLED=true, so it starts dispatching; {detail}"


def _running_core(obs: RoomObservation, role: str) -> tuple[ServiceState | None, str]:
    """(the stack's core, "") when it is running, else (None, why not in words)."""
    stack = _stack(obs, role)
    if (why := _docker_says(stack)) is not None:
        return None, why
    core = stack.service(CORE)
    if core is None or core.state != "running":
        return None, f"{stack.project} {CORE}: {core.state if core else 'absent'}"
    return core, ""


def _core_dispatch(role: str, enabled: bool) -> Judge:
    def judge(obs: RoomObservation) -> tuple[bool, str]:
        core, why = _running_core(obs, role)
        if core is None:
            return False, why
        flag = started_with(core, "CORE_DISPATCH_ENABLED")
        in_env = is_true(_env(obs, role).get("CORE_DISPATCH_ENABLED"))
        detail = f"running core started with CORE_DISPATCH_ENABLED={'true' if flag else 'false'}"
        if in_env != flag:
            files = obs.files.stack(role) if obs.files else None
            cause = env_differs_cause(core.started_at, files.env_mtime if files else None)
            detail += f" (.env says {'true' if in_env else 'false'}: {cause})"
        if flag != enabled:
            return False, detail
        if not enabled:
            return True, detail
        reported = broker_dispatching(obs, role) is True
        return reported, detail + "; core status: " + (
            "online, dispatch enabled" if reported else "not yet reporting dispatch enabled" + _unread(obs, role))
    return judge


def _unread(obs: RoomObservation, role: str) -> str:
    """Why a core's status could not be read on its broker ("", when the broker was read and the
    status there is its own): a broker that refuses the room's credentials is the cause to name,
    not the core; a status of another room or stack is named as that."""
    broker = obs.broker(role)
    if broker is None:
        return ""
    if broker.state == "ok":
        return f" ({mismatch})" if (mismatch := obs.core_not_own(role)) else ""
    return f" (its broker {broker.endpoint}: {broker.state}{': ' + broker.detail if broker.detail else ''})"


def _standby_armed(obs: RoomObservation) -> tuple[bool, str]:
    core, why = _running_core(obs, "standby")
    if core is None:
        return False, why
    armed = started_with(core, "CORE_CRITICAL_ARMED")
    status = obs.own_core("standby")
    reported = bool(status and status.readable and status.online and status.critical_armed is True)
    return armed and reported, (f"running core started with CORE_CRITICAL_ARMED={'true' if armed else 'false'}"
                                + (f"; core status: {'armed' if reported else 'not yet reporting armed' + _unread(obs, 'standby')}"
                                   if armed else ""))


# ---- DNS and MQTT ---------------------------------------------------------------------------------

def _dns(role: str) -> Judge:
    return lambda obs: dns_points_to(obs, role)


def _name_serves_standby(obs: RoomObservation) -> tuple[bool, str]:
    points, dns_said = dns_points_to(obs, "standby")
    core = obs.own_core("standby")
    role = core.role if core is not None and core.readable else None
    said = f"the standby broker's core reports role {role or 'nothing readable'}{_unread(obs, 'standby')}"
    return points and role == "standby", f"{dns_said}; {said}"


def _controllers_on(role: str, obs: RoomObservation) -> tuple[bool, str]:
    broker = _broker(obs, role)
    if broker.state != "ok":
        return False, f"{role} broker {broker.endpoint}: {broker.state} {broker.detail}".rstrip()
    online = sorted(d for d, up in broker.controllers if up is True)
    offline = sorted(d for d, up in broker.controllers if up is False)
    unreadable = sorted(d for d, up in broker.controllers if up is None)
    detail = f"online on the {role} broker: {', '.join(online) or 'none'}"
    if offline:
        detail += f"; offline: {', '.join(offline)}"
    if unreadable:
        detail += f"; status unreadable: {', '.join(unreadable)}"
    return bool(online), detail


def env_differs_cause(started_at: str, env_mtime: float | None) -> str:
    """Why a running container's value differs from its .env, as far as can be told. Only a
    .env written after the container started shows the file changed since. Otherwise the value
    came from elsewhere: compose takes a variable from the environment of whoever runs it before
    the .env (seen: a CORE_DISPATCH_ENABLED exported on the command line blamed on the .env)."""
    started = started_epoch(started_at)
    if env_mtime is not None and started is not None and env_mtime > started:
        return "the .env changed after it started: recreate it"
    return "started with a value its .env does not say (set in the environment of whoever started it?)"


def _started_after_write(role: str, service: str, file: str) -> Judge:
    """A container reads its file when it starts: it runs with what the file says now only if it
    started after the file was last written (seen: "recreate the broker so it reads the new
    passwd" ticked before any passwd was regenerated)."""
    def rule(obs: RoomObservation) -> tuple[bool, str]:
        stack, files = obs.stack(role), (obs.files.stack(role) if obs.files else None)
        container = stack.service(service) if stack else None
        if container is None or container.state != "running":
            return False, f"{role} {service}: {container.state if container else 'no container'}"
        written = (files.passwd_mtime if file == "passwd" else files.env_mtime) if files is not None else None
        if written is None:
            return False, f"{role} {file}: missing"
        started = started_epoch(container.started_at)
        if started is None:
            return False, f"{role} {service}: start time {container.started_at!r} unreadable"
        at, when = (time.strftime("%H:%M:%S", time.localtime(t)) for t in (started, written))
        if started < written:
            return False, f"{role} {service} started {at}, before its {file} was written ({when}): it reads the old one"
        return True, f"{role} {service} started {at}, after its {file} was written ({when})"
    return rule


def _controllers_on_standby(obs: RoomObservation) -> tuple[bool, str]:
    return _controllers_on("standby", obs)


def _controllers_back_on_primary(obs: RoomObservation) -> tuple[bool, str]:
    """Failback's proof: controllers online on the primary broker, and none left on the standby's."""
    holds, detail = _controllers_on("primary", obs)
    other = obs.broker("standby")
    left = sorted(d for d, up in other.controllers if up is True) if other is not None and other.state == "ok" else []
    if left:
        return False, f"{detail}; still online on the standby broker: {', '.join(left)}"
    return holds, detail


def _standby_quiet(obs: RoomObservation) -> tuple[bool, str]:
    """No standby core dispatches now: by Docker's account (its core is not live with dispatch
    enabled) and by its own (its broker shows no online core with dispatch enabled). Either one
    unreadable fails closed: a start is refused on what cannot be seen."""
    stack = _stack(obs, "standby")
    if (why := _docker_says(stack)) is not None:
        return False, why
    core = stack.service(CORE)
    flagged = is_live(core) and started_with(core, "CORE_DISPATCH_ENABLED")
    docker_said = (f"{stack.project} {CORE}: {core.state}, started with CORE_DISPATCH_ENABLED="
                   f"{'true' if started_with(core, 'CORE_DISPATCH_ENABLED') else 'false'}" if core is not None
                   else f"{stack.project} {CORE}: absent")
    broker = _broker(obs, "standby")
    says = broker_dispatching(obs, "standby")
    broker_said = ("standby broker: a core online with dispatch enabled" if says is True else
                   "standby broker: no core dispatching" if says is False else
                   f"standby broker: {status_words(obs, 'standby')}" if broker.state == "ok" else
                   f"standby broker {broker.endpoint}: cannot be read ({broker.state}: {broker.detail})")
    return not flagged and says is False, f"{docker_said}; {broker_said}"


def _primary_start_safe(obs: RoomObservation) -> tuple[bool, str]:
    """Starting or recreating the primary (compose reads its .env) cannot make dual control:
    its .env keeps dispatch off, or no standby core dispatches (runbook 3's order undone)."""
    if not is_true(_env(obs, "primary").get("CORE_DISPATCH_ENABLED")):
        return True, "primary .env CORE_DISPATCH_ENABLED=false: it starts without dispatch"
    holds, detail = _standby_quiet(obs)
    return holds, f"primary .env CORE_DISPATCH_ENABLED=true, so it starts dispatching; {detail}"


def _env_says(role: str, wanted: dict[str, bool]) -> Judge:
    """A stack's .env says these flags (true or false, as the core reads them): what an .env edit
    step wrote, watched while the run is open since anyone can edit the file back."""
    def judge(obs: RoomObservation) -> tuple[bool, str]:
        files = _files(obs).stack(role)
        if files is None or not files.has_env:
            return False, f"{role} .env: missing"
        env = files.env_dict
        said = {k: is_true(env.get(k)) for k in wanted}
        return said == wanted, f"{role} .env: " + ", ".join(f"{k}={'true' if v else 'false'}" for k, v in said.items())
    return judge


# Both stacks as Docker and their brokers show them: what the active stack is judged on.
_BOTH = frozenset({"docker:primary", "docker:standby", "broker:primary", "broker:standby"})
DUAL = "both cores dispatching at once (dual control): devices get commands from two cores"
RULES: dict[str, Rule] = {
    "stack_dirs_absent": Rule(frozenset({"files"}), _dirs_absent, "overwriting a room's existing stack directories"),
    "stack_dirs_exist": Rule(frozenset({"files"}), _dirs_exist),
    "primary_passwd_present": Rule(frozenset({"files"}), _passwd("primary")),
    "standby_passwd_present": Rule(frozenset({"files"}), _passwd("standby")),
    "primary_stack_running": Rule(frozenset({"docker:primary"}), _stack_running("primary")),
    "standby_stack_running": Rule(frozenset({"docker:standby"}), _stack_running("standby")),
    "primary_core_stopped": Rule(frozenset({"docker:primary"}), _core_stopped, DUAL),
    "primary_stack_down": Rule(frozenset({"docker:primary"}), _stack_down, DUAL),
    "primary_not_dispatching": Rule(frozenset({"files", "docker:primary", "broker:primary"}), _primary_not_dispatching, DUAL),
    "standby_not_dispatching": Rule(frozenset({"files", "docker:standby"}), _standby_not_dispatching, DUAL),
    "standby_start_safe": Rule(frozenset({"files", "docker:primary", "broker:primary"}), _standby_start_safe,
                               "starting a standby whose .env enables dispatch while the primary dispatches: " + DUAL),
    "standby_core_critical_armed": Rule(frozenset({"docker:standby", "broker:standby"}), _standby_armed),
    "standby_core_dispatch_enabled": Rule(frozenset({"files", "docker:standby", "broker:standby"}), _core_dispatch("standby", True)),
    "standby_core_dispatch_disabled": Rule(frozenset({"files", "docker:standby"}), _core_dispatch("standby", False), DUAL),
    "primary_core_dispatch_enabled": Rule(frozenset({"files", "docker:primary", "broker:primary"}), _core_dispatch("primary", True)),
    "dns_points_to_standby": Rule(frozenset({"files", "dns"}), _dns("standby"),
                                  "controllers reaching the primary's broker (some or all of them)"),
    "dns_points_to_primary": Rule(frozenset({"files", "dns"}), _dns("primary"),
                                  "controllers reaching the standby's broker (some or all of them)"),
    "broker_name_serves_standby": Rule(frozenset({"files", "dns", "broker:standby"}), _name_serves_standby),
    "controllers_on_standby": Rule(frozenset({"broker:standby"}), _controllers_on_standby),
    "primary_broker_reads_passwd": Rule(frozenset({"files", "docker:primary"}), _started_after_write("primary", "mosquitto", "passwd")),
    "standby_broker_reads_passwd": Rule(frozenset({"files", "docker:standby"}), _started_after_write("standby", "mosquitto", "passwd")),
    "standby_core_reads_env": Rule(frozenset({"files", "docker:standby"}), _started_after_write("standby", "sentient-core", ".env")),
    "controllers_on_primary": Rule(frozenset({"broker:primary", "broker:standby"}), _controllers_back_on_primary),
    "core_versions_match": Rule(frozenset({"files", "broker:primary", "broker:standby"}), _versions_match),
    "env_files_aligned": Rule(frozenset({"files"}), _env_aligned, "a standby that does not run as the primary did"),
    "primary_host_unreachable": Rule(frozenset({"docker:primary", "broker:primary"}), _host_unreachable),
    "primary_start_safe": Rule(frozenset({"files", "docker:standby", "broker:standby"}), _primary_start_safe,
                               "starting a primary whose .env enables dispatch while the standby dispatches: " + DUAL),
    "primary_env_dispatch_disabled": Rule(frozenset({"files"}), _env_says("primary", {"CORE_DISPATCH_ENABLED": False}),
                                          "a primary that starts dispatching the next time anyone brings it up: " + DUAL),
    "primary_env_dispatch_enabled": Rule(frozenset({"files"}), _env_says("primary", {"CORE_DISPATCH_ENABLED": True})),
    "standby_env_dispatch_enabled": Rule(frozenset({"files"}), _env_says("standby", {"CORE_DISPATCH_ENABLED": True})),
    "standby_env_disarmed": Rule(frozenset({"files"}), _env_says("standby", {"CORE_DISPATCH_ENABLED": False,
                                                                            "CORE_CRITICAL_ARMED": False}),
                                 "a standby that starts dispatching the next time anyone recreates it: " + DUAL),
    "standby_env_critical_armed": Rule(frozenset({"files"}), _env_says("standby", {"CORE_CRITICAL_ARMED": True})),
    # What queues a non-normal procedure, and what says it is over (rules/abnormal.py).
    "dual_control_standby_promoted": Rule(_BOTH | {"files"}, abnormal.dual_control_meant(True)),
    "dual_control_standby_not_promoted": Rule(_BOTH | {"files"}, abnormal.dual_control_meant(False)),
    "primary_came_back": Rule(_BOTH, abnormal.primary_came_back),
    "controllers_lost_on_active": Rule(_BOTH, abnormal.controllers_lost_on_active),
    "controllers_on_active": Rule(_BOTH, abnormal.controllers_on_active),
    "dns_points_away_from_active": Rule(_BOTH | {"files", "dns"}, abnormal.dns_points_away_from_active),
    "dns_points_to_active": Rule(_BOTH | {"files", "dns"}, abnormal.dns_points_to_active,
                                 "controllers reaching a broker whose core does not dispatch"),
    "active_stack_failing": Rule(_BOTH, abnormal.active_stack_failing),
    "active_stack_healthy": Rule(_BOTH, abnormal.active_stack_healthy),
    "resolvers_disagree": Rule(frozenset({"dns"}), abnormal.resolvers_disagree),
}


def needs(condition: str) -> frozenset[str]:
    return RULES[condition].needs


def _has(obs: RoomObservation, part: str) -> bool:
    if part == "files":
        return obs.files is not None
    if part == "dns":
        return obs.dns is not None
    kind, role = part.split(":")
    return (obs.stack(role) if kind == "docker" else obs.broker(role)) is not None


def _clear(obs: RoomObservation, part: str) -> bool:
    """Whether a part was seen clearly enough to say a condition stopped holding: a daemon that
    did not answer, or a broker not read yet (or refusing us), says nothing about the room."""
    if ":" not in part:
        return True
    kind, role = part.split(":")
    if kind == "docker":
        return _stack(obs, role).connected
    return _broker(obs, role).state in ("ok", "unreachable")


def seen_since(condition: str, obs: RoomObservation, since: float) -> bool:
    """Whether the polled parts a condition rests on (DNS answers, brokers' statuses, files) were
    seen after `since`. Docker's part is followed by events, so it is current whenever it is
    there; a DNS poll that started before a step was proven done must not un-prove it."""
    times = {"dns": obs.dns.at if obs.dns else None, "files": obs.files.at if obs.files else None}
    for part in RULES[condition].needs:
        at = times.get(part) if ":" not in part else (
            (b.at if (b := obs.broker(part.split(":")[1])) else None) if part.startswith("broker:") else since + 1)
        if at is None or at <= since:
            return False
    return True


def evaluate(condition: str, obs: RoomObservation) -> Verdict:
    rule = RULES[condition]
    missing = sorted(p for p in rule.needs if not _has(obs, p))
    if missing:
        return Verdict(condition, False, f"not looked at: {', '.join(missing)}", obs.at, seen=False)
    try:
        holds, detail = rule.judge(obs)
    except Exception as exc:  # noqa: BLE001 - a rule that cannot judge fails closed, never crashes the caller
        return Verdict(condition, False, f"could not judge: {exc.__class__.__name__}: {str(exc)[:160]}", obs.at, seen=False)
    # Holding is seen; not holding is seen only where every part it rests on was seen clearly.
    return Verdict(condition, bool(holds), detail, obs.at, seen=bool(holds) or all(_clear(obs, p) for p in rule.needs))


def evaluate_many(conditions: Iterable[str], obs: RoomObservation) -> dict[str, Verdict]:
    """Each condition judged as `evaluate` judges it, with the parts of the observation looked up
    once for all of them (the triggers are judged together on every observation the engine takes)."""
    conditions = tuple(conditions)
    parts = frozenset().union(*(RULES[c].needs for c in conditions))
    has = {p: _has(obs, p) for p in parts}
    clear = {p: has[p] and _clear(obs, p) for p in parts}
    out = {}
    for condition in conditions:
        rule = RULES[condition]
        missing = sorted(p for p in rule.needs if not has[p])
        if missing:
            out[condition] = Verdict(condition, False, f"not looked at: {', '.join(missing)}", obs.at, seen=False)
            continue
        try:
            holds, detail = rule.judge(obs)
        except Exception as exc:  # noqa: BLE001 - as evaluate: a rule that cannot judge fails closed
            out[condition] = Verdict(condition, False, f"could not judge: {exc.__class__.__name__}: {str(exc)[:160]}",
                                     obs.at, seen=False)
            continue
        out[condition] = Verdict(condition, bool(holds), detail, obs.at,
                                 seen=bool(holds) or all(clear[p] for p in rule.needs))
    return out


def protects(condition: str) -> str:
    return RULES[condition].protects if condition in RULES else ""
