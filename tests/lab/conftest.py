"""The lab fixture: one real lab per test session, brought up once (images built once)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from dotenv import dotenv_values

from runbook_tui.lab.engine import LabEngine
from tests.conftest import TEST_DNS_PORT, make_stack_root, run


@dataclass
class LabHandle:
    root: Path
    up_seconds: float
    up_output: str

    def env(self) -> dict[str, str]:
        return {"RUNBOOK_STACK_ROOT": str(self.root), "RUNBOOK_LAB_DNS_PORT": TEST_DNS_PORT}

    @property
    def engine(self) -> LabEngine:
        """The lab's own second Docker engine (the only one a test may stop or restart)."""
        return LabEngine(self.root / ".lab")

    def docker_host(self, stack: str) -> str | None:
        """The engine a lab stack (room1-standby) lives on, as `lab up` recorded it (None: the machine's)."""
        room, role = stack.rsplit("-", 1)
        try:
            rooms = json.loads((self.root / ".lab" / "rooms.json").read_text())
        except (OSError, ValueError):
            return None
        return (rooms.get(room, {}).get("docker_hosts") or {}).get(role)

    def stack_docker_env(self, stack: str) -> dict[str, str]:
        host = self.docker_host(stack)
        return {"DOCKER_HOST": host} if host else {}

    def sh(self, cmd: str, timeout: float = 600, check: bool = False, env: dict[str, str] | None = None):
        """A command line run from the stack root, as the runbook runs its commands."""
        return run(cmd, self.root, {**self.env(), **(env or {})}, timeout, check)

    @contextmanager
    def extra_room(self, room: str, options: str = ""):
        """Another room of the lab for one test module, brought up (with `lab up` OPTIONS) and torn down with it."""
        up = self.sh(f"runbook-tui lab up {room} {options}", timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr
        try:
            yield self
        finally:
            down = self.sh(f"runbook-tui lab down {room} --purge", timeout=300)
            assert down.returncode == 0, down.stdout + down.stderr

    def stack_env(self, stack: str) -> dict[str, str]:
        return {k: v or "" for k, v in dotenv_values(self.root / "infra" / "rooms" / stack / ".env").items()}

    def psql(self, stack: str, sql: str) -> str:
        env = self.stack_env(stack)
        out = self.sh(
            f"cd infra/rooms/{stack} && docker compose --env-file .env exec -T db "
            f"psql -tA -U {env['POSTGRES_USER']} -d {env['POSTGRES_DB']} -c \"{sql}\"",
            check=True, env=self.stack_docker_env(stack),
        )
        return out.stdout.strip()


def _port_in_use(addr: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((addr, port)) == 0


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> LabHandle:
    docker = subprocess.run(["docker", "info"], capture_output=True)
    if docker.returncode != 0:
        pytest.fail("the Docker engine does not answer: run 'bash infra/host/setup.sh' (the test command does)")
    for addr, port in (("127.0.0.2", 1883), ("127.0.0.3", 1883), ("127.0.0.1", 1883), ("127.0.0.1", 1884)):
        if _port_in_use(addr, port):
            pytest.fail(f"something already listens on {addr}:{port} (a lab is up? a room's local port?): the lab's "
                        "room1 needs it; run 'runbook-tui lab down' first")
    # The tests' rooms use the lab's compose project names: never take over someone's stack.
    taken = subprocess.run(["docker", "ps", "-a", "--filter", "label=com.docker.compose.project",
                            "--format", "{{.Label \"com.docker.compose.project\"}}"], capture_output=True, text=True).stdout.split()
    clash = sorted({p for p in taken if p.split("-")[0] in ("room1", "room2", "room3")})
    if clash:
        pytest.fail(f"compose projects {', '.join(clash)} exist on this engine: run 'runbook-tui lab down' first")
    root = make_stack_root(tmp_path_factory.mktemp("lab") / "stack")
    handle = LabHandle(root, 0.0, "")
    t0 = time.monotonic()
    result = handle.sh("runbook-tui lab up room1", timeout=1200)
    handle.up_seconds = time.monotonic() - t0
    handle.up_output = result.stdout + result.stderr
    if result.returncode != 0:
        handle.sh("runbook-tui lab down --purge", timeout=300)
        pytest.fail(f"lab up failed:\n{handle.up_output}")
    print(f"\nlab up room1: {handle.up_seconds:.1f}s")
    yield handle
    # Safety net; tests/lab/test_90_lab_down.py asserts that down leaves nothing behind.
    handle.sh("runbook-tui lab down --purge", timeout=300)
    # The lab's engine keeps its images for the next `lab up` of this stack root; this one is done.
    if handle.engine.pid() is None and not handle.engine.mounted():
        shutil.rmtree(handle.engine.data_root, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_env(lab: LabHandle) -> dict[str, str]:
    return {**os.environ, **lab.env()}
