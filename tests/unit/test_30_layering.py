"""The layers of runbook_tui, as import-linter checks them.

The contracts live in pyproject.toml ([tool.importlinter]): the layers of ARCHITECTURE.md
(exhaustive: a folder or kernel module placed nowhere fails), no folder importing one that
imports it back, nothing but ui/ importing Textual, and rules/ importing nothing that looks at
the room or opens a file. `lint-imports` reads imports
wherever they are written (inside functions, under TYPE_CHECKING too).

What a static reading cannot see stays checked here at run time: what importing the rules, or
the whole domain, actually loads (a third-party package's own imports, an import by name).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
UI_PACKAGES = ("textual", "rich")
# What a rule may not load, even indirectly: the rules are pure functions of an observation.
IO_PACKAGES = ("docker", "paho", "dns", "subprocess", "socket", "ssl", "selectors", "urllib.request", "http.client")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # --no-cache: no cache folder left in the tree; the graph of this package takes half a second.
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], capture_output=True, text=True, cwd=root, timeout=120)


def test_the_tree_keeps_every_contract():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    assert done.stdout.count(" KEPT") == 5, done.stdout  # every contract of pyproject.toml ran, none skipped


# (file, line added at its end, what the broken contract's report names)
PLANTED = [
    # the mutual import the live watcher's folder removed: the one-shot look composing a probe
    ("runbook_tui/observe/summary.py", "from runbook_tui.probes.flows import Flow",
     ["runbook_tui.observe.summary -> runbook_tui.probes.flows", "No two folders import each other", ".observe -> .probes"]),
    # an inner layer reaching out, inside a function
    ("runbook_tui/engine/run.py", "def _later():\n    from runbook_tui.lab.readiness import wait_for",
     ["runbook_tui.engine.run -> runbook_tui.lab.readiness"]),
    # sideways between independent folders
    ("runbook_tui/lab/lab.py", "from runbook_tui.session import SessionOpener",
     ["runbook_tui.lab.lab -> runbook_tui.session"]),
    # Textual anywhere but ui/, even where the layers allow the import
    ("runbook_tui/checklist/model.py", "from rich.text import Text",
     ["Only the UI imports Textual", "runbook_tui.checklist.model -> rich"]),
    ("runbook_tui/cli/args.py", "import textual.app", ["Only the UI imports Textual", "runbook_tui.cli.args -> textual"]),
    # a rule that looks: a process, a one-shot look, a file
    ("runbook_tui/rules/room.py", "import subprocess", ["runbook_tui.rules.room -> subprocess"]),
    ("runbook_tui/rules/conditions.py", "from runbook_tui.observe.dns_look import ask",
     ["runbook_tui.rules is not allowed to import runbook_tui.observe", "runbook_tui.rules.conditions -> runbook_tui.observe.dns_look"]),
    ("runbook_tui/rules/outcome.py", "from pathlib import Path",
     ["The rules open no file", "runbook_tui.rules.outcome -> pathlib"]),
    # a module in no layer
    ("runbook_tui/helpers.py", "X = 1", ["runbook_tui.helpers"]),
]


def _planted(root: Path, cases: list[tuple[str, str, list[str]]]) -> str:
    """The package and its contracts copied under root with each case's line added at the end of
    its file: the broken contracts' report, its lines joined (a long contract name wraps)."""
    shutil.copytree(REPO / "runbook_tui", root / "runbook_tui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    for where, line, _named in cases:
        path = root / where
        path.write_text((path.read_text() if path.exists() else "") + "\n\n" + line + "\n")
    done = lint_imports(root)
    assert done.returncode != 0, done.stdout
    return " ".join(done.stdout.partition("Broken contracts")[2].split())


# One copy holds every forbidden import (lint-imports reports every broken contract and every
# import that breaks it, so each is looked for by name); the module placed in no layer gets a copy
# of its own (an exhaustive layers contract with a module left out says only that).
ONE_RUN = [case for case in PLANTED if case[0] != "runbook_tui/helpers.py"]


def test_each_forbidden_import_fails_the_contracts_by_name(tmp_path: Path):
    broken = _planted(tmp_path / "tree", ONE_RUN)
    for where, line, named in ONE_RUN:
        for words in named:
            assert words in broken, (where, line, words, broken)


def test_a_module_in_no_layer_fails_the_contracts(tmp_path: Path):
    cases = [case for case in PLANTED if case[0] == "runbook_tui/helpers.py"]
    broken = _planted(tmp_path / "tree", cases)
    for _where, _line, named in cases:
        for words in named:
            assert words in broken, broken


def _loaded_by_importing(modules: list[str], prefixes: tuple[str, ...]) -> str:
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + (
        f"print(','.join(sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in {prefixes!r}))))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()


def _modules(under: Path) -> list[str]:
    return sorted(p.relative_to(REPO).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
                  for p in under.rglob("*.py"))


def test_the_rules_load_no_io_package_even_indirectly():
    rules = _modules(REPO / "runbook_tui" / "rules")
    assert "runbook_tui.rules.conditions" in rules
    assert _loaded_by_importing(rules, IO_PACKAGES) == ""


def test_importing_the_whole_domain_loads_no_ui_package():
    # cli/ too: it imports the UI only inside the functions that start an app
    domain = [m for m in _modules(REPO / "runbook_tui") if not m.startswith("runbook_tui.ui") and not m.endswith("__main__")]
    assert "runbook_tui.engine.run" in domain and "runbook_tui.lab.lab" in domain and "runbook_tui.live.watcher" in domain
    assert _loaded_by_importing(domain, UI_PACKAGES) == ""
    # and the check sees a UI package where one is loaded
    assert _loaded_by_importing(["rich.text"], UI_PACKAGES).startswith("rich,")
