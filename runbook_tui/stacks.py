"""Where a room's primary and standby stacks live and what their .env says.

A stack is a directory `<rooms_dir>/<room>-<role>` holding compose.yaml and .env, created
from infra/room-template by scripts/new-room-standby.sh. The stack root is this checkout or
an operator's own one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runbook_tui.envfile import is_true, read_env
from runbook_tui.mqtt_contract import BrokerEndpoint, Topics, broker_endpoint
from runbook_tui.secrets import SECRET_KEY

ROLES = ("primary", "standby")
DEFAULT_DOMAIN = "sentientengine.ai"
# What a room id is: lower-case letters, digits and inner dashes (it names directories,
# compose projects and DNS labels).
ROOM_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


def project_name(room: str, role: str, env: dict[str, str]) -> str:
    """The one project-name rule: a stack's compose project is <ROOM_ID>-<STACK_ROLE> from its
    .env, else <room>-<role> (what scripts/new-room-standby.sh writes and compose is run with)."""
    return f"{env.get('ROOM_ID') or room}-{env.get('STACK_ROLE') or role}"


def broker_hostname(room: str, domain: str = DEFAULT_DOMAIN) -> str:
    """The name the room's controllers resolve: mqtt.<room>.sentientengine.ai."""
    return f"mqtt.{room}.{domain}"


@dataclass(frozen=True)
class Stack:
    room: str
    role: str
    directory: Path

    @property
    def name(self) -> str:
        """Also the compose project name."""
        return f"{self.room}-{self.role}"

    @property
    def env_file(self) -> Path:
        return self.directory / ".env"

    def exists(self) -> bool:
        return self.env_file.is_file() and (self.directory / "compose.yaml").is_file()

    def env(self) -> dict[str, str]:
        return read_env(self.env_file)

    def dispatch_enabled_in_env(self) -> bool:
        return is_true(self.env().get("CORE_DISPATCH_ENABLED"))

    def broker(self, host: str | None = None) -> BrokerEndpoint:
        """The broker as controllers reach it (MQTT_BIND_ADDR), credentials from .env."""
        return broker_endpoint(self.env(), host)

    def topics(self) -> Topics:
        return Topics.from_env(self.env())


# Keys allowed to differ between the two .env files of a room (runbook section 5); every other
# key must match, or the standby has drifted from the primary.
PER_STACK_KEYS = frozenset({"STACK_ROLE", "MQTT_BIND_ADDR", "MQTT_PORT", "MQTT_LOCAL_PORT",
                            "CORE_DISPATCH_ENABLED", "CORE_CRITICAL_ARMED",
                            # The training lab's lever for drill faults: the trainer's, never a room's
                            # setting, and never shown to a trainee as a difference between the stacks.
                            "CORE_FAULT"})


def shared_settings(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The keys both stacks must agree on, for comparison. A secret's value is replaced by its
    sha256, so a difference shows without the value ever leaving this function."""
    import hashlib  # here: the TUI's first frame loads this module, not this function

    return tuple(sorted((k, "sha256:" + hashlib.sha256(v.encode()).hexdigest() if SECRET_KEY.search(k) else v)
                        for k, v in env.items() if k not in PER_STACK_KEYS))


def differing_keys(primary: dict[str, str], standby: dict[str, str]) -> list[str]:
    """The keys, outside the per-stack ones, on which the two stacks' settings disagree."""
    return sorted(k for k in set(primary) | set(standby) if k not in PER_STACK_KEYS and primary.get(k) != standby.get(k))


def alignment(target: dict[str, str], source: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """What aligning `target` with `source` (runbook 5: the .env files aligned, except per-stack
    keys) writes: the shared keys whose values differ; and the keys only `target` has, which an
    edit cannot align (they would have to be removed, which is left to a person)."""
    changes = {k: v for k, v in source.items() if k not in PER_STACK_KEYS and target.get(k) != v}
    only_in_target = sorted(k for k in target if k not in PER_STACK_KEYS and k not in source)
    return changes, only_in_target


def drift(primary: tuple[tuple[str, str], ...], standby: tuple[tuple[str, str], ...]) -> list[str]:
    """What differs between the stacks' shared settings, said without secret values."""
    p, s = dict(primary), dict(standby)
    out = []
    for key in differing_keys(p, s):
        if SECRET_KEY.search(key):
            out.append(f"{key} differs (values not shown)")
        else:
            out.append(f"{key} primary {p.get(key, '(unset)') or '(empty)'} / standby {s.get(key, '(unset)') or '(empty)'}")
    return out


def default_rooms_dir(stack_root: Path) -> Path:
    return stack_root / "infra" / "rooms"


def fault_log(stack_root: Path, room: str) -> Path:
    """Where the training lab logs the faults injected into a room (JSON lines), for its open run."""
    return stack_root / ".runbook" / "faults" / f"{room}.jsonl"


def default_runs_dir(stack_root: Path) -> Path:
    """Where run journals go when the settings name no journal directory."""
    return stack_root / ".runbook" / "runs"


def room_stacks(rooms_dir: Path, room: str) -> dict[str, Stack]:
    return {role: Stack(room, role, rooms_dir / f"{room}-{role}") for role in ROLES}


def known_rooms(rooms_dir: Path) -> list[str]:
    """Rooms that have both stacks in rooms_dir, sorted."""
    if not rooms_dir.is_dir():
        return []
    rooms = {p.name.rsplit("-", 1)[0] for p in rooms_dir.glob("*-primary") if (p / ".env").is_file()}
    return sorted(r for r in rooms if (rooms_dir / f"{r}-standby" / ".env").is_file())
