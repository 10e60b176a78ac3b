"""The domain never imports the UI: checklist model, engine, probes, lab and scripts' Python
must be usable without a terminal (STYLE.md, point 1)."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO

UI_PACKAGES = ("textual", "rich")
UI_DIRS = ("runbook_tui/ui",)  # where the TUI lives; everything else is domain


def domain_modules() -> list[str]:
    names = []
    for path in sorted((REPO / "runbook_tui").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(UI_DIRS):
            continue
        names.append(rel[:-3].replace("/", ".").removesuffix(".__init__"))
    return names


def test_no_domain_module_imports_the_ui():
    offenders = []
    for name in domain_modules():
        tree = ast.parse((REPO / (name.replace(".", "/") + ".py")).read_text() if (REPO / (name.replace(".", "/") + ".py")).exists()
                         else (REPO / name.replace(".", "/") / "__init__.py").read_text())
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{name}: {m}" for m in modules if m.split(".")[0] in UI_PACKAGES]
    assert not offenders, offenders


def test_importing_the_whole_domain_loads_no_ui_package():
    modules = domain_modules()
    assert "runbook_tui.engine.run" in modules and "runbook_tui.lab.lab" in modules
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules if not m.endswith("__main__")) + (
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\nprint(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()
    assert out == ""
