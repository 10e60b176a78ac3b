"""A lab room's stacks as the product's one site description (observe.site) wires them."""

from __future__ import annotations

from pathlib import Path

from runbook_tui.observe.site import SiteContext
from runbook_tui.probes.docker_probe import DockerTarget


def site(dirs: dict[str, Path], room: str = "room1", docker_hosts: dict[str, str] | None = None) -> SiteContext:
    return SiteContext(dirs["primary"].parent.parent.parent, room, dirs["primary"], dirs["standby"], f"mqtt.{room}.sentientengine.ai",
                       docker_hosts=tuple((docker_hosts or {}).items()))


def mqtt_brokers(dirs: dict[str, Path]):
    return site(dirs).brokers()


def contract(dirs: dict[str, Path]):
    return site(dirs).topics()


def known_addresses(dirs: dict[str, Path]):
    return site(dirs).addresses


def docker_targets(room: str, dirs: dict[str, Path], docker_hosts: dict[str, str] | None = None) -> list[DockerTarget]:
    s = site(dirs, room, docker_hosts)
    return [DockerTarget(role, s.project(role), s.env_file(role), s.docker_host(role)) for role in ("primary", "standby")]


def confirmed_at_room(engine, step: str, name: str = "Rui at the room") -> None:
    """The person at the room confirms `step` as the floor view does (its inbox), and the
    console's engine takes it."""
    from runbook_tui.engine.floor import send_confirmation

    assert engine.receive_room_confirmation(send_confirmation(engine.journal.path, step, name)) == ""


def up_to_the_safe_room(engine, room: str) -> None:
    """A promotion's first steps as an operator takes them: the room sensed, both .env files
    confirmed, option B chosen, the room made safe (confirmed at the room, then by the console)."""
    engine.reconcile()
    engine.mark_done("edit-env", confirmed=True)
    engine.choose("controller_reach", "B")
    confirmed_at_room(engine, "room-safe")
    engine.mark_done("room-safe", typed_room=room)
