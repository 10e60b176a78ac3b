"""The layers of runbook_tui, enforced on the source.

Inner to outer:

    kernel       runbook_tui/{crash,envfile,files,mqtt_contract,secrets,stacks,settings,smoke_dispatch,terminal}.py
    checklist    runbook_tui/checklist/          the runbook as data
    observation  runbook_tui/observe/, probes/   what the room looks like (the only layer that looks)
    rules        runbook_tui/rules/              pure judgements of an observation: no I/O
    engine       runbook_tui/engine/             one run: states, actions, journal
    outer        session.py, ui/, lab/, cli/, __main__.py

A module imports only from its own layer or from layers inside it. On top of that the rules
import no probe and nothing that does I/O, and the domain (everything but ui/) never imports
the UI (STYLE.md, point 1): checklist model, engine, probes, lab and the scripts' Python must
be usable without a terminal. Imports are found anywhere in a module (inside functions too,
and `importlib.import_module("...")` with a literal name).
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

UI_PACKAGES = ("textual", "rich")
UI_DIRS = ("runbook_tui/ui",)  # where the TUI lives; everything else is domain

KERNEL = frozenset({"crash", "envfile", "files", "mqtt_contract", "secrets", "stacks", "settings", "smoke_dispatch",
                    "terminal"})
LAYERS = ("kernel", "checklist", "observation", "rules", "engine", "outer")
RANK = {name: i for i, name in enumerate(LAYERS)}
PACKAGES = {"checklist": "checklist", "observe": "observation", "probes": "observation", "rules": "rules",
            "engine": "engine", "session": "outer", "ui": "outer", "lab": "outer", "cli": "outer", "__main__": "outer"}
# What a rule may not touch, even indirectly: the rules are pure functions of an observation.
IO_PACKAGES = frozenset({"docker", "paho", "dns", "subprocess", "socket", "ssl", "selectors", "urllib.request", "http.client"})

# Known violations, allowed by name so that nothing else slips in beside them. Each must still
# occur (test_every_allowance_is_still_needed): once fixed, its line here goes too.
ALLOWED: set[tuple[str, str]] = set()  # none today


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted (absolute)
    line: int

    def __str__(self) -> str:
        return f"{self.module}: {self.target} (line {self.line})"


def module_name(rel: str) -> str:
    return rel[:-3].replace("/", ".").removesuffix(".__init__")


def source_files() -> dict[str, Path]:
    return {module_name(p.relative_to(REPO).as_posix()): p for p in sorted((REPO / "runbook_tui").rglob("*.py"))}


def domain_modules() -> list[str]:
    return [m for m, p in source_files().items() if not p.relative_to(REPO).as_posix().startswith(UI_DIRS)]


def imports_of(module: str, source: str, is_package: bool = False) -> list[Import]:
    """Every module `source` imports, wherever the import statement is, as absolute names.

    `from runbook_tui import lab` imports runbook_tui.lab: a name imported from the package
    itself is counted as its submodule (deeper down, the layer is already in the module's name)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                absolute = ".".join(base + ([node.module] if node.module else []))
            else:
                absolute = node.module or ""
            found.append(Import(module, absolute, node.lineno))
            if absolute == "runbook_tui":
                found += [Import(module, f"{absolute}.{a.name}", node.lineno) for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                found.append(Import(module, node.args[0].value, node.lineno))
    return found


def layer(module: str) -> str | None:
    """The layer of a runbook_tui module; None for what is not runbook_tui's."""
    parts = module.split(".")
    if parts[0] != "runbook_tui":
        return None
    if len(parts) == 1 or parts[1] in KERNEL:
        return "kernel"  # the package itself holds nothing but a docstring
    return PACKAGES.get(parts[1], "unplaced")


def offences(imports: list[Import], allowed: frozenset | set = frozenset()) -> list[Import]:
    out = []
    for imp in imports:
        source, target = layer(imp.module), layer(imp.target)
        if (imp.module, imp.target) in allowed:
            continue
        if target is not None and target != "unplaced" and RANK[target] > RANK[source]:
            out.append(imp)  # an inner layer importing an outer one
        elif source == "rules" and (target == "unplaced" or imp.target.split(".")[:2] == ["runbook_tui", "probes"]
                                    or any(imp.target == p or imp.target.startswith(p + ".") for p in IO_PACKAGES)):
            out.append(imp)  # the rules look at nothing themselves
    return out


@functools.cache
def tree_imports() -> tuple[Import, ...]:
    return tuple(imp for module, path in source_files().items()
            for imp in imports_of(module, path.read_text(), path.name == "__init__.py"))


def test_every_module_is_in_a_layer():
    unplaced = [m for m in source_files() if layer(m) in (None, "unplaced")]
    assert not unplaced, "modules in no layer (add them to KERNEL or PACKAGES):\n" + "\n".join(unplaced)
    assert {layer(m) for m in source_files()} == set(LAYERS)


def test_imports_go_only_inward():
    bad = offences(list(tree_imports()), ALLOWED)
    for imp in bad:
        print(imp)
    assert not bad, "imports against the layers:\n" + "\n".join(str(i) for i in bad)


def test_every_allowance_is_still_needed():
    found = {(i.module, i.target) for i in tree_imports()}
    stale = sorted(ALLOWED - found)
    assert not stale, f"allowed violations that no longer occur (remove them from ALLOWED): {stale}"
    # And each one is an offence indeed, or it would not need allowing.
    assert {(i.module, i.target) for i in offences([Import(m, t, 0) for m, t in ALLOWED])} == ALLOWED


# (module placed at, source) -> the imported names the checker must report
SELF_CHECK = [
    ("runbook_tui/engine/run.py", "from runbook_tui.lab.readiness import wait_for", ["runbook_tui.lab.readiness"]),
    ("runbook_tui/engine/run.py", "def f():\n    import runbook_tui.ui.app\n", ["runbook_tui.ui.app"]),
    ("runbook_tui/engine/run.py", "from runbook_tui import session", ["runbook_tui.session"]),
    ("runbook_tui/engine/run.py", "from ..cli import args", ["runbook_tui.cli"]),
    ("runbook_tui/engine/run.py", "import importlib\nimportlib.import_module('runbook_tui.lab.lab')", ["runbook_tui.lab.lab"]),
    ("runbook_tui/checklist/loader.py", "from runbook_tui.engine.journal import Journal", ["runbook_tui.engine.journal"]),
    ("runbook_tui/checklist/loader.py", "from runbook_tui.observe.model import ROLES", ["runbook_tui.observe.model"]),
    ("runbook_tui/checklist/plan.py", "from runbook_tui.rules.conditions import RULES", ["runbook_tui.rules.conditions"]),
    ("runbook_tui/rules/room.py", "from runbook_tui.engine.run import RunEngine", ["runbook_tui.engine.run"]),
    ("runbook_tui/rules/room.py", "from runbook_tui.probes.flows import Flow", ["runbook_tui.probes.flows"]),
    ("runbook_tui/rules/conditions.py", "class X:\n    def f(self):\n        import docker\n", ["docker"]),
    ("runbook_tui/rules/conditions.py", "import paho.mqtt.client as mqtt", ["paho.mqtt.client"]),
    ("runbook_tui/rules/conditions.py", "import dns.resolver", ["dns.resolver"]),
    ("runbook_tui/rules/conditions.py", "import subprocess", ["subprocess"]),
    ("runbook_tui/rules/conditions.py", "from socket import create_connection", ["socket"]),
    ("runbook_tui/rules/__init__.py", "from .room import Alarm\nfrom ..session import Session", ["runbook_tui.session"]),
    ("runbook_tui/observe/status.py", "from runbook_tui.engine.run import Lapse", ["runbook_tui.engine.run"]),
    ("runbook_tui/probes/flows.py", "from runbook_tui.engine import journal", ["runbook_tui.engine"]),
    ("runbook_tui/probes/flows.py", "from runbook_tui.lab.readiness import wait_for", ["runbook_tui.lab.readiness"]),
    ("runbook_tui/stacks.py", "from runbook_tui.checklist.model import Step", ["runbook_tui.checklist.model"]),
    # Allowed: inward, sideways, and what is not runbook_tui's.
    ("runbook_tui/engine/run.py", "from runbook_tui.rules.room import alarms\nimport subprocess", []),
    ("runbook_tui/rules/room.py", "from runbook_tui.observe.model import ROLES\nfrom runbook_tui.envfile import is_true", []),
    ("runbook_tui/probes/flows.py", "from runbook_tui.observe.status import parse_core_status\nimport paho", []),
    ("runbook_tui/ui/app.py", "from runbook_tui.lab.lab import Lab\nfrom runbook_tui.session import Session", []),
    ("runbook_tui/cli/lab.py", "from runbook_tui.engine.journal import Journal", []),
]


@pytest.mark.parametrize(("where", "source", "expected"), SELF_CHECK,
                         ids=[f"{w}:{s.splitlines()[-1].strip()}" for w, s, _ in SELF_CHECK])
def test_the_checker_catches_a_forbidden_import(where: str, source: str, expected: list[str]):
    module = module_name(where)
    found = offences(imports_of(module, source, where.endswith("__init__.py")))
    assert sorted(i.target for i in found) == sorted(expected), [str(i) for i in found]
    assert all(i.module == module for i in found)


def test_a_forbidden_import_added_to_the_real_tree_fails_the_check():
    """The real engine module plus one line: the offence is reported by module and name."""
    path = REPO / "runbook_tui" / "engine" / "run.py"
    source = path.read_text() + "\n\ndef _later():\n    from runbook_tui.lab.readiness import wait_for\n"
    found = offences(imports_of("runbook_tui.engine.run", source), ALLOWED)
    assert [f"{i.module}: {i.target}" for i in found] == ["runbook_tui.engine.run: runbook_tui.lab.readiness"]


def test_the_rules_load_no_io_package_even_indirectly():
    rules = [m for m in source_files() if layer(m) == "rules"]
    assert "runbook_tui.rules.conditions" in rules
    code = "import sys\n" + "".join(f"import {m}\n" for m in rules) + (
        f"print(','.join(sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in {sorted(IO_PACKAGES)!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()
    assert out == "", f"importing the rules loads: {out}"


def test_no_domain_module_imports_the_ui():
    domain = set(domain_modules())
    offenders = [str(i) for i in tree_imports() if i.module in domain and i.target.split(".")[0] in UI_PACKAGES]
    assert not offenders, offenders
    # The check sees a UI import where one is (a function-level one too).
    planted = imports_of("runbook_tui.engine.run", "def f():\n    from rich.text import Text\n")
    assert [i.target.split(".")[0] for i in planted] == ["rich"]


def test_importing_the_whole_domain_loads_no_ui_package():
    modules = domain_modules()
    assert "runbook_tui.engine.run" in modules and "runbook_tui.lab.lab" in modules
    assert not any(m.startswith("runbook_tui.ui") for m in modules)
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules if not m.endswith("__main__")) + (
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\nprint(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()
    assert out == ""
