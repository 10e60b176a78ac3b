"""The Docker probe: the compose project of each stack, followed through the event stream.

One thread per stack, because each stack may live on its own Docker host (unix socket,
tcp, ssh). After every (re)connect it lists the project in full, then follows the daemon's
events and lists again on each one. docker-py's event stream ends silently when the daemon
restarts and the daemon drops events for slow listeners, so the end of the stream is
treated as a lost connection: back off, reconnect, list in full. A watcher also re-reads the
stack's .env, so "changed in .env, not yet recreated" shows as soon as the file changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runbook_tui.envfile import is_true, read_env
from runbook_tui.stacks import shared_settings

FLAGS = ("CORE_DISPATCH_ENABLED", "CORE_CRITICAL_ARMED")
# Events that change what the panel shows; not exec_* (the db healthcheck runs every second).
CONTAINER_EVENTS = ["create", "start", "restart", "stop", "die", "kill", "oom", "pause", "unpause", "destroy",
                    "rename", "update", "health_status"]


@dataclass(frozen=True)
class DockerTarget:
    role: str
    project: str
    env_file: Path
    docker_host: str | None = None  # None: DOCKER_HOST or the local socket


@dataclass(frozen=True)
class ServiceState:
    service: str
    container: str
    state: str  # running, exited, restarting, ...
    health: str | None
    restart_count: int
    started_at: str
    image: str
    flags: tuple[tuple[str, bool], ...]  # what the container was really started with (core only)


@dataclass(frozen=True)
class StackSnapshot:
    role: str
    project: str
    connected: bool
    error: str | None
    services: tuple[ServiceState, ...]
    env_flags: tuple[tuple[str, bool], ...]  # what the stack's .env says now
    not_recreated: tuple[str, ...]  # flags changed in .env but not in the running core
    at: float
    sequence: int
    shared: tuple[tuple[str, str], ...] = ()  # the .env keys both stacks must agree on (secrets as sha256)

    def service(self, name: str) -> ServiceState | None:
        return next((s for s in self.services if s.service == name), None)


class DockerProbe:
    def __init__(self, targets: list[DockerTarget], on_snapshot: Callable[[StackSnapshot], None] | None = None,
                 *, env_poll_s: float = 0.5, max_backoff_s: float = 5.0) -> None:
        self.targets = targets
        self.on_snapshot = on_snapshot
        self.env_poll_s = env_poll_s
        self.max_backoff_s = max_backoff_s
        self.latest: dict[str, StackSnapshot] = {}
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams: dict[str, object] = {}
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        self._sequence = 0

    def start(self) -> None:
        for target in self.targets:
            for name, fn in ((f"docker-{target.role}", self._follow), (f"docker-env-{target.role}", self._watch_env)):
                thread = threading.Thread(target=fn, args=(target,), name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            streams, clients = list(self._streams.values()), list(self._clients.values())
        for stream in streams:
            try:
                stream.close()  # unblocks the thread reading events
            except Exception:  # noqa: BLE001
                pass
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass
        for thread in self._threads:
            thread.join(timeout=5)

    # ---- snapshots ---------------------------------------------------------------------
    def _env(self, target: DockerTarget) -> dict[str, str]:
        try:
            return read_env(target.env_file)
        except OSError:
            return {}

    def _listing(self, client, target: DockerTarget) -> tuple[ServiceState, ...]:
        containers = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={target.project}"})
        services = []
        for c in containers:
            attrs = c.attrs
            state = attrs.get("State", {})
            env = dict(item.split("=", 1) for item in attrs.get("Config", {}).get("Env") or [] if "=" in item)
            flags = tuple((k, is_true(env[k])) for k in FLAGS if k in env)
            services.append(ServiceState(
                service=c.labels.get("com.docker.compose.service", c.name), container=c.name,
                state=state.get("Status", "unknown"), health=(state.get("Health") or {}).get("Status"),
                restart_count=int(attrs.get("RestartCount", 0)), started_at=state.get("StartedAt", ""),
                image=attrs.get("Config", {}).get("Image", ""), flags=flags))
        return tuple(sorted(services, key=lambda s: s.service))

    def _publish(self, target: DockerTarget, connected: bool, error: str | None,
                 services: tuple[ServiceState, ...] | None = None) -> None:
        with self._lock:
            previous = self.latest.get(target.role)
            if services is None:
                services = previous.services if previous else ()
            env = self._env(target)
            env_flags = {k: is_true(env.get(k)) for k in FLAGS if k in env}
            core = next((s for s in services if s.service == "sentient-core" and s.state == "running"), None)
            running = dict(core.flags) if core else {}
            not_recreated = tuple(f"{k}: .env {str(v).lower()}, running core {str(running[k]).lower()}"
                                  for k, v in env_flags.items() if k in running and running[k] != v)
            self._sequence += 1
            snapshot = StackSnapshot(target.role, target.project, connected, error, services,
                                     tuple(sorted(env_flags.items())), not_recreated, time.time(), self._sequence,
                                     shared_settings(env))
            if previous is not None and (previous.connected, previous.error, previous.services, previous.env_flags,
                                         previous.shared) == (
                    snapshot.connected, snapshot.error, snapshot.services, snapshot.env_flags, snapshot.shared):
                return  # nothing new for the subscribers
            self.latest[target.role] = snapshot
            # Delivered under the lock, so subscribers see snapshots in sequence order.
            if self.on_snapshot is not None:
                try:
                    self.on_snapshot(snapshot)
                except Exception:  # noqa: BLE001 - a subscriber's failure is not the probe's
                    pass

    # ---- threads -----------------------------------------------------------------------
    def _follow(self, target: DockerTarget) -> None:
        import docker  # on the probe's thread: the UI's first frame does not wait for docker-py

        backoff = 0.2
        while not self.stopping.is_set():
            client = None
            try:
                client = (docker.DockerClient(base_url=target.docker_host, timeout=5) if target.docker_host
                          else docker.from_env(timeout=5))
                since = int(time.time())
                stream = client.events(decode=True, since=since, filters={
                    "type": "container", "label": f"com.docker.compose.project={target.project}",
                    "event": CONTAINER_EVENTS})
                with self._lock:
                    self._streams[target.role], self._clients[target.role] = stream, client
                # Listed after subscribing, so no change falls between the two.
                self._publish(target, True, None, self._listing(client, target))
                backoff = 0.2
                for _event in stream:
                    if self.stopping.is_set():
                        return
                    self._publish(target, True, None, self._listing(client, target))
                if not self.stopping.is_set():
                    raise ConnectionError("the daemon's event stream ended (daemon restarted?)")
            except Exception as exc:  # noqa: BLE001 - every failure is a state, then a retry
                if self.stopping.is_set():
                    return
                self._publish(target, False, f"{exc.__class__.__name__}: {str(exc)[:160]}")
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
            finally:
                if client is not None:
                    try:
                        client.close()
                    except Exception:  # noqa: BLE001
                        pass

    def _watch_env(self, target: DockerTarget) -> None:
        last = None
        while not self.stopping.wait(self.env_poll_s):
            try:
                stat = target.env_file.stat()
                mark = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            except OSError:
                mark = None
            if mark != last:
                last = mark
                previous = self.latest.get(target.role)
                if previous is not None:
                    self._publish(target, previous.connected, previous.error)
