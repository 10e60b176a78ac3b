"""Hostile checklists: each case below crashed or passed `validate` and failed later before
(issue: hostile input); now each fails in `validate` naming file, line and field. Then 1,000
generated mutations of a real checklist: no traceback, ever."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import MAX_BYTES, ChecklistInvalid, load_checklist
from runbook_tui.checklist.plan import render_plan, step_action
from tests.conftest import REPO, run
from tests.depth import cases

BASE = """\
checklist: {id: t, name: T, revision: "1"}
variables:
  room: {description: The room.}
  port: {description: A port., default: "1883"}
choices:
  reach:
    prompt: How?
    default: B
    options:
      B: {label: DNS}
sections:
  - id: s1
    title: One
    steps:
      - {id: a, title: A, type: command, command: "echo {{room}}"}
"""


def errors_of(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ChecklistInvalid) as err:
        load_checklist(path)
    for e in err.value.errors:
        assert e.file == path and e.line >= 1 and e.field
    return [f"{e.line}:{e.field}: {e.message}" for e in err.value.errors]


STEP = "      - {id: a, title: A, type: command, command: \"echo {{room}}\"}\n"


@pytest.mark.parametrize("replace, expected", [
    (('command: "echo {{room}}"}', 'command: "echo", timeout_s: .inf}'), "15:sections[0].steps[0].timeout_s: expected a number of seconds"),
    (('command: "echo {{room}}"}', 'command: "echo", timeout_s: .nan}'), "15:sections[0].steps[0].timeout_s: expected a number"),
    (('command: "echo {{room}}"}', 'command: "echo", timeout_s: 0x10}'), "15:sections[0].steps[0].timeout_s: expected a number"),
    (('command: "echo {{room}}"}', 'command: "echo", timeout_s: 1:30}'), "15:sections[0].steps[0].timeout_s: expected a number"),
    (('command: "echo {{room}}"}', 'command: "echo", timeout_s: 99999999}'), "15:sections[0].steps[0].timeout_s: must be more than 0"),
    (("    options:\n      B: {label: DNS}\n", "    options: {}\n"), "9:choices.reach.options: no options"),
    (('default: "1883"}', 'default: "{{room2}}"}\n  room2: {description: R2., default: "{{port}}"}'),
     "4:variables.port.default: its default refers back to itself: port -> room2 -> port"),
    (('command: "echo {{room}}"}', 'command: "echo", capture_as: nowhere}'), "15:a.capture_as: 'nowhere' is not a declared variable"),
    (('type: command, command: "echo {{room}}"}', 'type: confirm, when: {reach: []}}'),
     "15:sections[0].steps[0].when.reach: an empty list"),
    (('type: command, command: "echo {{room}}"}', 'type: env_edit, file: x/.env, set: {}}'), "15:sections[0].steps[0].set: empty"),
    (('type: command, command: "echo {{room}}"}', 'type: dispatch_smoke, broker_host: h, broker_port: "18830x", '
      'credentials_from: x/.env, device: d, action: SET}'), "15:sections[0].steps[0].broker_port: '18830x' is not a port"),
    (("    steps:\n" + STEP, "    steps: []\n"), "14:sections[0].steps: an empty section"),
])
def test_what_would_fail_later_fails_in_validate(tmp_path: Path, replace, expected):
    text = BASE.replace(*replace)
    assert text != BASE
    assert any(e.startswith(expected) for e in errors_of(tmp_path, text)), errors_of(tmp_path, text)


def test_a_checklist_needs_its_variables_block(tmp_path: Path):
    text = BASE.replace("variables:\n  room: {description: The room.}\n  port: {description: A port., default: \"1883\"}\n", "")
    assert any("variables: missing" in e for e in errors_of(tmp_path, text))


def test_sizes_depths_aliases_and_bytes_are_refused_at_their_line(tmp_path: Path):
    # A 15 KB file of YAML aliases took 33 s and 635 MB; a 20 MB file 144 s and 1.2 GB.
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(20))
    said = errors_of(tmp_path, laughs)
    assert any("values once its aliases are expanded" in e or "aliases" in e for e in said), said
    many = "x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(200))
    assert any(e.startswith("102:syntax: more than 100 aliases") for e in errors_of(tmp_path, many))
    deep = "a: " + "[" * 10_000 + "]" * 10_000 + "\n"
    assert any(e.startswith("1:syntax:") and "nest" in e for e in errors_of(tmp_path, deep))  # libyaml's own limit, or ours
    deep_lines = "".join("  " * i + f"k{i}:\n" for i in range(80)) + "  " * 80 + "v\n"
    assert any(e.startswith("65:syntax: nested more than 64") for e in errors_of(tmp_path, deep_lines))
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# x\n" * (MAX_BYTES // 4 + 10))
    with pytest.raises(ChecklistInvalid, match="over its cap of 1 MiB"):
        load_checklist(big)
    assert any(e.startswith("3:file: not UTF-8 text: byte 0xff") for e in errors_of(tmp_path, b"a: 1\nb: 2\nc: \xff\n"))


def test_a_multi_line_command_is_shown_exactly_as_bash_runs_it(tmp_path: Path):
    text = BASE.replace('command: "echo {{room}}"}', 'command: "echo \'a   b\'\\necho {{room}}"}')
    path = tmp_path / "c.yaml"
    path.write_text(text)
    checklist = load_checklist(path)
    lines = step_action(checklist.step("a"), {"room": "vault"})
    assert lines == ["$ echo 'a   b'", "  echo vault"]  # both lines, the spaces inside quotes kept
    plan = render_plan(checklist, {"room": "vault"}, tmp_path)
    assert "$ echo 'a   b'\n" in plan and "  echo vault" in plan


def test_validate_on_every_broken_input_names_file_line_and_field_and_never_a_traceback(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace("timeout_s", "x").replace('command: "echo {{room}}"}', 'command: "e", timeout_s: .inf}'))
    r = run(f"runbook-tui validate {path}", REPO)
    assert r.returncode == 1 and "Traceback" not in r.stderr and f"{path}:15: sections[0].steps[0].timeout_s" in r.stderr


# ---- fuzz: 1,000 mutations of the shipped promotion checklist -------------------------------

MUTATIONS = [": .inf", ": .nan", ": 0x10", ": 1:30", ": {}", ": []", ": ~", ": [[[]]]", ": &x 1", ": *x", ": 'a\nb'",
             ": \"\\x1b]2;T\\x07\"", ": yes", ": -1", ": 1e999", ": \"{{nope}}\"", ": \"{{room}}{{room}}\"", ": !!binary aGk="]


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        line = lines[i]
        kind = rng.random()
        if kind < 0.5 and ": " in line:
            key = line.split(": ", 1)[0]
            lines[i] = key + rng.choice(MUTATIONS) + "\n"
        elif kind < 0.7:
            del lines[i]
        elif kind < 0.85:
            lines.insert(i, lines[rng.randrange(len(lines))])
        else:
            cut = rng.randrange(len(line) + 1)
            lines[i] = line[:cut] + rng.choice(["\t", "\x00", "\u202e", "[", "{", "'", '"', "&", "*", "!"]) + line[cut:]
    return "".join(lines)


def test_fuzz_mutated_checklists_load_or_say_where(tmp_path: Path, capsys):
    n = cases(1000)
    source = (REPO / "checklists" / "promotion.yaml").read_text()
    rng = random.Random(20261202)
    loaded = refused = 0
    path = tmp_path / "m.yaml"
    for _ in range(n):
        path.write_text(mutate(source, rng))
        try:
            checklist = load_checklist(path)
        except ChecklistInvalid as exc:
            refused += 1
            assert exc.errors and all(e.line >= 1 and e.field and e.message for e in exc.errors)
            continue
        loaded += 1
        render_plan(checklist, {"room": "room1"}, tmp_path)  # what validates also plans
    with capsys.disabled():
        print(f"\nchecklist fuzz: {n} mutations, {loaded} loaded and planned, {refused} refused with file:line:field, "
              "0 tracebacks")
    assert loaded + refused == n and refused > n // 10
