"""Where a room's parts are: the one place that turns a room's settings into Docker projects,
broker endpoints, the broker name and the resolvers to ask.

One project-name rule, one endpoint builder, one DNS configuration: the one-shot look, the
long-lived probes and the rules all take them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runbook_tui.checklist.model import unset_in
from runbook_tui.envfile import read_env
from runbook_tui.files import inside
from runbook_tui.mqtt_contract import BrokerEndpoint, Topics, broker_endpoint
from runbook_tui.observe.model import ROLES
from runbook_tui.settings import Settings
from runbook_tui.stacks import project_name

DEFAULT_RESOLVERS: tuple[tuple[str, int], ...] = (("127.0.0.1", 5353),)


@dataclass(frozen=True)
class SiteContext:
    stack_root: Path
    room: str
    primary_dir: Path
    standby_dir: Path
    broker_name: str
    resolvers: tuple[tuple[str, int], ...] = DEFAULT_RESOLVERS
    docker_hosts: tuple[tuple[str, str], ...] = ()  # (role, DOCKER_HOST); absent: the local default
    dns_lifetime_s: float = 2.0
    # (role, address) the broker name must point at, as the checklist told the operator;
    # a role not listed falls back to the stack's MQTT_BIND_ADDR.
    expected_addresses: tuple[tuple[str, str], ...] = ()

    def stack_dir(self, role: str) -> Path:
        return self.primary_dir if role == "primary" else self.standby_dir

    def stack_dirs(self) -> dict[str, Path]:
        return {role: self.stack_dir(role) for role in ROLES}

    def env_file(self, role: str) -> Path:
        return self.stack_dir(role) / ".env"

    def env(self, role: str) -> dict[str, str]:
        """The stack's .env; empty when it cannot be read (a missing stack is a state, not an error)."""
        try:
            return read_env(self.env_file(role))
        except (OSError, UnicodeDecodeError, ValueError):
            return {}

    def docker_host(self, role: str) -> str | None:
        return dict(self.docker_hosts).get(role)

    def project(self, role: str, env: dict[str, str] | None = None) -> str:
        return project_name(self.room, role, self.env(role) if env is None else env)

    def broker(self, role: str, env: dict[str, str] | None = None) -> BrokerEndpoint:
        """The stack's broker where controllers reach it, with its credentials (never shown)."""
        return broker_endpoint(self.env(role) if env is None else env)

    def brokers(self) -> dict[str, BrokerEndpoint]:
        return {role: self.broker(role) for role in ROLES}

    def topics(self, role: str = "standby") -> Topics:
        return Topics.from_env(self.env(role))

    def addresses(self) -> dict[str, str]:
        """role -> the address the broker name answers for that stack (read fresh: .env may change)."""
        out = {}
        for role in ROLES:
            want = dict(self.expected_addresses).get(role) or self.env(role).get("MQTT_BIND_ADDR", "")
            if want:
                out[role] = want
        return out


def site_context(values: dict[str, str], stack_root: Path, resolvers: tuple[tuple[str, int], ...],
                 docker_hosts: tuple[tuple[str, str], ...] = (), dns_lifetime_s: float = 2.0) -> SiteContext:
    """The site of a run, from its resolved checklist variables and the site settings."""
    room = values["room"]
    return SiteContext(
        stack_root=stack_root,
        room=room,
        # Inside the stack root, symlinks included (OutsideRoot, a ValueError, otherwise).
        primary_dir=inside(stack_root, values.get("primary_dir", f"infra/rooms/{room}-primary"), "primary_dir"),
        standby_dir=inside(stack_root, values.get("standby_dir", f"infra/rooms/{room}-standby"), "standby_dir"),
        broker_name=values.get("broker_name", f"mqtt.{room}.sentientengine.ai"),
        resolvers=resolvers,
        docker_hosts=docker_hosts,
        dns_lifetime_s=dns_lifetime_s,
        expected_addresses=tuple((role, values[f"{role}_broker_addr"]) for role in ROLES
                                 if values.get(f"{role}_broker_addr") and not unset_in(values[f"{role}_broker_addr"])),
    )


def room_site(settings: Settings) -> SiteContext:
    """A room's site outside a checklist run (readiness, the venue view): the room's settings
    (settings.for_room), its stack directories and broker name from the site's variables."""
    assert settings.room, "room_site takes the settings of one room (Settings.for_room)"
    values = {"room": settings.room} | {k: v for k, v in settings.variables.items()
                                        if k in ("primary_dir", "standby_dir", "broker_name")}
    return site_context(values, settings.stack_root, settings.resolvers, tuple(settings.docker_hosts.items()),
                        settings.dns_lifetime_s)
