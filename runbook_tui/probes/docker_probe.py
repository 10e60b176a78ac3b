"""The Docker probe: the compose project of each stack, followed through the event stream.

One thread per stack, because each stack may live on its own Docker host (unix socket,
tcp, ssh). After every (re)connect it lists the project in full, then follows the daemon's
events and lists again on each one. docker-py's event stream ends silently when the daemon
restarts and the daemon drops events for slow listeners, so the end of the stream is
treated as a lost connection: back off, reconnect, list in full. A watcher also re-reads the
stack's .env, so a running core that differs from it shows as soon as the file changes (and
when it was written, which tells a .env changed since the core started from a value set elsewhere).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook_tui.envfile import read_env
from runbook_tui.observe.docker_look import failure, list_services, list_volumes, make_client, project_filter, stack_snapshot
from runbook_tui.observe.model import ServiceState, StackSnapshot

if TYPE_CHECKING:  # docker-py is imported on the probe's threads (make_client), not at start-up
    from docker import DockerClient
    from docker.types.daemon import CancellableStream

# Events that change what the panel shows; not exec_* (the db healthcheck runs every second).
CONTAINER_EVENTS = ["create", "start", "restart", "stop", "die", "kill", "oom", "pause", "unpause", "destroy",
                    "rename", "update", "health_status"]


@dataclass(frozen=True)
class DockerTarget:
    role: str
    project: str
    env_file: Path
    docker_host: str | None = None  # None: DOCKER_HOST or the local socket


class DockerProbe:
    def __init__(self, targets: list[DockerTarget], on_snapshot: Callable[[StackSnapshot], None] | None = None,
                 *, env_poll_s: float = 0.5, max_backoff_s: float = 1.0) -> None:
        # An engine that comes back is looked at within a second: a lost primary host powering on
        # restarts its old core by its restart policy, and dual control must be raised within 2 s.
        self.targets = targets
        self.on_snapshot = on_snapshot
        self.env_poll_s = env_poll_s
        self.max_backoff_s = max_backoff_s
        self.latest: dict[str, StackSnapshot] = {}
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams: dict[str, CancellableStream[dict[str, Any]]] = {}
        self._clients: dict[str, DockerClient] = {}
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
        except (OSError, UnicodeDecodeError, ValueError):
            return {}

    @staticmethod
    def _env_mtime(target: DockerTarget) -> float | None:
        try:
            return target.env_file.stat().st_mtime
        except OSError:
            return None

    def _listing(self, client: DockerClient, target: DockerTarget) -> tuple[tuple[ServiceState, ...], tuple[str, ...]]:
        return list_services(client, target.project), list_volumes(client, target.project)

    def _publish(self, target: DockerTarget, connected: bool, error: str | None,
                 listing: tuple[tuple[ServiceState, ...], tuple[str, ...]] | None = None) -> None:
        with self._lock:
            previous = self.latest.get(target.role)
            services, volumes = listing if listing is not None else (
                (previous.services, previous.volumes) if previous else ((), ()))
            self._sequence += 1
            snapshot = stack_snapshot(target.role, target.project, self._env(target), connected=connected, error=error,
                                      services=services, volumes=volumes, sequence=self._sequence,
                                      env_mtime=self._env_mtime(target),
                                      seen=connected or bool(previous and previous.seen),
                                      unreachable_since=previous.unreachable_since if previous and not previous.connected
                                      else None, engine=target.docker_host)
            if previous is not None and (previous.connected, previous.error, previous.services, previous.volumes,
                                         previous.env_flags, previous.shared, previous.env_mtime) == (
                    snapshot.connected, snapshot.error, snapshot.services, snapshot.volumes, snapshot.env_flags,
                    snapshot.shared, snapshot.env_mtime):
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
        backoff = 0.2
        while not self.stopping.is_set():
            client = None
            try:
                client = make_client(target.docker_host)  # docker-py is imported here, on the probe's thread
                since = int(time.time())
                stream = client.events(decode=True, since=since, filters={
                    "type": "container", **project_filter(target.project), "event": CONTAINER_EVENTS})
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
                self._publish(target, False, failure(exc, target.docker_host))
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
