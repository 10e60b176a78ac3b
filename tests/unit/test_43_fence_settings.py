"""A room's fence command in the site settings ([rooms.<id>] fence_command): an argv list run
without a shell, only for its own room; what cannot be one is refused with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook_tui.settings import SettingsError, load_settings

SITE = """\
stack_root = "{root}"
lab = false

[dns]
resolvers = ["10.0.10.1"]

[rooms.clockwork]
fence_command = ["/usr/local/bin/pdu-ctl", "outlet", "3", "off"]

[rooms.vault]
resolvers = ["10.0.20.1"]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "site" / "infra").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "runbook-tui.toml"
    path.write_text(text.replace("{root}", str(tmp_path / "site")))
    return path


def test_a_room_has_its_own_fence_command_and_another_room_none(tmp_path: Path):
    s = load_settings(write(tmp_path, SITE))
    assert s.for_room("clockwork").fence_command == ("/usr/local/bin/pdu-ctl", "outlet", "3", "off")
    # Fencing cuts one room's primary host off: never another room's command.
    assert s.for_room("vault").fence_command == ()
    assert s.for_room("foundry").fence_command == ()


def test_a_name_on_path_and_words_with_spaces_and_shell_characters_are_kept_as_words(tmp_path: Path):
    s = load_settings(write(tmp_path, SITE.replace(
        '["/usr/local/bin/pdu-ctl", "outlet", "3", "off"]', '["udm-fw", "block", "room 1; rm -rf /", "$(reboot)"]')))
    assert s.for_room("clockwork").fence_command == ("udm-fw", "block", "room 1; rm -rf /", "$(reboot)")


@pytest.mark.parametrize("value, words", [
    ('"pdu-ctl outlet 3 off"', "expected a list of words"),
    ("[]", "expected a list of words"),
    ('["pdu-ctl", 3]', "expected a list of words"),
    ('["bin/pdu-ctl", "off"]', "is a relative path: give an absolute path or a name on PATH"),
    ('["./pdu-ctl"]', "is a relative path"),
    ('[" pdu-ctl"]', "is empty or has spaces around it"),
    ('[""]', "is empty"),
    ('["-x"]', "starts with '-'"),
    ('["pdu-ctl", "{{room}}"]', "no {{placeholders}}"),
    ('["pdu-ctl", "off\\u001b[2J"]', "control character"),
    ('["x"' + ', "y"' * 64 + "]", "65 words: at most 64"),
])
def test_what_cannot_be_a_fence_command_is_refused_with_file_line_and_key(tmp_path: Path, value: str, words: str):
    path = write(tmp_path, SITE.replace('["/usr/local/bin/pdu-ctl", "outlet", "3", "off"]', value))
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}:8: rooms.clockwork.fence_command: "), err.value
    assert words in str(err.value)


def test_a_fence_command_is_a_rooms_setting_not_the_files(tmp_path: Path):
    path = write(tmp_path, 'fence_command = ["pdu-ctl", "off"]\n' + SITE)
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert f"{path}:1: fence_command: unknown setting" in str(err.value)


# ---- the checklist step that runs it ------------------------------------------------------------

STEP_CHECKLIST = """\
checklist: {{id: fence, name: Fence, revision: "f1"}}
variables:
  room: {{description: The room.}}
sections:
  - id: s1
    title: Fence
    steps:
      - id: fence-cmd
        title: Cut the primary host off
        type: command
{fields}
"""


@pytest.mark.parametrize("fields, words", [
    ("        site_command: fence_command\n        fences: primary\n", None),
    ("        site_command: pdu\n        fences: primary\n", ":11: sections[0].steps[0].site_command: unknown site command 'pdu'"),
    ("        site_command: fence_command\n", ":11: sections[0].steps[0].site_command: the site's fence command cuts a host off"),
    ("        site_command: fence_command\n        fences: primary\n        command: pdu-ctl off\n",
     "site_command: a step runs its own 'command' or the site's 'site_command', not both"),
    ("        site_command: fence_command\n        fences: primary\n        stack: primary\n",
     ":13: sections[0].steps[0].stack: does not apply with 'site_command'"),
    ("        fences: primary\n", "sections[0].steps[0].command: missing required field 'command'"),
])
def test_a_step_runs_the_sites_fence_command_only_as_a_fence_and_on_no_engine(tmp_path: Path, fields: str, words):
    from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist

    path = tmp_path / "fence.yaml"
    path.write_text(STEP_CHECKLIST.format(fields=fields))
    if words is None:
        step = load_checklist(path).step("fence-cmd")
        assert (step.site_command, step.fences, step.command, step.stack) == ("fence_command", "primary", None, None)
        return
    with pytest.raises(ChecklistInvalid) as err:
        load_checklist(path)
    assert words in str(err.value), err.value


def test_the_plan_shows_the_rooms_fence_command_word_for_word(tmp_path: Path):
    from tests.conftest import REPO, run

    path = write(tmp_path, SITE.replace('"/usr/local/bin/pdu-ctl"', '"/usr/local/bin/pdu ctl"'))
    shown = run(f"runbook-tui plan --settings {path} {REPO / 'checklists' / 'promotion.yaml'} --room clockwork "
                "--var smoke_device=door1", REPO)
    assert shown.returncode == 0, shown.stderr
    assert "        $ '/usr/local/bin/pdu ctl' outlet 3 off\n" in shown.stdout
    assert "run as these 4 words, without a shell: the site's fence command ([rooms.clockwork] fence_command)" in shown.stdout
    other = run(f"runbook-tui plan --settings {path} {REPO / 'checklists' / 'promotion.yaml'} --room vault "
                "--var smoke_device=door1", REPO)
    assert "not run: this site has no fence command for vault (the site settings' [rooms.vault] fence_command)" in other.stdout
