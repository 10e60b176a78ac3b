"""One-shot evaluation of the named conditions against the live system.

Each check looks at the real thing (the Docker daemon of each stack, the configured DNS
resolvers, the brokers' retained status) and returns Evidence: whether the condition holds
and what was seen, in words an operator can check. A check that cannot see (daemon gone,
resolver silent) does not hold, and says so: a guard fails closed. Secrets never appear in
evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runbook_tui.checklist.conditions import CONDITIONS
from runbook_tui.envfile import is_true, read_env
from runbook_tui.lab.readiness import look_retained, read_retained, read_retained_all, resolve_a
from runbook_tui.mqtt_contract import BrokerEndpoint, Topics
from runbook_tui.stacks import differing_keys

SERVICES = ("mosquitto", "sentient-core", "db")
# A container in these states runs no code. "restarting" and "paused" are not among them: a
# flapping core comes back by itself, which is exactly the dual-control risk.
STOPPED_STATES = frozenset({"exited", "dead", "created"})


@dataclass(frozen=True)
class Evidence:
    condition: str
    holds: bool
    detail: str
    at: float = field(default_factory=time.time)

    def __str__(self) -> str:
        return f"{self.condition}: {'yes' if self.holds else 'no'}: {self.detail}"


@dataclass(frozen=True)
class SiteContext:
    stack_root: Path
    room: str
    primary_dir: Path
    standby_dir: Path
    broker_name: str
    resolvers: tuple[tuple[str, int], ...] = (("127.0.0.1", 5353),)
    docker_hosts: tuple[tuple[str, str], ...] = ()  # (role, DOCKER_HOST); absent: the local default
    dns_lifetime_s: float = 2.0
    # (role, address) the broker name must point at, as the checklist told the operator;
    # a role not listed falls back to the stack's MQTT_BIND_ADDR.
    expected_addresses: tuple[tuple[str, str], ...] = ()

    def stack_dir(self, role: str) -> Path:
        return self.primary_dir if role == "primary" else self.standby_dir

    def env(self, role: str) -> dict[str, str]:
        return read_env(self.stack_dir(role) / ".env")

    def project(self, role: str) -> str:
        env = self.env(role)
        return f"{env.get('ROOM_ID') or self.room}-{env.get('STACK_ROLE') or role}"

    def broker(self, role: str) -> BrokerEndpoint:
        env = self.env(role)
        return BrokerEndpoint(env.get("MQTT_BIND_ADDR", ""), int(env.get("MQTT_PORT") or 1883),
                              env.get("MQTT_USERNAME") or None, env.get("MQTT_PASSWORD") or None)


class Sensors:
    def __init__(self, ctx: SiteContext) -> None:
        self.ctx = ctx
        self._checks: dict[str, Callable[[], Evidence]] = {
            "stack_dirs_absent": self._dirs_absent,
            "stack_dirs_exist": self._dirs_exist,
            "primary_passwd_present": lambda: self._passwd("primary_passwd_present", "primary"),
            "standby_passwd_present": lambda: self._passwd("standby_passwd_present", "standby"),
            "primary_stack_running": lambda: self._stack_running("primary_stack_running", "primary"),
            "standby_stack_running": lambda: self._stack_running("standby_stack_running", "standby"),
            "primary_core_stopped": self._primary_core_stopped,
            "primary_not_dispatching": self._primary_not_dispatching,
            "standby_not_dispatching": self._standby_not_dispatching,
            "standby_start_safe": self._standby_start_safe,
            "standby_core_critical_armed": self._standby_armed,
            "standby_core_dispatch_enabled": lambda: self._core_dispatch("standby_core_dispatch_enabled", "standby", True),
            "standby_core_dispatch_disabled": lambda: self._core_dispatch("standby_core_dispatch_disabled", "standby", False),
            "primary_core_dispatch_enabled": lambda: self._core_dispatch("primary_core_dispatch_enabled", "primary", True),
            "dns_points_to_standby": lambda: self._dns_points("dns_points_to_standby", "standby"),
            "dns_points_to_primary": lambda: self._dns_points("dns_points_to_primary", "primary"),
            "broker_name_serves_standby": self._name_serves_standby,
            "controllers_on_standby": self._controllers_on_standby,
            "env_files_aligned": self._env_aligned,
        }
        missing = set(CONDITIONS) - set(self._checks)
        assert not missing, f"conditions without a check: {missing}"

    def check(self, name: str) -> Evidence:
        try:
            return self._checks[name]()
        except Exception as exc:  # noqa: BLE001 - a failed look is evidence too, never a crash
            return Evidence(name, False, f"could not sense: {exc.__class__.__name__}: {str(exc)[:200]}")

    # ---- files -----------------------------------------------------------------------
    def _dirs_exist(self) -> Evidence:
        found = [d for d in (self.ctx.primary_dir, self.ctx.standby_dir) if (d / ".env").is_file() and (d / "compose.yaml").is_file()]
        return Evidence("stack_dirs_exist", len(found) == 2, ", ".join(
            f"{d.name}: {'present' if d in found else 'missing'}" for d in (self.ctx.primary_dir, self.ctx.standby_dir)))

    def _dirs_absent(self) -> Evidence:
        present = [d.name for d in (self.ctx.primary_dir, self.ctx.standby_dir) if d.exists()]
        return Evidence("stack_dirs_absent", not present, f"already present: {', '.join(present)}" if present else "neither exists")

    def _passwd(self, name: str, role: str) -> Evidence:
        path = self.ctx.stack_dir(role) / "mosquitto" / "passwd"
        ok = path.is_file() and path.stat().st_size > 0
        return Evidence(name, ok, f"{path.relative_to(self.ctx.stack_root) if path.is_relative_to(self.ctx.stack_root) else path}: "
                                  f"{'present' if ok else 'missing or empty'}")

    def _env_aligned(self) -> Evidence:
        p, s = self.ctx.env("primary"), self.ctx.env("standby")
        differing = differing_keys(p, s)
        # Names only: values may be secrets.
        return Evidence("env_files_aligned", not differing,
                        f"differ: {', '.join(differing)}" if differing else "aligned except per-stack keys")

    # ---- docker ----------------------------------------------------------------------
    def _client(self, role: str):
        # Imported here, not at the top: docker-py (with requests) costs a fifth of a second,
        # and the TUI's first frame should not wait for it.
        import docker

        host = dict(self.ctx.docker_hosts).get(role)
        return docker.DockerClient(base_url=host, timeout=5) if host else docker.from_env(timeout=5)

    def _containers(self, role: str) -> dict[str, dict]:
        """service -> {"state", "env", "started"} of the stack's containers."""
        client = self._client(role)
        try:
            found = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={self.ctx.project(role)}"})
            out = {}
            for c in found:
                service = c.labels.get("com.docker.compose.service", c.name)
                env = dict(item.split("=", 1) for item in c.attrs["Config"].get("Env") or [] if "=" in item)
                out[service] = {"state": c.attrs["State"]["Status"], "env": env, "started": c.attrs["State"].get("StartedAt", "")}
            return out
        finally:
            client.close()

    def _stack_running(self, name: str, role: str) -> Evidence:
        containers = self._containers(role)
        states = {s: containers.get(s, {}).get("state", "absent") for s in SERVICES}
        return Evidence(name, all(v == "running" for v in states.values()),
                        f"{self.ctx.project(role)}: " + ", ".join(f"{s} {v}" for s, v in states.items()))

    def _project_volumes(self, role: str) -> list[str]:
        client = self._client(role)
        try:
            volumes = client.volumes.list(filters={"label": f"com.docker.compose.project={self.ctx.project(role)}"})
            return [v.name for v in volumes]
        finally:
            client.close()

    def _primary_core_stopped(self) -> Evidence:
        project = self.ctx.project("primary")
        core = self._containers("primary").get("sentient-core")
        if core is not None:
            state = core["state"]
            return Evidence("primary_core_stopped", state in STOPPED_STATES, f"{project} sentient-core: {state}")
        # No container: removed by `compose down`, or we are looking at the wrong Docker host.
        # `down` keeps the project's volume, so a volume proves the project lives here.
        volumes = self._project_volumes("primary")
        if volumes:
            return Evidence("primary_core_stopped", True, f"{project} sentient-core: removed (its volume {volumes[0]} is here)")
        return Evidence("primary_core_stopped", False,
                        f"{project}: nothing of it on this Docker host; is docker.primary set in the site settings?")

    def _retained_status(self, role: str) -> dict | None:
        broker = self.ctx.broker(role)
        topic = Topics.from_env(self.ctx.env(role)).status
        return read_retained(broker, topic, 2.0)

    def _primary_not_dispatching(self) -> Evidence:
        core = self._primary_core_stopped()
        broker = self.ctx.broker("primary")
        look = look_retained(broker, Topics.from_env(self.ctx.env("primary")).status, 2.0)
        if look.state == "unreachable":
            broker_ok, broker_says = True, f"primary broker {broker}: down ({look.detail})"
        elif look.state != "ok":
            # A broker that answers but cannot be read could be hiding a live core: fail closed.
            broker_ok, broker_says = False, f"primary broker {broker}: cannot be read ({look.state}: {look.detail})"
        elif not look.messages:
            broker_ok, broker_says = True, f"primary broker {broker}: up, no core status retained"
        else:
            status = next(iter(look.messages.values()))
            live = bool(status.get("online") and status.get("dispatch_enabled"))
            broker_ok = not live
            broker_says = (f"primary broker: core {'online' if status.get('online') else 'offline'}, "
                           f"dispatch {'enabled' if status.get('dispatch_enabled') else 'disabled'}")
        return Evidence("primary_not_dispatching", core.holds and broker_ok, f"{core.detail}; {broker_says}")

    def _standby_not_dispatching(self) -> Evidence:
        in_env = is_true(self.ctx.env("standby").get("CORE_DISPATCH_ENABLED"))
        core = self._containers("standby").get("sentient-core")
        running = core is not None and core["state"] not in STOPPED_STATES
        in_container = running and is_true(core["env"].get("CORE_DISPATCH_ENABLED"))
        detail = (f"standby .env CORE_DISPATCH_ENABLED={'true' if in_env else 'false'}; running core: "
                  + (f"started with {'true' if in_container else 'false'}" if running else "not running"))
        return Evidence("standby_not_dispatching", not in_env and not in_container, detail)

    def _core_dispatch(self, name: str, role: str, enabled: bool) -> Evidence:
        core = self._containers(role).get("sentient-core")
        if core is None or core["state"] != "running":
            return Evidence(name, False, f"{self.ctx.project(role)} sentient-core: {core['state'] if core else 'absent'}")
        started_with = is_true(core["env"].get("CORE_DISPATCH_ENABLED"))
        in_env = is_true(self.ctx.env(role).get("CORE_DISPATCH_ENABLED"))
        detail = f"running core started with CORE_DISPATCH_ENABLED={'true' if started_with else 'false'}"
        if in_env != started_with:
            detail += f" (.env says {'true' if in_env else 'false'}: changed in .env, not yet recreated)"
        holds = started_with == enabled
        if enabled and holds:
            status = self._retained_status(role) or {}
            reported = bool(status.get("online") and status.get("dispatch_enabled"))
            detail += f"; core status: {'online, dispatch enabled' if reported else 'not yet reporting dispatch enabled'}"
            holds = reported
        return Evidence(name, holds, detail)

    # ---- dns / mqtt --------------------------------------------------------------------
    def _dns_points(self, name: str, role: str) -> Evidence:
        want = dict(self.ctx.expected_addresses).get(role) or self.ctx.broker(role).host
        answers = [(f"{host}:{port}", resolve_a(self.ctx.broker_name, host, port, self.ctx.dns_lifetime_s))
                   for host, port in self.ctx.resolvers]
        holds = bool(answers) and all(a == want for _, a in answers)
        return Evidence(name, holds, f"{self.ctx.broker_name} (want {want} of the {role}): "
                        + ", ".join(f"{r} -> {a}" for r, a in answers))

    def _name_serves_standby(self) -> Evidence:
        host, port = self.ctx.resolvers[0]
        address = resolve_a(self.ctx.broker_name, host, port, self.ctx.dns_lifetime_s)
        standby = self.ctx.broker("standby")
        if not address[0].isdigit():
            return Evidence("broker_name_serves_standby", False, f"{self.ctx.broker_name}: {address}")
        status = read_retained(BrokerEndpoint(address, standby.port, standby.username, standby.password),
                               Topics.from_env(self.ctx.env("standby")).status, 2.0)
        role = (status or {}).get("role")
        return Evidence("broker_name_serves_standby", role == "standby",
                        f"{self.ctx.broker_name} -> {address}: core reports role {role or 'nothing (no answer or no status)'}")

    def _controllers_on_standby(self) -> Evidence:
        topics = Topics.from_env(self.ctx.env("standby"))
        statuses = read_retained_all(self.ctx.broker("standby"), topics.device(self.ctx.room, "+", "status"), 1.0)
        if statuses is None:
            return Evidence("controllers_on_standby", False, f"standby broker {self.ctx.broker('standby')}: no answer")
        online = sorted(t.split("/")[-2] for t, s in statuses.items() if s.get("online"))
        offline = sorted(t.split("/")[-2] for t, s in statuses.items() if not s.get("online"))
        detail = f"online on the standby broker: {', '.join(online) or 'none'}"
        if offline:
            detail += f"; offline: {', '.join(offline)}"
        return Evidence("controllers_on_standby", bool(online), detail)

    def _standby_start_safe(self) -> Evidence:
        if not is_true(self.ctx.env("standby").get("CORE_DISPATCH_ENABLED")):
            return Evidence("standby_start_safe", True, "standby .env CORE_DISPATCH_ENABLED=false: it starts without dispatch")
        primary = self._primary_not_dispatching()
        return Evidence("standby_start_safe", primary.holds,
                        f"standby .env CORE_DISPATCH_ENABLED=true, so it starts dispatching; {primary.detail}")

    def _standby_armed(self) -> Evidence:
        core = self._containers("standby").get("sentient-core")
        if core is None or core["state"] != "running":
            return Evidence("standby_core_critical_armed", False,
                            f"{self.ctx.project('standby')} sentient-core: {core['state'] if core else 'absent'}")
        armed = is_true(core["env"].get("CORE_CRITICAL_ARMED"))
        status = (self._retained_status("standby") or {}) if armed else {}
        reported = bool(status.get("critical_armed"))
        return Evidence("standby_core_critical_armed", armed and reported,
                        f"running core started with CORE_CRITICAL_ARMED={'true' if armed else 'false'}"
                        + (f"; core status: {'armed' if reported else 'not yet reporting armed'}" if armed else ""))
