"""Is a room's standby pair ready? Runbook section 5, judged on an observation.

The pair is judged as it stands. Before a promotion the primary is the active stack and the
standby must be up with dispatch off, ready to be promoted. After one the standby is the active
stack: it must stay up and dispatching, and the primary must stay quiet (dispatch off in its
.env, so that failback can bring it up without a second dispatching core). No fix ever disarms
the active core.

Each check says what it saw and, when it fails, the runbook's command that fixes it. The ages
of the last database backup and of the last restore into the standby are shown, not judged:
how old is too old is each venue's call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from runbook_tui.envfile import is_true
from runbook_tui.observe.model import ROLES, RoomObservation, StackFiles, StackSnapshot
from runbook_tui.rules.room import (
    CORE,
    SERVICES,
    broker_dispatching,
    docker_dispatching,
    is_live,
    started_with,
    versions_said,
)
from runbook_tui.stacks import differing_keys


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: shown for information, not judged
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Readiness:
    room: str
    checks: tuple[Check, ...]
    active: str = "primary"  # primary / standby / both / none / unknown (active_stack)
    active_detail: str = ""

    @property
    def ready(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]


def active_stack(obs: RoomObservation) -> tuple[str, str]:
    """Whose core is up with dispatch enabled, by Docker's account or by the core's own status."""
    says = {}
    for role in ROLES:
        by_docker, by_status = docker_dispatching(obs.stack(role)), broker_dispatching(obs, role)
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


def _age(seconds_ago: float | None) -> str:
    if seconds_ago is None:
        return "none on record"
    hours = seconds_ago / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def _states(stack: StackSnapshot) -> dict[str, str]:
    return {s: (svc.state if (svc := stack.service(s)) else "absent") for s in SERVICES}


def _quiet_standby(stack: StackSnapshot | None, s_env: dict[str, str], s_dir: str, active: str) -> Check:
    """Before a promotion: the standby up, its core started and set with dispatch off."""
    name = "standby up, dispatch off"
    if stack is None or not stack.connected:
        return Check(name, False, f"Docker not reachable: {stack.error if stack else 'not looked at'}")
    states = _states(stack)
    core = stack.service(CORE)
    dispatching = (is_live(core) and started_with(core, "CORE_DISPATCH_ENABLED")) or is_true(s_env.get("CORE_DISPATCH_ENABLED"))
    up = all(v == "running" for v in states.values())
    detail = ", ".join(f"{s} {v}" for s, v in states.items()) + ("; dispatch ENABLED" if dispatching else "; dispatch off")
    if up and not dispatching:
        return Check(name, True, detail)
    if active == "both":
        # Which core the room runs on is the operator's call (where the name points, which
        # controllers follow it): a fix from here could disarm the one the room depends on.
        return Check(name, False, detail + "; both cores dispatch (DUAL CONTROL)",
                     "stop one core by the runbook: promotion 3 shuts the primary down; failback (runbook 4) quiets the standby")
    return Check(name, False, detail, f"(cd {s_dir} && docker compose --env-file .env up -d) with CORE_DISPATCH_ENABLED=false")


def _active_standby(stack: StackSnapshot | None, s_env: dict[str, str], s_dir: str) -> Check:
    """After a promotion: the standby is the room's; it stays up and dispatching."""
    name = "standby up, dispatching (active)"
    if stack is None or not stack.connected:
        return Check(name, False, f"Docker not reachable: {stack.error if stack else 'not looked at'}")
    states = _states(stack)
    up = all(v == "running" for v in states.values())
    detail = ", ".join(f"{s} {v}" for s, v in states.items()) + "; core up with dispatch enabled"
    if not is_true(s_env.get("CORE_DISPATCH_ENABLED")):
        # The running core dispatches, its .env no longer says so: the next recreate or `up`
        # would disarm the only core that dispatches.
        return Check(name, False, detail + f"; but {s_dir}/.env says CORE_DISPATCH_ENABLED="
                     f"{s_env.get('CORE_DISPATCH_ENABLED', 'unset')}: recreated, the active core would stop dispatching",
                     f"set CORE_DISPATCH_ENABLED=true in {s_dir}/.env (it is the active stack until failback)")
    return Check(name, up, detail, "" if up else f"(cd {s_dir} && docker compose --env-file .env up -d)")


def _quiet_primary(obs: RoomObservation, p_env: dict[str, str], p_dir: str) -> Check:
    """After a promotion: the primary stays quiet, so failback can bring it up safely."""
    name = "primary quiet, ready for failback"
    stack = obs.stack("primary")
    where = (", ".join(f"{s} {v}" for s, v in _states(stack).items()) if stack is not None and stack.connected
             else f"Docker not reachable: {stack.error if stack else 'not looked at'}")
    said = p_env.get("CORE_DISPATCH_ENABLED", "unset")
    if is_true(said):
        return Check(name, False, f"{where}; {p_dir}/.env says CORE_DISPATCH_ENABLED={said}: brought up before failback, "
                     "it would start a second dispatching core",
                     f"set CORE_DISPATCH_ENABLED=false in {p_dir}/.env (runbook 3: disable dispatch in the stopped primary's .env)")
    if stack is None or not stack.connected:
        # Its .env says what a new start would do, not what the containers left on a lost host do:
        # they restart by their policy with the configuration they had (dispatch on, if they were
        # the active core), whatever the .env says now.
        return Check(name, False, f"{where}; .env CORE_DISPATCH_ENABLED={said}, but its containers cannot be seen: "
                     "left on its host, they restart with the configuration they had when the host comes back",
                     "reach the primary's engine (its host and the settings' [docker] primary), then shut the "
                     f"primary down on it: (cd {p_dir} && docker compose --env-file .env down)")
    return Check(name, True, f"{where}; .env CORE_DISPATCH_ENABLED={said}: brought up, it comes back quiet")


def _records_only_on_standby(room: str, standby: StackFiles | None, now: float) -> Check:
    """Records the standby holds and the primary lacks (dispatched while it was the active
    stack) are lost by the next restore into it: copied back first, or discarded as a decision."""
    name = "no records only on the standby"
    ids = standby.records_only_here if standby else ()
    if not ids:
        # The databases are compared by the scripts, not by a look: none noted is not none held.
        return Check(name, None, "none noted (scripts/copy-back-room-db.sh ROOM --check compares the two databases)",
                     f"scripts/copy-back-room-db.sh {room} --check")
    at = standby.records_only_here_at if standby else None
    return Check(name, False, f"the standby holds {len(ids)} dispatch record(s) the primary lacks, which a restore into "
                 f"it would lose: {', '.join(ids[:10])}{', ...' if len(ids) > 10 else ''} (found {_age(None if at is None else now - at)})",
                 f"copy them back: scripts/copy-back-room-db.sh {room}, then scripts/backup-room-db.sh {room} and the restore; "
                 f"or discard them as a decision: scripts/restore-room-db.sh {room}-standby backups/{room}-primary-latest.sql.gz "
                 "--discard-newer REASON")


def _engine(obs: RoomObservation, role: str) -> Check:
    """Which Docker engine the stack is looked at on, and whether it answers: a lost host is said
    as such, never as a stack with no containers."""
    stack = obs.stack(role)
    where = (stack.engine if stack is not None else None) or "this machine's default"
    name = f"{role} engine"
    if stack is None:
        return Check(name, None, f"{where}: not looked at")
    if stack.connected:
        return Check(name, None, f"{where}: reachable")
    since = time.strftime("%H:%M:%S", time.localtime(stack.unreachable_since or stack.at))
    return Check(name, False, f"{where}: unreachable since {since} ({stack.error})",
                 f"check the {role}'s host, and its engine in the settings ([docker] {role} or [rooms.{obs.room}.docker])")


def readiness(obs: RoomObservation, now: float | None = None) -> Readiness:
    """The pair's readiness, from an observation with files, both stacks' Docker parts and brokers."""
    now = time.time() if now is None else now
    room = obs.room
    active, active_detail = active_stack(obs)
    files = {s.role: s for s in obs.files.stacks} if obs.files else {}
    primary, standby = files.get("primary"), files.get("standby")
    p_env, s_env = (primary.env_dict if primary else {}), (standby.env_dict if standby else {})
    p_dir = primary.directory if primary else f"infra/rooms/{room}-primary"
    s_dir = standby.directory if standby else f"infra/rooms/{room}-standby"
    checks: list[Check] = []
    missing = [f"infra/rooms/{room}-{role}" if f is None else f.directory for role, f in (("primary", primary), ("standby", standby))
               if f is None or not f.exists or not f.has_env]
    if missing:
        # Nothing else can be judged (and no fix points into a folder that is not there).
        return Readiness(room, (Check("stacks created", False, f"no stack (folder with .env) at {' and '.join(missing)}",
                                      f"scripts/new-room-standby.sh {room} --primary-addr ADDR --standby-addr ADDR "
                                      "(runbook 1), or fix the room's primary_dir / standby_dir in the settings"),),
                         active, active_detail)

    checks += [_engine(obs, role) for role in ("primary", "standby")]
    stack = obs.stack("standby")
    promoted = active == "standby"
    if promoted:
        checks += [_active_standby(stack, s_env, s_dir), _quiet_primary(obs, p_env, p_dir)]
    else:
        checks.append(_quiet_standby(stack, s_env, s_dir, active))
    # What is brought in line with what: the quiet stack with the active one.
    ref_env, target_dir, target_env = (s_env, p_dir, p_env) if promoted else (p_env, s_dir, s_env)

    p_core = p_stack.service(CORE) if (p_stack := obs.stack("primary")) else None
    s_core = stack.service(CORE) if stack else None
    versions = (p_env.get("CORE_VERSION", "?"), s_env.get("CORE_VERSION", "?"))
    images = (p_core.image if p_core else "?", s_core.image if s_core else "?")
    # What the running cores say of themselves, where their status reads (each stack builds its
    # own image tag, so the versions are compared, and the images shown).
    said = versions_said(obs)
    same_version = versions[0] == versions[1] != "?" and len(set(said.values())) <= 1
    running = f"; running cores say {', '.join(f'{r} {v}' for r, v in said.items())}" if said else ""
    target_core = p_core if promoted else s_core
    # Recreating the quiet stack's core is offered only while its .env keeps it quiet; a stopped
    # primary picks the version up when failback brings it up.
    recreate = (f", then (cd {target_dir} && docker compose --env-file .env up -d --force-recreate {CORE})"
                if not promoted or (is_live(target_core) and not is_true(target_env.get("CORE_DISPATCH_ENABLED")))
                else " (failback brings the primary up with it)")
    checks.append(Check("same core version", same_version,
                        f"CORE_VERSION primary {versions[0]}, standby {versions[1]}{running}; images {images[0]}, {images[1]}",
                        "" if same_version else f"set CORE_VERSION={ref_env.get('CORE_VERSION', '?')} in {target_dir}/.env{recreate}"))

    differing = differing_keys(p_env, s_env)
    unreadable = [role for role, env in (("primary", p_env), ("standby", s_env)) if not env]
    checks.append(Check(".env aligned", not differing and not unreadable,
                        f"cannot compare: the {' and '.join(unreadable)} .env is empty or unreadable" if unreadable
                        else "aligned except the per-stack keys" if not differing else f"differ: {', '.join(differing)}",
                        "" if not differing else
                        f"align {target_dir}/.env with the active standby's (runbook 5); failback brings the primary up with it"
                        if promoted else f"align {target_dir}/.env with the primary's (runbook 5), then recreate what reads it"))

    for role, f in (("primary", primary), ("standby", standby)):
        admits = f.passwd_admits if f else None
        directory = f.directory if f else f"infra/rooms/{room}-{role}"
        words = {True: "lets the .env's MQTT user in", False: "does NOT let the .env's MQTT user in (stale)",
                 None: "cannot be checked (missing, or no MQTT credentials in .env)"}[admits]
        checks.append(Check(f"{role} passwd current", admits is True, f"{directory}/mosquitto/passwd {words}",
                            "" if admits else f"scripts/mosquitto-make-passwd.sh {directory}/.env, then "
                                              f"(cd {directory} && docker compose --env-file .env up -d --force-recreate mosquitto)"))

    checks.append(_records_only_on_standby(room, standby, now))
    backup = primary.last_backup if primary else None
    restore = standby.last_restore if standby else None
    checks.append(Check("last backup of the primary", None, _age(None if backup is None else now - backup),
                        f"scripts/backup-room-db.sh {room}"))
    discarded = standby.restore_discarded if standby else ()
    checks.append(Check("last restore into the standby", None, _age(None if restore is None else now - restore)
                        + (f"; it discarded {len(discarded)} dispatch record(s) only the standby held "
                           f"({', '.join(discarded[:10])}{', ...' if len(discarded) > 10 else ''}), "
                           f"reason given: {standby.restore_reason or 'none'}" if discarded and standby else ""),
                        f"scripts/restore-room-db.sh {room}-standby backups/{room}-primary-latest.sql.gz"))
    return Readiness(room, tuple(checks), active, active_detail)
