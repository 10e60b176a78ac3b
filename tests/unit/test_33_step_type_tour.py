"""ARCHITECTURE.md's "How to add a step type", done once: a copy of the package gets a step type
`pause` (wait a number of seconds) by the documented edits only, and a checklist using it
validates, prints in the plan and runs to done in the engine. And the invariants that keep the
list complete on the real tree: every step type has its hint, its required fields and (if it
acts) its executor."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from runbook_tui.checklist.kinds import StepType
from runbook_tui.checklist.loader import _REQUIRED_BY_TYPE
from runbook_tui.engine.executors import EXECUTORS
from runbook_tui.ui.step_view import HINTS
from tests.conftest import REPO

NOT_EXECUTED = {StepType.CONFIRM, StepType.CHOICE}  # the engine decides these itself


def test_every_step_type_has_its_hint_required_fields_and_executor():
    assert set(HINTS) == set(StepType)
    assert set(_REQUIRED_BY_TYPE) == set(StepType)
    assert set(EXECUTORS) | NOT_EXECUTED == set(StepType)


def _insert(path: Path, anchor: str, text: str, before: bool = False) -> None:
    """Insert TEXT after (or before) the line matching ANCHOR (a regex), which must match once."""
    lines = path.read_text().splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if re.search(anchor, line)]
    assert len(at) == 1, f"{path.name}: anchor {anchor!r} matched {len(at)} lines: the tour's step moved"
    lines.insert(at[0] if before else at[0] + 1, text)
    path.write_text("".join(lines))


CHECKLIST = """\
checklist: {id: tour, name: The tour, revision: "1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: One
    steps:
      - {id: breathe, title: Wait a moment, type: pause, seconds: 0.2}
"""

RUN = """\
import asyncio, json, sys
from pathlib import Path
from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.plan import render_plan
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.run import RunConfig, RunEngine
d = Path(sys.argv[1])
checklist = load_checklist(d / "c.yaml")
plan = render_plan(checklist, {"room": "room9"}, d, lab=False)
values = resolve_variables(checklist, {"room": "room9"}, d).values
engine = RunEngine.start(checklist, values, None, d / "run.jsonl", RunConfig(d, lab=False))
status = asyncio.run(engine.run_step("breathe", confirmed=True))
engine.journal.close()
print(json.dumps({"plan": plan, "state": status.state.value, "evidence": list(status.evidence)}))
"""


def test_a_step_type_added_the_documented_way_validates_plans_and_runs(tmp_path: Path):
    pkg = tmp_path / "copy" / "runbook_tui"
    shutil.copytree(REPO / "runbook_tui", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    # 1. its kind
    _insert(pkg / "checklist" / "kinds.py", r'^\s+CHOICE = "choice"', '    PAUSE = "pause"  # wait a number of seconds\n')
    # 2. its fields on the step
    _insert(pkg / "checklist" / "model.py", r"^    choice: str \| None = None", "    seconds: float | None = None\n")
    # 3. the loader: the field, which types carry it, what the type requires, and the step built with it
    _insert(pkg / "checklist" / "loader.py", r'^\s+"choice": \("str", frozenset\(\{StepType.CHOICE\}\)\),',
            '    "seconds": ("number", frozenset({StepType.PAUSE})),\n')
    _insert(pkg / "checklist" / "loader.py", r'^\s+StepType.CHOICE: \("choice",\),', '    StepType.PAUSE: ("seconds",),\n')
    _insert(pkg / "checklist" / "loader.py", r'^\s+condition=values.get\("condition"\),',
            '        seconds=values.get("seconds"),\n')
    # 4. its line in the plan (and so in the confirmation)
    _insert(pkg / "checklist" / "plan.py", r"^    if step.type is StepType.CHOICE:",
            '    if step.type is StepType.PAUSE:\n        return [f"pause {step.seconds:g} s"]\n', before=True)
    # 5. its executor, registered
    _insert(pkg / "engine" / "executors.py", r"^EXECUTORS: dict\[StepType, type\[Executor\]\] = \{",
            "class PauseExecutor(Executor):\n"
            "    async def perform(self, step: Step) -> Result:\n"
            "        await asyncio.sleep(step.seconds or 0)\n"
            "        return True, '', [f'paused {step.seconds:g} s']\n\n\n", before=True)
    _insert(pkg / "engine" / "executors.py", r"^EXECUTORS: dict\[StepType, type\[Executor\]\] = \{",
            "    StepType.PAUSE: PauseExecutor,\n")
    # 6. its hint in the step pane
    _insert(pkg / "ui" / "step_view.py", r"^HINTS = \{", '    StepType.PAUSE: "[b]r[/b] pauses",\n')

    (tmp_path / "infra").mkdir()
    (tmp_path / "c.yaml").write_text(CHECKLIST)
    env = {"PYTHONPATH": str(pkg.parent), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", RUN, str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert "pause 0.2 s" in out["plan"], out["plan"]
    assert out["state"] == "done" and out["evidence"] == ["paused 0.2 s"], out
    records = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert [r.get("state") for r in records if r["kind"] == "step_state"][-1] == "done"
    # The invariants hold in the copy too (its hint, required fields and executor are all there).
    check = subprocess.run([sys.executable, "-c",
                            "from runbook_tui.checklist.kinds import StepType;"
                            "from runbook_tui.checklist.loader import _REQUIRED_BY_TYPE;"
                            "from runbook_tui.engine.executors import EXECUTORS;"
                            "from runbook_tui.ui.step_view import HINTS;"
                            "assert set(HINTS) == set(_REQUIRED_BY_TYPE) == set(StepType);"
                            "assert StepType.PAUSE in EXECUTORS"], capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=60)
    assert check.returncode == 0, check.stderr[-2000:]
