"""The one Docker parser: a compose project's containers as ServiceStates, and a stack's snapshot.

Used by the one-shot look and by the long-lived Docker probe, so a container reads the same
everywhere. docker-py is imported by the caller that makes the client, not here: it costs a
fifth of a second, and the TUI's first frame does not wait for it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from runbook_tui.envfile import is_true
from runbook_tui.observe.model import ServiceState, StackSnapshot
from runbook_tui.observe.payloads import safe_text
from runbook_tui.stacks import shared_settings

FLAGS = ("CORE_DISPATCH_ENABLED", "CORE_CRITICAL_ARMED")
NAME_LIMIT = 80

if TYPE_CHECKING:  # docker-py is imported where a client is made (see above)
    from docker import DockerClient


# docker-py hands its timeout to requests, which takes any number of seconds; its stubs say int:
# hence the ignores below.
def make_client(docker_host: str | None, timeout: float = 5) -> DockerClient:
    import docker

    if not docker_host:
        return docker.from_env(timeout=timeout)  # type: ignore[arg-type]
    if docker_host.startswith("tcp://"):
        # TLS as the Docker CLI takes it (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), so the looks reach
        # a tcp:// engine the way the runbook's commands do; only the host is the settings'.
        from runbook_tui.observe.docker_tls import TlsEngineClient

        return TlsEngineClient(base_url=docker_host, timeout=timeout)
    if docker_host.startswith("ssh://"):
        # Through the ssh command, as the Docker CLI (and so the runbook's compose commands)
        # reaches the same engine: one transport, the operator's own ssh config, agent and keys
        # (docker-py still imports paramiko for it: the docker[ssh] extra installs it). Its ssh
        # process kept off the console's terminal: see observe/docker_ssh.py.
        import runbook_tui.observe.docker_ssh  # noqa: F401 - installs the quiet ssh socket

        return docker.DockerClient(base_url=docker_host, timeout=timeout, use_ssh_client=True)  # type: ignore[arg-type]
    return docker.DockerClient(base_url=docker_host, timeout=timeout)  # type: ignore[arg-type]


def project_filter(project: str) -> dict[str, str | list[str] | bool]:  # the type docker-py's filters take
    return {"label": f"com.docker.compose.project={project}"}


def parse_container(attrs: dict[str, Any]) -> ServiceState:
    """A container's inspect data (docker-py's `attrs`) as the panel and the rules read it.
    Names and labels come from whoever started the container: sanitised here."""
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    name = (attrs.get("Name") or "").lstrip("/")
    return ServiceState(
        service=safe_text(labels.get("com.docker.compose.service") or name, NAME_LIMIT),
        container=safe_text(name, NAME_LIMIT),
        state=safe_text(str(state.get("Status", "unknown")), 20),
        health=(state.get("Health") or {}).get("Status"),
        restart_count=int(attrs.get("RestartCount") or 0),
        started_at=safe_text(str(state.get("StartedAt", "")), 40),
        image=safe_text(str(config.get("Image", "")), NAME_LIMIT),
        flags=tuple((k, is_true(env[k])) for k in FLAGS if k in env))


def list_services(client: DockerClient, project: str) -> tuple[ServiceState, ...]:
    containers = client.containers.list(all=True, filters=project_filter(project))
    return tuple(sorted((parse_container(c.attrs) for c in containers), key=lambda s: s.service))


def list_volumes(client: DockerClient, project: str) -> tuple[str, ...]:
    return tuple(sorted(v.name for v in client.volumes.list(filters=project_filter(project))))


def stack_snapshot(role: str, project: str, env: dict[str, str], *, connected: bool, error: str | None,
                   services: tuple[ServiceState, ...], volumes: tuple[str, ...] = (), sequence: int = 0,
                   at: float | None = None, env_mtime: float | None = None, seen: bool | None = None,
                   unreachable_since: float | None = None, engine: str | None = None) -> StackSnapshot:
    """A stack as seen now: its containers, and its .env's flags set against the running core's."""
    env_flags = {k: is_true(env.get(k)) for k in FLAGS if k in env}
    core = next((s for s in services if s.service == "sentient-core" and s.state == "running"), None)
    running = dict(core.flags) if core else {}
    not_recreated = tuple(f"{k}: .env {str(v).lower()}, running core {str(running[k]).lower()}"
                          for k, v in env_flags.items() if k in running and running[k] != v)
    now = time.time() if at is None else at
    return StackSnapshot(role, project, connected, error, services, tuple(sorted(env_flags.items())), not_recreated,
                         now, sequence, shared_settings(env), volumes, env_mtime,
                         seen=connected if seen is None else seen,
                         unreachable_since=None if connected else (unreachable_since or now), engine=engine)


def look_stack(role: str, project: str, env: dict[str, str], docker_host: str | None) -> StackSnapshot:
    """One fresh look at a stack's project; a daemon that does not answer is a state."""
    try:
        client = make_client(docker_host)
    except Exception as exc:  # noqa: BLE001 - a failed look is evidence too, never a crash
        return stack_snapshot(role, project, env, connected=False, error=failure(exc, docker_host), services=(), engine=docker_host)
    try:
        return stack_snapshot(role, project, env, connected=True, error=None, engine=docker_host,
                              services=list_services(client, project), volumes=list_volumes(client, project))
    except Exception as exc:  # noqa: BLE001
        return stack_snapshot(role, project, env, connected=False, error=failure(exc, docker_host), services=(), engine=docker_host)
    finally:
        client.close()


def failure(exc: BaseException, docker_host: str | None) -> str:
    """Why a look at an engine failed, for the panel and the journal: the exception, and for an
    ssh:// engine what ssh said ("Connection refused", "Host key verification failed"), which a
    broken pipe alone does not tell. Sanitised: a hostile host chooses those words."""
    why = f"{exc.__class__.__name__}: {str(exc)[:160]}"
    if docker_host and docker_host.startswith("ssh://"):
        from runbook_tui.observe.docker_ssh import ssh_words

        said = " ".join(ssh_words(docker_host).split())
        if said:
            why = f"ssh: {said[-200:]}; {why}"
    return safe_text(why, 400)
