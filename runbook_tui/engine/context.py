"""Building the sensing context of a run from its resolved variables."""

from __future__ import annotations

from pathlib import Path

from runbook_tui.engine.sensing import SiteContext


def site_context(values: dict[str, str], stack_root: Path, resolvers: tuple[tuple[str, int], ...],
                 docker_hosts: tuple[tuple[str, str], ...] = ()) -> SiteContext:
    room = values["room"]
    return SiteContext(
        stack_root=stack_root,
        room=room,
        primary_dir=stack_root / values.get("primary_dir", f"infra/rooms/{room}-primary"),
        standby_dir=stack_root / values.get("standby_dir", f"infra/rooms/{room}-standby"),
        broker_name=values.get("broker_name", f"mqtt.{room}.sentientengine.ai"),
        resolvers=resolvers,
        docker_hosts=docker_hosts,
        expected_addresses=tuple((role, values[f"{role}_broker_addr"]) for role in ("primary", "standby")
                                 if values.get(f"{role}_broker_addr")),
    )


def parse_resolver(text: str) -> tuple[str, int]:
    """ADDRESS[:PORT] -> (address, port); port 53 by default."""
    host, sep, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not sep:
        return text, 53
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"resolver {text!r}: the port must be a number from 1 to 65535")
    return host, int(port)
