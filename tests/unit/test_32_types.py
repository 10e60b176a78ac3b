"""The type gate: mypy finds no error in runbook_tui/, with the settings of pyproject.toml
([tool.mypy]): every function body checked, and the domain core (rules/, observe/, engine/,
checklist/) held to the flags --strict stands for.

The package's check keeps mypy's cache in .mypy_cache (git ignores it): a tree checked before
takes under a second, a cold one (a fresh clone) about five seconds of CPU, so it runs once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

MYPY = Path(sys.executable).parent / "mypy"
STRICT = ("rules", "observe", "engine", "checklist")
NOT_STRICT = ("probes", "live", "ui", "cli")


def mypy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MYPY), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_runbook_tui_has_no_type_error_and_the_run_screens_engine_is_never_none(tmp_path: Path):
    """One mypy run (a cold one, as on a fresh clone, takes about five seconds of CPU): the
    package with pyproject.toml's settings, and beside it a probe of what the run screen's engine
    is as mypy reads it: a RunEngine, which None is not. Nothing is said of the package."""
    probe = tmp_path / "run_screen_probe.py"
    probe.write_text("from runbook_tui.ui.run_screen import RunScreen\n\n\n"
                     "def probe(screen: RunScreen) -> None:\n"
                     "    reveal_type(screen.engine)\n"
                     "    screen.engine = None\n")
    started = time.monotonic()
    done = mypy("runbook_tui", str(probe), cwd=REPO)  # the package as pyproject.toml's files name it, and the probe
    lines = done.stdout.strip().splitlines()
    print(f"mypy: {lines[-1] if lines else done.stderr.strip()} ({time.monotonic() - started:.1f} s)")
    # What mypy says, by file ("<path>:<line>: <what>"), whatever form of the probe's path it prints.
    of_probe = [line.split(": ", 1)[1] for line in lines if line.split(":", 1)[0].endswith(probe.name)]
    of_others = [line for line in lines[:-1] if not line.split(":", 1)[0].endswith(probe.name)]
    assert of_others == [], done.stdout + done.stderr  # the package: no error, no note
    assert of_probe == ['note: Revealed type is "runbook_tui.engine.run.RunEngine"',
                        'error: Incompatible types in assignment (expression has type "None", variable has type "RunEngine")  '
                        '[assignment]'], done.stdout + done.stderr
    assert lines[-1].startswith("Found 1 error in 1 file"), done.stdout  # the probe's, and the package's files checked


def test_strict_holds_the_core_and_every_body_is_checked(tmp_path: Path):
    """The settings themselves, on a planted function in each folder: untyped, with a wrong
    assignment inside. Every folder reports the assignment (the body is checked, typed or not);
    only the strict folders report the missing annotations."""
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "runbook_tui").mkdir()
    (tmp_path / "runbook_tui" / "__init__.py").touch()
    for folder in STRICT + NOT_STRICT:
        (tmp_path / "runbook_tui" / folder).mkdir()
        (tmp_path / "runbook_tui" / folder / "__init__.py").touch()
        (tmp_path / "runbook_tui" / folder / "planted.py").write_text('def untyped(x):\n    n: int = "text"\n    return x\n')
    done = mypy("--cache-dir", str(tmp_path / ".mypy_cache"), cwd=tmp_path)
    for folder in STRICT + NOT_STRICT:
        said = [line for line in done.stdout.splitlines() if line.startswith(f"runbook_tui/{folder}/planted.py")]
        codes = sorted(line.rsplit("[", 1)[1].rstrip("]") for line in said)
        assert codes == (["assignment", "no-untyped-def"] if folder in STRICT else ["assignment"]), (folder, done.stdout)
