"""Shared test plumbing.

Tests that concern Docker, MQTT, DNS or Postgres run against the real thing: the lab is
brought up by the real `runbook-tui lab up` in a scratch stack root (a copy of infra/ and
scripts/, the way an operator's own checkout would hold them), so the developer's own
lab and room directories are never touched.
"""

from __future__ import annotations

import gc
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


def settings_without_dns(stack_root: Path, **given):
    """Settings for a room no DNS server answers for: nothing listens on 127.0.0.1:15399, so a
    query there times out, as a resolver that is down does. After 0.2 s, not the 1.5 s of a site:
    a run resumed or a guard checked takes a look of the room (DNS included) and waited that long.
    `given` sets the rest."""
    from runbook_tui.settings import Settings

    return Settings(stack_root=stack_root, **{"resolvers": (("127.0.0.1", 15399),), "dns_lifetime_s": 0.2, **given})


def site_without_dns(values: dict[str, str], stack_root: Path):
    """A run's site (observe.site) where no DNS server answers, as settings_without_dns: a look of
    the room times its queries out in 0.2 s. Seen: the engine's resume tests each waited the
    default 2 s for a resolver that was never there."""
    from runbook_tui.observe.site import site_context

    settings = settings_without_dns(stack_root)
    return site_context(values, stack_root, settings.resolvers, dns_lifetime_s=settings.dns_lifetime_s)


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


# ---- every journal the suite writes tells one story ---------------------------------------------
# After each test, every run journal under its tmp_path is read by the floor view, a resumed
# console and the report (tests/journals.py), which must agree. The count of journals replayed
# with all three is summed over the xdist workers; a run of the whole engine tier that replays
# fewer than MIN_JOURNALS_REPLAYED fails (the check must not pass by finding nothing).
JOURNALS_REPLAYED = pytest.StashKey[int]()
MIN_JOURNALS_REPLAYED = 60


def pytest_collection_finish(session):
    # Each test process holds every test module, Textual and the product: hundreds of thousands
    # of objects that live to the end. Python's collector scanned them all again in every full
    # collection, and each test's app left enough garbage to start one often: test_app.py spent
    # a third of its CPU there (35 s; 22 s with this). What was collected is frozen out of the
    # scans, and the youngest generation is collected after 10,000 allocations instead of 700
    # (100,000 saved no more CPU, and the garbage held between collections raised the workers'
    # memory by a third).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 1000)


def pytest_configure(config):
    config.stash[JOURNALS_REPLAYED] = 0
    # At the end pytest collects garbage five times over, to find exceptions nobody could raise
    # (its unraisableexception plugin): with everything a worker still holds, 1.8 s a worker,
    # the last seconds of every run. One pass finds them (pytest's own tests set this key too).
    try:
        from _pytest.unraisableexception import gc_collect_iterations_key
    except ImportError:  # another pytest: its own default
        return
    config.stash[gc_collect_iterations_key] = 1


@pytest.fixture(autouse=True)
def _journals_tell_one_story(request):
    tmp = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp is None:
        return
    from tests.journals import run_journals, views_disagree

    problems = []
    for path, records in run_journals(tmp):
        disagree, resumed = views_disagree(path, records)
        problems += [f"{path.name}: {p}" for p in disagree]
        request.config.stash[JOURNALS_REPLAYED] += resumed
    if problems:
        pytest.fail("the floor view, the resume and the report disagree:\n" + "\n".join(problems), pytrace=False)


def pytest_sessionfinish(session):
    config = session.config
    if hasattr(config, "workeroutput"):  # an xdist worker: its count goes to the controller
        config.workeroutput["journals_replayed"] = config.stash[JOURNALS_REPLAYED]
        return
    replayed = config.stash[JOURNALS_REPLAYED]
    engine_tests = sum(1 for item in session.items if "tests/unit/engine/" in item.nodeid)
    if engine_tests >= 90 and replayed < MIN_JOURNALS_REPLAYED and session.exitstatus == 0:
        print(f"\nonly {replayed} journals were replayed by the floor view, the resume and the report "
              f"(at least {MIN_JOURNALS_REPLAYED} expected from the engine's tests)")
        session.exitstatus = 1


def pytest_testnodedown(node, error):
    node.config.stash[JOURNALS_REPLAYED] += node.workeroutput.get("journals_replayed", 0)


def pytest_terminal_summary(terminalreporter, config):
    terminalreporter.write_line(f"journals the floor view, the resume and the report told alike: {config.stash[JOURNALS_REPLAYED]}")
