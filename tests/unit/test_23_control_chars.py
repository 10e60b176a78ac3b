"""Control characters never reach a terminal from a checklist, settings or a script argument.

Seen: a checklist whose name, title, text or command held `ESC ] 0;...`, `ESC [2J`, U+009B
(8-bit CSI) or U+202E (right-to-left override) retitled the terminal through `validate`,
`plan`, `report` and the TUI; a settings variable did the same through `plan`; and
`core-dispatch.sh --action $'SET\\e]0;X\\a'` echoed it raw. Now the checklist validator refuses
them (file, line, field), settings refuse them (file, line, key), and everything these commands
print passes the one rule (runbook_tui/terminal.py). Every check here is on the output's bytes.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
from runbook_tui.checklist.plan import render_plan
from runbook_tui.observe.payloads import safe_text
from runbook_tui.terminal import CONTROL, first_control
from tests.conftest import REPO, run
from tests.depth import cases

# What a terminal acts on, as bytes of UTF-8 output: C0 but tab/newline, DEL, C1 (UTF-8 and
# raw), bidirectional overrides and isolates.
RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")
HOSTILE = {"OSC title": "\x1b]0;PWNED\x07", "clear screen": "\x1b[2J", "8-bit CSI": "\x9b31m",
           "RLO": "\u202e", "BEL": "\x07", "NUL": "\x00", "CR": "\r", "isolate": "\u2066", "DEL": "\x7f",
           # seen reaching the screen from a .env value on a site walk
           "RLM": "\u200f", "LRM": "\u200e", "ALM": "\u061c"}


def clean(data: bytes) -> bool:
    return RAW_CONTROL.search(data) is None


def yaml_quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar, control characters as escapes."""
    return json.dumps(text)  # JSON's escapes (\\u001b) are YAML's


BASE = """\
checklist: {id: t, name: NAME, revision: "1"}
variables:
  room: {description: DESCRIPTION}
choices:
  reach:
    prompt: PROMPT
    default: B
    options:
      B: {label: LABEL}
sections:
  - id: s1
    title: SECTION
    steps:
      - {id: a, title: TITLE, type: command, command: COMMAND, text: TEXT}
"""
FIELDS = {"NAME": (1, "checklist.name"), "DESCRIPTION": (3, "variables.room.description"),
          "PROMPT": (6, "choices.reach.prompt"), "LABEL": (9, "choices.reach.options.B.label"),
          "SECTION": (12, "sections[0].title"), "TITLE": (14, "sections[0].steps[0].title"),
          "COMMAND": (14, "sections[0].steps[0].command"), "TEXT": (14, "sections[0].steps[0].text")}


def checklist_with(**hostile: str) -> str:
    text = BASE
    for slot in FIELDS:
        text = text.replace(slot, yaml_quoted(hostile.get(slot, "echo {{room}}" if slot == "COMMAND" else "Fine.")))
    return text


@pytest.mark.parametrize("slot", sorted(FIELDS))
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_the_validator_refuses_a_control_character_with_file_line_and_field(tmp_path: Path, slot: str, kind: str):
    path = tmp_path / "c.yaml"
    path.write_text(checklist_with(**{slot: f"ok {HOSTILE[kind]} ok"}))
    with pytest.raises(ChecklistInvalid) as err:
        load_checklist(path)
    line, field = FIELDS[slot]
    said = [str(e) for e in err.value.errors]
    assert any(s.startswith(f"{path}:{line}: {field}: holds the control character U+") for s in said), said
    assert all(CONTROL.search(s) is None for s in said)


def test_tab_and_newline_are_text_in_a_command_but_not_in_a_title(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(checklist_with(COMMAND="echo {{room}}\n\techo two", TEXT="line one\nline two"))
    assert load_checklist(path).step("a").command == "echo {{room}}\n\techo two"
    path.write_text(checklist_with(TITLE="one\ttwo"))
    with pytest.raises(ChecklistInvalid, match=r":14: sections\[0\].steps\[0\].title: holds the control character "
                                               r"U\+0009 \(TAB\) at character 4: this field is one line"):
        load_checklist(path)


def test_a_key_with_a_control_character_is_refused_without_echoing_it(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace("      B: {label: LABEL}", '      "B\\e]0;X\\a": {label: LABEL}'))
    with pytest.raises(ChecklistInvalid) as err:
        load_checklist(path)
    said = "\n".join(str(e) for e in err.value.errors)
    assert "choices.reach.options.(a key): holds the control character U+001B (ESC)" in said
    assert CONTROL.search(said) is None


def test_the_one_rule_covers_every_character_a_terminal_acts_on():
    acted_on = [chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F),
                                 *range(0x2066, 0x206A)]]
    for char in acted_on:
        assert safe_text(f"a{char}b", 10) == "a\ufffdb", hex(ord(char))
        assert first_control(f"a{char}b") is not None
    assert safe_text("tab\tnew\nline é € ✓", 100) == "tab\tnew\nline é € ✓"
    assert first_control("tab\tnew\nline") is None and first_control("a\tb", one_line=True).startswith(
        "holds the control character U+0009 (TAB)")


# ---- through the real commands, on the bytes -------------------------------------------------

def test_validate_and_plan_print_no_control_character(tmp_path: Path):
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(checklist_with(NAME="T\x1b]0;PWNED\x07", TITLE="A\x9b31m", SECTION="One\x1b[2J",
                                      COMMAND="echo {{room}}\x1b]0;X\x07", TEXT="hi\u202e"))
    good = tmp_path / "good.yaml"
    good.write_text(checklist_with())
    r = run(f"runbook-tui validate {hostile} {good}", REPO)
    out = r.stdout.encode() + r.stderr.encode()
    assert r.returncode == 1 and "Traceback" not in r.stderr and clean(out), out
    assert f"{hostile}:1: checklist.name: holds the control character U+001B (ESC)" in r.stderr
    assert f"{good}: ok" in r.stdout
    r = run(f"runbook-tui plan {hostile} --room room1", REPO)
    assert r.returncode == 1 and clean(r.stdout.encode() + r.stderr.encode())
    # A --var value is the operator's own, but the plan still prints nothing a terminal acts on.
    r = run(f"runbook-tui plan {good} --room room1 --var $'room=x\\e]0;X\\a\\xc2\\x9b\\xe2\\x80\\xae'", REPO)
    assert clean(r.stdout.encode() + r.stderr.encode()), r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_a_settings_variable_with_a_control_character_is_refused_by_plan(tmp_path: Path):
    (tmp_path / "site" / "infra").mkdir(parents=True)
    settings = tmp_path / "s.toml"
    settings.write_text(f'stack_root = "{tmp_path / "site"}"\n[dns]\nresolvers = ["10.0.10.1"]\n'
                        '[variables]\nsmoke_device = "door\\u001b]0;X\\u0007"\n')
    r = run(f"runbook-tui plan checklists/promotion.yaml --room room1 --settings {settings}", REPO)
    assert r.returncode == 2 and clean(r.stdout.encode() + r.stderr.encode()), r.stderr
    assert f"{settings}:5: variables.smoke_device: holds the control character U+001B (ESC)" in r.stderr


def test_report_prints_no_control_character_from_a_journal(tmp_path: Path):
    import dataclasses

    from runbook_tui.session import Session
    from runbook_tui.settings import lab_defaults

    settings = dataclasses.replace(lab_defaults(), journal_dir=tmp_path / "runs")
    engine = Session(settings, "room1", REPO / "checklists" / "promotion.yaml").start_engine()
    engine.journal.close()
    path = engine.journal.path
    lines = path.read_text().splitlines()
    started = json.loads(lines[0])
    started["operator"] = "eve\x1b]0;PWNED\x07\x9b2J\u202e"
    started["checklist"]["name"] = "Promo\x1b[2J"
    path.write_text("\n".join([json.dumps(started), *lines[1:]]) + "\n")
    r = run(f"runbook-tui report {path}", REPO)
    assert r.returncode == 0 and "eve" in r.stdout and clean(r.stdout.encode() + r.stderr.encode()), r.stdout
    out = tmp_path / "report.md"
    r = run(f"runbook-tui report {path} -o {out}", REPO)
    assert r.returncode == 0 and clean(out.read_bytes())


@pytest.mark.parametrize("args", [
    "--room room1 --device d --action $'SET\\e]0;X\\a'",
    "--room room1 --device $'d\\xc2\\x9b2J' --action SET",
    "--room $'r\\e[2J' --device d --action SET",
    "--room room1 --device d --action SET --bogus $'\\e]0;X\\a'",
    "--room room1 --device d --action SET --timeout $'\\e]0;X\\a'",
    "--room room1 --device d --action $'SE\\xe2\\x80\\xaeT'",
])
def test_core_dispatch_echoes_no_argument_raw(args: str):
    r = run(f"scripts/core-dispatch.sh {args}", REPO, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert clean(r.stdout.encode() + r.stderr.encode()), r.stderr


def test_the_scripts_die_and_usage_lines_echo_no_argument_raw(tmp_path: Path):
    r = run("scripts/backup-room-db.sh $'room1\\e]0;X\\a-primary'", REPO)
    assert r.returncode == 2 and "is not a stack name" in r.stderr and clean(r.stderr.encode()), r.stderr
    r = run("scripts/backup-room-db.sh $'-\\e[2J\\xc2\\x9b\\xe2\\x81\\xa6'", REPO)
    assert r.returncode == 2 and "unknown option" in r.stderr and clean(r.stderr.encode()), r.stderr


# ---- fuzz: 1,000 hostile checklists through validate and plan ---------------------------------

INJECT = ["\x1b]0;T\x07", "\x1b[2J", "\x9b", "\u202e", "\u2067", "\x00", "\r", "\x08", "\x7f", "\x85", "\t", "\n",
          "\x1b]8;;http://x\x1b\\", "\x1bP+q\x1b\\", "ok"]


def hostile_checklist(rng: random.Random) -> str:
    values = {}
    for slot in rng.sample(sorted(FIELDS), rng.randint(1, 3)):
        base = "echo {{room}}" if slot == "COMMAND" else "Fine"
        cut = rng.randrange(len(base) + 1)
        values[slot] = base[:cut] + "".join(rng.choice(INJECT) for _ in range(rng.randint(1, 3))) + base[cut:]
    text = checklist_with(**values)
    if rng.random() < 0.2:  # the characters written raw into the file, not as escapes
        text = text.replace("Fine.", "Fine" + rng.choice(["\u202e", "\u2066", "\x85", "\x9b", "\x1b[2J"]), 1)
    return text


def test_fuzz_hostile_checklists_through_validate_and_plan(tmp_path: Path, capsys):
    total = cases(1000)
    rng = random.Random(24_002)
    loaded = refused = tracebacks = raw = 0
    path = tmp_path / "h.yaml"
    for _ in range(total):
        path.write_text(hostile_checklist(rng))
        try:
            checklist = load_checklist(path)
            printed = render_plan(checklist, {"room": "room1"}, tmp_path) + checklist.name
            loaded += 1
        except ChecklistInvalid as exc:
            refused += 1
            assert all(e.file == path and e.line >= 1 and e.field for e in exc.errors)
            printed = "\n".join(str(e) for e in exc.errors)
        except Exception:  # noqa: BLE001 - counted: the test asserts none
            tracebacks += 1
            continue
        raw += not clean(printed.encode("utf-8", errors="surrogateescape"))
    # And the real command line on a few of them, on the bytes of its output.
    files = []
    for n in range(8):
        files.append(tmp_path / f"cli{n}.yaml")
        files[-1].write_text(hostile_checklist(rng))
    r = run("runbook-tui validate " + " ".join(map(str, files)), REPO)
    cli_raw = not clean(r.stdout.encode() + r.stderr.encode())
    r2 = run(f"runbook-tui plan {files[0]} --room room1", REPO)
    cli_raw += not clean(r2.stdout.encode() + r2.stderr.encode())
    with capsys.disabled():
        print(f"\nhostile checklist fuzz: {total} checklists, {loaded} loaded and planned, {refused} refused, "
              f"{tracebacks} tracebacks, {raw} outputs with a raw control character; "
              f"9 command-line runs, {cli_raw} with one")
    assert loaded + refused == total and tracebacks == 0 and raw == 0 and refused > 0.9 * total
    assert cli_raw == 0 and "Traceback" not in r.stderr + r2.stderr


@pytest.mark.parametrize("mark", ["\u200e", "\u200f", "\u061c"])
def test_the_scripts_say_the_bidi_marks_as_replacements_too(mark):
    import subprocess

    r = subprocess.run(["bash", "-c", 'source scripts/lib/common.sh && say "$1"', "say", f"a{mark}b"], cwd=REPO,
                       capture_output=True)
    assert r.returncode == 0 and r.stdout == "a\ufffdb\n".encode(), r.stdout
