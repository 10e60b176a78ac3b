"""The docker and docker compose CLIs, as the runbook uses them.

Compose v2 exists only as a CLI plugin, and the lab must run exactly what the runbook
says, so the lab drives the CLI; the live probes use docker-py against the same daemon.
Every call takes the engine it acts on (`host`, a Docker host URL set as DOCKER_HOST; None:
the machine's engine as this process's environment names it): a stack is only ever acted on
where it lives.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from runbook_tui.envfile import read_env
from runbook_tui.lab.engine import docker_env
from runbook_tui.lab.errors import LabError

SETUP_HINT = "run 'bash infra/host/setup.sh' (installs Debian's docker.io and compose v2, then starts dockerd)"


class DockerUnavailable(LabError):
    """The engine, the CLI or compose v2 is missing; the message says what and how to get it."""


def check_docker(host: str | None = None) -> str:
    """A one-line description of the engine, or DockerUnavailable saying what is missing."""
    if shutil.which("docker") is None:
        raise DockerUnavailable(f"the docker CLI is not installed; {SETUP_HINT}")
    info = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                          env=docker_env(host))
    if info.returncode != 0:
        detail = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        raise DockerUnavailable(f"the Docker daemon does not answer ({detail}); {SETUP_HINT}")
    compose = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True)
    if compose.returncode != 0:
        raise DockerUnavailable(f"docker compose v2 is not installed; {SETUP_HINT}")
    return f"engine {info.stdout.strip()}, compose {compose.stdout.strip()}"


def image_exists(name: str, host: str | None = None) -> bool:
    return image_id(name, host) is not None


def image_id(name: str, host: str | None = None) -> str | None:
    found = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True,
                           env=docker_env(host))
    return found.stdout.strip() or None if found.returncode == 0 else None


def docker(*args: str, host: str | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
    """`docker ARGS` on the engine HOST."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, env=docker_env(host))
    if check and done.returncode != 0:
        raise LabError(f"'docker {' '.join(args)}' failed: {done.stderr.strip()[-300:]}")
    return done


def copy_images(names: list[str], to_host: str, source: str | None = None) -> list[str]:
    """Copy the images NAMES from the engine SOURCE to the engine TO_HOST (`docker save | docker load`,
    as between two hosts); those already there with the same id are left. Returns the names copied."""
    missing = [n for n in names if image_id(n, to_host) != image_id(n, source)]
    if not missing:
        return []
    save = subprocess.Popen(["docker", "save", *missing], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=docker_env(source))
    assert save.stdout is not None
    load = subprocess.run(["docker", "load", "-q"], stdin=save.stdout, capture_output=True, text=True,
                          env=docker_env(to_host))
    save.stdout.close()
    saved_err = save.stderr.read().decode(errors="replace") if save.stderr else ""
    if save.wait() != 0 or load.returncode != 0:
        raise LabError(f"copying {', '.join(missing)} to {to_host} failed: "
                           f"{(saved_err or load.stderr).strip()[-300:]}")
    return missing


def stack_environment(stack_dir: Path, host: str | None = None) -> dict[str, str]:
    """This process's environment without the keys the stack's .env sets.

    Compose lets an exported shell variable win over .env: an operator who once exported a
    standby's STACK_ROLE or CORE_DISPATCH_ENABLED would act on the wrong project or start
    the wrong flag. The .env file is the stack's truth, so its keys are dropped here.
    """
    keys = set(read_env(stack_dir / ".env"))
    return {k: v for k, v in docker_env(host).items() if k not in keys}


def compose(
    stack_dir: Path, *args: str, on_line: Callable[[str], None] | None = None, check: bool = True,
    host: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`docker compose --env-file .env ARGS` in the stack's directory (the runbook's form), on the engine HOST."""
    argv = ["docker", "compose", "--env-file", ".env", *args]
    env = stack_environment(stack_dir, host)
    if on_line is None:
        result = subprocess.run(argv, cwd=stack_dir, capture_output=True, text=True, env=env)
    else:
        proc = subprocess.Popen(argv, cwd=stack_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            on_line(line.rstrip("\n"))
        result = subprocess.CompletedProcess(argv, proc.wait(), "".join(lines), "")
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise LabError(f"'docker compose {' '.join(args)}' in {stack_dir} failed ({result.returncode}):\n{tail}")
    return result


def project_resources(project: str, host: str | None = None) -> dict[str, list[str]]:
    """Containers, networks and volumes that still carry the compose project's label, on the engine HOST."""
    label = f"label=com.docker.compose.project={project}"
    found = {}
    for kind, cmd in (
        ("containers", ["docker", "ps", "-a", "--filter", label, "--format", "{{.Names}}"]),
        ("networks", ["docker", "network", "ls", "--filter", label, "--format", "{{.Name}}"]),
        ("volumes", ["docker", "volume", "ls", "--filter", label, "--format", "{{.Name}}"]),
    ):
        listed = subprocess.run(cmd, capture_output=True, text=True, env=docker_env(host))
        if listed.returncode != 0:
            raise DockerUnavailable(f"docker could not list {kind}: {listed.stderr.strip()}")
        found[kind] = listed.stdout.split()
    return found
