"""Shared test plumbing.

Tests that concern Docker, MQTT, DNS or Postgres run against the real thing: the lab is
brought up by the real `runbook-tui lab up` in a scratch stack root (a copy of infra/ and
scripts/, the way an operator's own checkout would hold them), so the developer's own
lab and room directories are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# pytest keeps the test modules it rewrote (for its assert messages) only where bytecode may be
# written. These machines set PYTHONDONTWRITEBYTECODE, and rewriting every test module again took
# 3.5 s of each xdist worker's start. Set here, before any test module is collected; the test
# process then writes the bytecode of what else it imports too (git ignores __pycache__).
sys.dont_write_bytecode = False

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEST_DNS_PORT = "15353"


def run(cmd: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600, check: bool = False):
    """Run a shell command line as an operator would type it; output captured as text."""
    full_env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})}
    result = subprocess.run(["/bin/bash", "-c", cmd], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def make_stack_root(path: Path) -> Path:
    (path / "infra").mkdir(parents=True)
    shutil.copytree(REPO / "infra" / "room-template", path / "infra" / "room-template")
    shutil.copytree(REPO / "infra" / "images", path / "infra" / "images")
    shutil.copytree(REPO / "scripts", path / "scripts")
    return path


@pytest.fixture
def stack_root(tmp_path: Path) -> Path:
    """An empty stack root (no rooms) for script tests that need no Docker."""
    return make_stack_root(tmp_path / "stack")


# ---- tiers ---------------------------------------------------------------------------------
# A test's tier is its folder (README, "Tests"): unit (pure logic, local files and processes),
# ui (the Textual app headless: Pilot and snapshots), integration (services this machine runs:
# a host Mosquitto), lab (the real lab: Docker engine, compose, dnsmasq, Postgres).
TIERS = ("unit", "ui", "integration", "lab")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        tier = parts[0] if parts[0] in TIERS else None
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid}: a test belongs in one of tests/{{{','.join(TIERS)}}}/")
        item.add_marker(getattr(pytest.mark, tier))
