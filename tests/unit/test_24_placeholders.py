"""Placeholders are data: a value substituted into a shell command is one shell word (or one
literal part of one) whatever quotes surround the placeholder, and never adds a word or runs
code; a placeholder where no quoting can promise that is refused by the loader, with file,
line and field. Fuzzed with hypothesis: shell metacharacters in every position of a value, in
every quoting context, each render checked by bash -n and run (in batches, one bash per few
hundred renders) with canaries that would create a file."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook_tui.checklist.kinds import substitute
from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
from runbook_tui.checklist.plan import render_plan
from runbook_tui.checklist.shell_words import UnsafePlaceholder, problems
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine, StepState
from runbook_tui.observe.observer import Observer
from tests.conftest import site_without_dns
from tests.depth import cases

CANARY = "$(touch fired)"

HEADER = """\
checklist: {id: quoting, name: Quoting, revision: "t1"}
variables:
  room: {description: The room.}
  thing: {default: "plain", description: A value.}
  file: {default: "none", description: Captured.}
sections:
  - id: s1
    title: Steps
    steps:
"""


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=30)


# ---- each finding, as it was seen: these failed before values were quoted for their context ----

@pytest.mark.parametrize("template", ['echo "{{thing}}"', "echo '{{thing}}'", 'echo "a {{thing}} b"', "echo 'a {{thing}} b'"])
def test_a_value_inside_quotes_is_not_run(tmp_path: Path, template: str):
    command = substitute(template, {"thing": CANARY}, shell=True)
    done = bash(command, tmp_path)
    assert not (tmp_path / "fired").exists(), command
    assert done.returncode == 0 and CANARY in done.stdout, (command, done.stdout)
    assert done.stdout.rstrip("\n") == template.removeprefix("echo ").strip("'\"").replace("{{thing}}", CANARY)


def _engine(tmp_path: Path, steps: str, given: dict[str, str]) -> RunEngine:
    path = tmp_path / "quoting.yaml"
    path.write_text(HEADER + steps)
    checklist = load_checklist(path)
    values = resolve_variables(checklist, {"room": "room9", **given}, tmp_path).values
    sensors = Observer(site_without_dns(values, tmp_path))
    return RunEngine.start(checklist, values, sensors, tmp_path / "run.jsonl", RunConfig(tmp_path))


def test_a_captured_value_inside_quotes_is_not_run(tmp_path: Path):
    # A backup file named by whoever could write in the backup directory, captured and reused.
    name = "room9-$(id>pwned).sql.gz"
    engine = _engine(tmp_path, f"""\
      - {{id: backup, title: Back up, type: command, capture_as: file, command: "printf '%s\\\\n' '{name}'"}}
      - {{id: show, title: Show, type: command, command: "printf 'dq:%s\\\\n' \\"{{{{file}}}}\\"; printf 'sq:%s\\\\n' '{{{{file}}}}'"}}
""", {})
    assert asyncio.run(engine.run_step("backup", confirmed=True)).state is StepState.DONE
    assert engine.values["file"] == name
    assert asyncio.run(engine.run_step("show", confirmed=True)).state is StepState.DONE
    assert not (tmp_path / "pwned").exists()
    out = next(r for r in read_journal(tmp_path / "run.jsonl").records if r["kind"] == "command_finished" and r["step"] == "show")
    assert out["output"] == [f"dq:{name}", f"sq:{name}"]


def test_a_var_from_the_command_line_inside_quotes_is_not_run_by_the_engine(tmp_path: Path):
    engine = _engine(tmp_path, """\
      - {id: say, title: Say, type: command, command: "echo \\"{{thing}}\\" '{{thing}}' {{thing}}"}
""", {"thing": CANARY})
    assert asyncio.run(engine.run_step("say", confirmed=True)).state is StepState.DONE
    assert not (tmp_path / "fired").exists()


def test_the_plan_prints_what_bash_runs(tmp_path: Path):
    path = tmp_path / "quoting.yaml"
    path.write_text(HEADER + """\
      - {id: say, title: Say, type: command, command: "echo \\"{{thing}}\\" '{{thing}}' {{thing}}/x"}
""")
    plan = render_plan(load_checklist(path), {"room": "room9", "thing": "it's $(id)"}, tmp_path)
    line = next(x for x in plan.splitlines() if "$ echo" in x).split("$ ", 1)[1]
    assert line == """echo "it's \\$(id)" 'it'\\''s $(id)' 'it'\\''s $(id)'/x"""
    assert bash(line.replace("echo", "printf '%s\\n'", 1), tmp_path).stdout.splitlines() == ["it's $(id)"] * 2 + ["it's $(id)/x"]


# ---- what no quoting makes safe: refused with file, line and field ----

REFUSED = {
    "echo `echo {{thing}}`": "backquotes",
    "echo $(( {{thing}} + 1 ))": "arithmetic",
    "if (( {{thing}} )); then :; fi": "arithmetic",
    "[[ {{thing}} -eq 1 ]]": "[[ ]]",
    "eval {{thing}}": "'eval'",
    "eval \"echo {{thing}}\"": "'eval'",
    "bash -c {{thing}}": "-c",
    "sudo sh -c 'echo {{thing}}'": "-c",
    "trap {{thing}} EXIT": "'trap'",
    "printf -v {{thing}} x": "-v",
    "read {{thing}} < /dev/null": "'read'",
    "echo ok # {{thing}}": "comment",
    "cat <<EOF\n{{thing}}\nEOF": "here-document",
    "echo ${{thing}}": "'$'",
    "echo \"${{thing}}\"": "'$'",
    "echo \\{{thing}}": "backslash",
    "echo \"\\{{thing}}\"": "backslash",
    "echo \"${x:-{{thing}}}\"": "${...}",
    "echo $'{{thing}}'": "$'...'",
    "source {{thing}}": "'source'",
}


@pytest.mark.parametrize("template", sorted(REFUSED))
def test_contexts_no_quoting_makes_safe_are_refused(template: str):
    found = problems(template)
    assert found and found[0][0] == "thing" and REFUSED[template] in found[0][1], found
    with pytest.raises(UnsafePlaceholder):
        substitute(template, {"thing": "x"}, shell=True)


def test_the_loader_names_file_line_and_field(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER + """\
      - id: one
        title: One
        type: command
        command: |
          echo fine {{thing}}
          echo `date` "`echo {{thing}}`"
""")
    with pytest.raises(ChecklistInvalid) as e:
        load_checklist(path)
    said = str(e.value)
    assert f"{path}:15: sections[0].steps[0].command: {{{{thing}}}} inside backquotes" in said, said


def test_every_shipped_checklist_keeps_its_placeholders_safe():
    root = Path(__file__).resolve().parents[2] / "checklists"
    for path in sorted(root.glob("*.yaml")):
        checklist = load_checklist(path)
        for step in checklist.steps() + checklist.procedure_steps():
            for command in (step.command, step.lab_command, step.paper_command):
                assert not problems(command or ""), (path, step.id)


def test_a_nul_in_a_value_is_refused_not_cut():
    with pytest.raises(UnsafePlaceholder, match="NUL"):
        substitute("echo {{thing}}", {"thing": "a\x00b"}, shell=True)


# ---- fuzz ----

# Every character bash reads specially, with letters between them, and whole payloads that
# fire the canary if any of them ever runs.
META = list(" \t\n'\"\\$`;&|<>(){}[]*?!#~=,%^:+-./@") + ["$(", "${", "$((", "))", "'\\''", '\\"', "{{", "}}"]
PAYLOADS = [CANARY, "`touch fired`", ";touch fired;", "|touch fired", "&& touch fired", "\ntouch fired\n",
            "'$(touch fired)'", '"$(touch fired)"', "'; touch fired; '", '"; touch fired; "', "a[$(touch fired)]",
            "${x:-$(touch fired)}", "$'\\'';touch fired;'", "\\'$(touch fired)\\'", "EOF\ntouch fired\nEOF",
            "x{a,b}", "A=b", "~root", "*", "$HOME", "$((1+1))", "-n", "'", '"', "\\", ""]
values = st.lists(st.sampled_from(META + PAYLOADS) | st.text(alphabet="abcXYZ019_", min_size=1, max_size=3),
                  max_size=8).map("".join)

# (template, expected word(s) from the value). Each template prints its words NUL-separated.
CONTEXTS = [
    ("printf '%s\\0' {{v}}", lambda v: [v]),
    ("printf '%s\\0' pre{{v}}post", lambda v: [f"pre{v}post"]),
    ("printf '%s\\0' {{v}}/.env {{v}}-standby", lambda v: [f"{v}/.env", f"{v}-standby"]),
    ("printf '%s\\0' \"{{v}}\"", lambda v: [v]),
    ("printf '%s\\0' \"pre {{v}} post\"", lambda v: [f"pre {v} post"]),
    ("printf '%s\\0' \"$HOME{{v}}\"", lambda v: [f"/h{v}"]),
    ("printf '%s\\0' $HOME{{v}}x", lambda v: [f"/h{v}x"]),
    ("printf '%s\\0' '{{v}}'", lambda v: [v]),
    ("printf '%s\\0' 'pre {{v}} post'", lambda v: [f"pre {v} post"]),
    ("printf '%s\\0' \"a\"{{v}}'b'\"{{v}}\"", lambda v: [f"a{v}b{v}"]),
    ("printf '%s\\0' \"$(printf %s \"{{v}}\")\" x", lambda v: [v.rstrip("\n"), "x"]),
    ("printf '%s\\0' $(printf %s {{v}} | wc -c)", lambda v: [str(len(v.encode()))]),
    ("x={{v}}; printf '%s\\0' \"$x\"", lambda v: [v]),
    ("printf '%s\\0' {pre,{{v}}}", lambda v: ["pre", v]),
    ("cat <<< {{v}} | tr '\\n' '\\0'", lambda v: [v] if "\n" not in v else v.split("\n")),
    ("(cd . && printf '%s\\0' {{v}} \"{{v}}\" '{{v}}')", lambda v: [v, v, v]),
]


def test_fuzz_values_in_every_quoting_context_never_run(tmp_path: Path):
    drawn: list[str] = []

    @settings(max_examples=cases(200), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(values)
    def collect(v: str):
        drawn.append(v)

    collect()
    pool = list(dict.fromkeys(PAYLOADS + drawn))
    runs = [(t, v, expect(v)) for v in pool for t, expect in CONTEXTS]
    # `{pre,{{v}}}` with an empty value is `{pre,''}`: bash gives "pre" and "" as for any empty word.
    fired = checked = mismatched = 0
    batch = 300
    for start in range(0, len(runs), batch):
        chunk = runs[start:start + batch]
        script = "".join(f"printf '\\001\\002{start + k}\\002\\001'\n{substitute(t, {'v': v}, shell=True)}\n"
                         for k, (t, v, _e) in enumerate(chunk))
        syntax = subprocess.run(["bash", "-n", "-c", script], capture_output=True, timeout=30)
        assert syntax.returncode == 0, syntax.stderr
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, timeout=60,
                              env={"HOME": "/h", "PATH": "/usr/bin:/bin"})
        if (tmp_path / "fired").exists():
            fired += 1
            (tmp_path / "fired").unlink()
        outputs = done.stdout.split(b"\1\2")[1:]  # no value holds \1 or \2: each render's own output
        assert len(outputs) == len(chunk)
        for k, ((t, v, expect), out) in enumerate(zip(chunk, outputs, strict=True)):
            label, _, body = out.partition(b"\2\1")
            assert int(label) == start + k
            words = [w.decode() for w in body.split(b"\0")[:-1]] if body else []
            checked += 1
            if words != expect:
                mismatched += 1
                print("MISMATCH", repr(t), repr(v), words, expect)
    print(f"placeholder fuzz: {len(pool)} values x {len(CONTEXTS)} quoting contexts = {len(runs)} substitutions, "
          f"{checked} run under bash -n and bash, {fired} canaries fired, {mismatched} words not the value")
    assert len(pool) >= len(PAYLOADS) + cases(200) // 2 and checked == len(runs) == len(pool) * len(CONTEXTS)
    assert fired == 0 and mismatched == 0


SCRATCH = Path(tempfile.mkdtemp(prefix="placeholders-"))


@settings(max_examples=cases(150), deadline=None, database=None)
@given(st.lists(st.sampled_from(["{{v}}", "'", '"', "$", "`", "\\", "(", ")", "$(", "#", "\n", " ", ";", "<<",
                                 "eval ", "x", "true ", "((", "${", "[[ "]), max_size=12).map("".join), values)
def test_fuzz_any_template_either_renders_the_value_inert_or_is_refused(template: str, value: str):
    """Random templates: the scanner never crashes, and what it accepts bash parses (where the
    template alone parses) with every value as it parsed with a plain one."""
    try:
        command = substitute(template, {"v": value}, shell=True)
    except UnsafePlaceholder:
        return
    plain = substitute(template, {"v": "x"}, shell=True)
    if parses(plain):
        assert parses(command), command
        # Run as well (its only words are x, true and the value): no value fires the canary.
        subprocess.run(["bash"], input=command.encode(), cwd=SCRATCH, capture_output=True, timeout=10)
        assert not (SCRATCH / "fired").exists(), (template, value, command)


def parses(script: str) -> bool:
    # On stdin: a command such as '+' or '-x' is not taken for bash's own option.
    return subprocess.run(["bash", "-n"], input=script.encode(), capture_output=True, timeout=10).returncode == 0
