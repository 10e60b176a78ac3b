"""Is a room's standby ready to be promoted? Runbook section 5, judged on an observation.

Each check says what it saw and, when it fails, the runbook's command that fixes it. The ages
of the last database backup and of the last restore into the standby are shown, not judged:
how old is too old is each venue's call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from runbook_tui.envfile import is_true
from runbook_tui.observe.model import RoomObservation
from runbook_tui.rules.room import CORE, SERVICES, is_live, started_with, versions_said
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

    @property
    def ready(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]


def _age(seconds_ago: float | None) -> str:
    if seconds_ago is None:
        return "none on record"
    hours = seconds_ago / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def readiness(obs: RoomObservation, now: float | None = None) -> Readiness:
    """The standby's readiness, from an observation with files and both stacks' Docker parts."""
    now = time.time() if now is None else now
    room = obs.room
    files = {s.role: s for s in obs.files.stacks} if obs.files else {}
    primary, standby = files.get("primary"), files.get("standby")
    p_env, s_env = (primary.env_dict if primary else {}), (standby.env_dict if standby else {})
    s_dir = standby.directory if standby else f"infra/rooms/{room}-standby"
    checks: list[Check] = []
    missing = [f"infra/rooms/{room}-{role}" if f is None else f.directory for role, f in (("primary", primary), ("standby", standby))
               if f is None or not f.exists or not f.has_env]
    if missing:
        # Nothing else can be judged (and no fix points into a folder that is not there).
        return Readiness(room, (Check("stacks created", False, f"no stack (folder with .env) at {' and '.join(missing)}",
                                      f"scripts/new-room-standby.sh {room} --primary-addr ADDR --standby-addr ADDR "
                                      "(runbook 1), or fix the room's primary_dir / standby_dir in the settings"),))

    stack = obs.stack("standby")
    if stack is None or not stack.connected:
        checks.append(Check("standby up, dispatch off", False, f"Docker not reachable: {stack.error if stack else 'not looked at'}"))
    else:
        states = {s: (svc.state if (svc := stack.service(s)) else "absent") for s in SERVICES}
        core = stack.service(CORE)
        dispatching = (is_live(core) and started_with(core, "CORE_DISPATCH_ENABLED")) or is_true(s_env.get("CORE_DISPATCH_ENABLED"))
        up = all(v == "running" for v in states.values())
        checks.append(Check("standby up, dispatch off", up and not dispatching,
                            ", ".join(f"{s} {v}" for s, v in states.items()) + ("; dispatch ENABLED" if dispatching else "; dispatch off"),
                            "" if up and not dispatching else
                            f"(cd {s_dir} && docker compose --env-file .env up -d) with CORE_DISPATCH_ENABLED=false"))

    p_core = obs.stack("primary").service(CORE) if obs.stack("primary") else None
    s_core = stack.service(CORE) if stack else None
    versions = (p_env.get("CORE_VERSION", "?"), s_env.get("CORE_VERSION", "?"))
    images = (p_core.image if p_core else "?", s_core.image if s_core else "?")
    # What the running cores say of themselves, where their status reads (each stack builds its
    # own image tag, so the versions are compared, and the images shown).
    said = versions_said(obs)
    same_version = versions[0] == versions[1] != "?" and len(set(said.values())) <= 1
    running = f"; running cores say {', '.join(f'{r} {v}' for r, v in said.items())}" if said else ""
    checks.append(Check("same core version", same_version,
                        f"CORE_VERSION primary {versions[0]}, standby {versions[1]}{running}; images {images[0]}, {images[1]}",
                        "" if same_version else f"set CORE_VERSION={versions[0]} in {s_dir}/.env, then "
                                                f"(cd {s_dir} && docker compose --env-file .env up -d --force-recreate {CORE})"))

    differing = differing_keys(p_env, s_env)
    unreadable = [role for role, env in (("primary", p_env), ("standby", s_env)) if not env]
    checks.append(Check(".env aligned", not differing and not unreadable,
                        f"cannot compare: the {' and '.join(unreadable)} .env is empty or unreadable" if unreadable
                        else "aligned except the per-stack keys" if not differing else f"differ: {', '.join(differing)}",
                        "" if not differing else f"align {s_dir}/.env with the primary's (runbook 5), then recreate what reads it"))

    for role, f in (("primary", primary), ("standby", standby)):
        admits = f.passwd_admits if f else None
        directory = f.directory if f else f"infra/rooms/{room}-{role}"
        said = {True: "lets the .env's MQTT user in", False: "does NOT let the .env's MQTT user in (stale)",
                None: "cannot be checked (missing, or no MQTT credentials in .env)"}[admits]
        checks.append(Check(f"{role} passwd current", admits is True, f"{directory}/mosquitto/passwd {said}",
                            "" if admits else f"scripts/mosquitto-make-passwd.sh {directory}/.env, then "
                                              f"(cd {directory} && docker compose --env-file .env up -d --force-recreate mosquitto)"))

    backup = primary.last_backup if primary else None
    restore = standby.last_restore if standby else None
    checks.append(Check("last backup of the primary", None, _age(None if backup is None else now - backup),
                        f"scripts/backup-room-db.sh {room}"))
    checks.append(Check("last restore into the standby", None, _age(None if restore is None else now - restore),
                        f"scripts/restore-room-db.sh {room}-standby backups/{room}-primary-latest.sql.gz"))
    return Readiness(room, tuple(checks))
