"""Wiring the three probes to one room's two stacks (addresses, credentials, projects)."""

from __future__ import annotations

from pathlib import Path

from runbook_tui.envfile import read_env
from runbook_tui.mqtt_contract import BrokerEndpoint, Topics
from runbook_tui.probes.docker_probe import DockerTarget
from runbook_tui.stacks import ROLES


def _env(stack_dir: Path) -> dict[str, str]:
    try:
        return read_env(stack_dir / ".env")
    except OSError:
        return {}


def docker_targets(room: str, stack_dirs: dict[str, Path], docker_hosts: dict[str, str] | None = None) -> list[DockerTarget]:
    targets = []
    for role in ROLES:
        env = _env(stack_dirs[role])
        project = f"{env.get('ROOM_ID') or room}-{env.get('STACK_ROLE') or role}"
        targets.append(DockerTarget(role, project, stack_dirs[role] / ".env", (docker_hosts or {}).get(role)))
    return targets


def mqtt_brokers(stack_dirs: dict[str, Path]) -> dict[str, BrokerEndpoint]:
    """Each stack's broker where controllers reach it, with the stack's credentials (never shown)."""
    brokers = {}
    for role in ROLES:
        env = _env(stack_dirs[role])
        brokers[role] = BrokerEndpoint(env.get("MQTT_BIND_ADDR") or "127.0.0.1", int(env.get("MQTT_PORT") or 1883),
                                       env.get("MQTT_USERNAME") or None, env.get("MQTT_PASSWORD") or None)
    return brokers


def contract(stack_dirs: dict[str, Path]) -> Topics:
    return Topics.from_env(_env(stack_dirs["standby"]))


def known_addresses(stack_dirs: dict[str, Path]):
    """A function giving role -> broker address, read fresh each time (for the DNS probe)."""
    def read() -> dict[str, str]:
        return {role: _env(stack_dirs[role]).get("MQTT_BIND_ADDR", "") for role in ROLES if _env(stack_dirs[role])}
    return read
