"""Every action on its stack's engine: a step that runs docker names its stack (the validator
says so otherwise); its commands run with that stack's engine from the site settings, both
stacks' engines exported for the scripts; the plan, the confirmation and `command_started`
name the engine. Seen: "Shut the primary down" ran against the console's own engine while the
settings named another for the primary."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine, StepState
from tests.conftest import REPO
from tests.observations import NoLook

ENGINES = {"primary": "ssh://ops@primary-host", "standby": "unix:///run/standby-engine/docker.sock"}
HEAD = """\
checklist: {id: engines, name: Engines, revision: "e1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Act
    steps:
"""



def test_a_step_that_runs_docker_names_its_stack(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + '      - {id: down, title: Down, type: command, command: "(cd x && docker compose down)"}\n')
    with pytest.raises(ChecklistInvalid) as invalid:
        load_checklist(path)
    assert "c.yaml:8: sections[0].steps[0].command: runs docker but names no stack" in str(invalid.value)
    path.write_text(HEAD + '      - {id: down, title: Down, type: command, stack: elsewhere, command: "true"}\n')
    with pytest.raises(ChecklistInvalid, match="unknown stack 'elsewhere'"):
        load_checklist(path)
    # A word that merely contains it is no docker command.
    path.write_text(HEAD + '      - {id: x, title: X, type: command, command: "echo dockerfile my-docker"}\n')
    load_checklist(path)


def test_the_shipped_checklists_name_a_stack_for_every_docker_command():
    for name in ("promotion", "failback", "standby-current"):
        for step in load_checklist(REPO / "checklists" / f"{name}.yaml").steps():
            if step.command and "docker compose" in step.command:
                role = "primary" if "{{primary_dir}}" in step.command else "standby"
                assert step.stack == role, (name, step.id)


def test_a_command_runs_on_its_stacks_engine_and_the_journal_names_it(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + '      - {id: on-standby, title: On the standby, type: command, stack: standby,\n'
                           '         command: "echo \\"host=$DOCKER_HOST p=$RUNBOOK_PRIMARY_DOCKER_HOST\\""}\n'
                           '      - {id: anywhere, title: Anywhere, type: command, command: "echo \\"host=${DOCKER_HOST:-none}\\""}\n')
    checklist = load_checklist(path)
    values = resolve_variables(checklist, {"room": "room1"}, tmp_path).values
    engine = RunEngine.start(checklist, values, NoLook(), tmp_path / "run.jsonl", RunConfig(tmp_path, docker_hosts=ENGINES))
    preview = engine.preview("on-standby")
    assert f"  on the standby's engine {ENGINES['standby']}" in preview.lines
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    os.environ.pop("DOCKER_HOST", None)
    try:
        assert asyncio.run(engine.run_step("on-standby", confirmed=True)).state is StepState.DONE
        assert asyncio.run(engine.run_step("anywhere", confirmed=True)).state is StepState.DONE
    finally:
        os.environ.clear()
        os.environ.update(env)
    engine.journal.close()
    records = read_journal(tmp_path / "run.jsonl").records
    started = {r["step"]: r for r in records if r["kind"] == "command_started"}
    assert started["on-standby"]["engine"] == f"the standby's engine {ENGINES['standby']}"
    assert started["on-standby"]["stack"] == "standby"
    assert started["anywhere"]["stack"] is None
    output = {r["step"]: r["output"] for r in records if r["kind"] == "command_finished"}
    assert output["on-standby"] == [f"host={ENGINES['standby']} p={ENGINES['primary']}"]
    assert output["anywhere"] == ["host=none"]  # no stack: the step does not pick an engine


def test_the_plan_names_each_stacks_engine_from_the_site_settings(tmp_path: Path):
    (tmp_path / "infra" / "rooms").mkdir(parents=True)
    settings = tmp_path / "site.toml"
    settings.write_text(f'stack_root = "{tmp_path}"\nlab = false\n\n[dns]\nresolvers = [\"10.0.30.1\"]\n\n[rooms.vega.docker]\n'
                        f'primary = "{ENGINES["primary"]}"\nstandby = "{ENGINES["standby"]}"\n')
    r = subprocess.run([str(REPO / ".venv" / "bin" / "runbook-tui"), "--settings", str(settings), "plan",
                        str(REPO / "checklists" / "promotion.yaml"), "--room", "vega"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    down = next(i for i, line in enumerate(lines) if "docker compose --env-file .env down" in line)
    assert lines[down + 1].strip() == f"on the primary's engine {ENGINES['primary']}"
    recreate = next(i for i, line in enumerate(lines) if "--force-recreate sentient-core" in line)
    assert lines[recreate + 1].strip() == f"on the standby's engine {ENGINES['standby']}"


@pytest.mark.parametrize("stack,exported,expected", [
    ("room1-primary", {"RUNBOOK_PRIMARY_DOCKER_HOST": "ssh://p", "RUNBOOK_STANDBY_DOCKER_HOST": "ssh://s"}, "ssh://p"),
    ("room1-standby", {"RUNBOOK_PRIMARY_DOCKER_HOST": "ssh://p", "RUNBOOK_STANDBY_DOCKER_HOST": "ssh://s"}, "ssh://s"),
    ("room1-standby", {"DOCKER_HOST": "tcp://caller:2376"}, "tcp://caller:2376"),
    ("room1-standby", {}, ""),
])
def test_the_scripts_act_on_each_stacks_engine(stack, exported, expected):
    env = {k: v for k, v in os.environ.items() if "DOCKER_HOST" not in k} | exported
    r = subprocess.run(["bash", "-c", f"source scripts/lib/common.sh && engine_of {stack}"], capture_output=True,
                       text=True, cwd=REPO, env=env)
    assert r.returncode == 0 and r.stdout.strip() == expected, r.stderr
