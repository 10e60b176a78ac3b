"""Settings and checklists refuse what cannot work, naming file, line and key.

Seen: invalid MQTT topic filters were accepted (both brokers then showed "down, 0 messages"),
so was `tcp://host:notaport`; a NUL in an `.env` value was written as is; checklists with a
`!!python/object` tag, a byte-order mark or `0o17` as a number validated.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
from runbook_tui.engine.envedit import EnvEditError, render
from runbook_tui.settings import Settings, SettingsError, load_settings
from runbook_tui.terminal import CONTROL

GOOD = """\
stack_root = "{root}"
room = "clockwork"
lab = false

[dns]
resolvers = ["10.0.10.1", "10.0.20.1:5353"]
interval_s = 1.5

[docker]
standby = "ssh://ops@standby-host:22"

[mqtt]
topics = ["core/#", "rooms/+/status"]

[variables]
smoke_device = "door1"

[floor]
public_url = "https://floor.venue.example:8443"
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    (tmp_path / "site" / "infra").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "runbook-tui.toml"
    data = text if isinstance(text, bytes) else text.encode()
    path.write_bytes(data.replace(b"{root}", str(tmp_path / "site").encode()))
    return path


def test_the_good_file_loads(tmp_path: Path):
    s = load_settings(write(tmp_path, GOOD))
    assert s.mqtt_topics == ("core/#", "rooms/+/status") and s.docker_hosts == {"standby": "ssh://ops@standby-host:22"}


@pytest.mark.parametrize("change, words", [
    (('"rooms/+/status"', '"a/#/b"'), ":13: mqtt.topics: 'a/#/b' is not an MQTT topic filter"),
    (('"rooms/+/status"', '"rooms/+x"'), ":13: mqtt.topics: 'rooms/+x' is not an MQTT topic filter"),
    (('"rooms/+/status"', '"core#"'), ":13: mqtt.topics: 'core#' is not an MQTT topic filter"),
    (('"rooms/+/status"', '"core/\\u0000"'), ":13: mqtt.topics: holds the control character U+0000 (NUL)"),
    (('"ssh://ops@standby-host:22"', '"tcp://host:notaport"'), ":10: docker.standby: 'tcp://host:notaport': the port is not"),
    (('"ssh://ops@standby-host:22"', '"tcp://host:99999"'), ":10: docker.standby: 'tcp://host:99999': the port is not"),
    (('"ssh://ops@standby-host:22"', '"tcp://host:0"'), ":10: docker.standby: 'tcp://host:0': the port is not"),
    (('"ssh://ops@standby-host:22"', '"ssh://:22"'), ":10: docker.standby: 'ssh://:22': no host"),
    (('"ssh://ops@standby-host:22"', '"unix://"'), ":10: docker.standby: 'unix://': no socket path"),
    (('"ssh://ops@standby-host:22"', '"tcp://host 1:2375"'), ":10: docker.standby: 'tcp://host 1:2375' holds a space"),
    (('"https://floor.venue.example:8443"', '"https://floor.venue.example:notaport"'), ":19: floor.public_url: expected"),
    (('"door1"', '"door1\\u0000"'), ":16: variables.smoke_device: holds the control character U+0000 (NUL)"),
    (('"door1"', '"door\\u009b2J"'), ":16: variables.smoke_device: holds the control character U+009B (8-bit CSI)"),
    (('"door1"', '"door\\u202e1"'), ":16: variables.smoke_device: holds the control character U+202E"),
    (('smoke_device = "door1"', '"smoke\\u001b" = "door1"'), "variables.smoke\ufffd: the key holds the control character U+001B"),
    (('stack_root = "{root}"', 'stack_root = "{root}\\u0000"'), ":1: stack_root: holds the control character U+0000 (NUL)"),
    (("interval_s = 1.5", "interval_s = 0o17"), ":7: dns.interval_s: 0o17 is octal, hexadecimal or binary"),
    (("interval_s = 1.5", "interval_s = 0x10"), ":7: dns.interval_s: 0x10 is octal"),
    (("interval_s = 1.5", "interval_s = 01:30:00"), ":7: dns.interval_s: expected a number of seconds"),
])
def test_settings_refuse_what_cannot_work_with_file_line_and_key(tmp_path: Path, change, words):
    text = GOOD.replace(*change)
    assert text != GOOD
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    said = str(error.value)
    assert said.startswith(f"{path}:") and words in said, said
    assert CONTROL.search(said) is None


def test_topic_filters_are_checked_by_paho_itself():
    # The check is paho's own (the one Client.subscribe raises on), so the two cannot disagree.
    from paho.mqtt.client import Client

    from runbook_tui.settings import topic_filter_problem

    for topic in ["#", "+", "a/+/b", "a/#", "+/+", "a//b"]:
        assert topic_filter_problem(topic) is None, topic
        Client._filter_wildcard_len_check(topic.encode())
    for topic in ["a/#/b", "a+", "#a", "a/b#", "", "x" * 70_000]:
        assert topic_filter_problem(topic) is not None, topic


def test_a_byte_order_mark_at_the_start_of_a_settings_file_is_read_past(tmp_path: Path):
    # Editors on Windows write one; tomllib refused it as "Invalid statement (at line 1, column 1)".
    s = load_settings(write(tmp_path, b"\xef\xbb\xbf" + GOOD.encode()))
    assert isinstance(s, Settings) and s.room == "clockwork"


# ---- checklists --------------------------------------------------------------------------------

CHECKLIST = """\
checklist: {id: t, name: T, revision: "1"}
variables:
  room: {description: The room.}
  port: {description: A port., default: "1883"}
sections:
  - id: s1
    title: One
    steps:
      - {id: a, title: A, type: command, command: "echo {{room}}", timeout_s: 90}
"""


def checklist_errors(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ChecklistInvalid) as err:
        load_checklist(path)
    assert all(e.file == path and e.line >= 1 and e.field for e in err.value.errors)
    return [f"{e.line}:{e.field}: {e.message}" for e in err.value.errors]


@pytest.mark.parametrize("change, expected", [
    (("description: The room.", "description: !!python/object:os.system The room."), "3:syntax: the YAML tag"),
    (("room: {description", "room: !!python/object:collections.OrderedDict {description"), "3:syntax: the YAML tag"),
    (('default: "1883"', 'default: !!str 1883'), "4:syntax: the YAML tag"),
    (('default: "1883"', "default: !!binary aGk="), "4:syntax: the YAML tag"),
    (("title: One", "title: !custom One"), "7:syntax: the YAML tag"),
    (('revision: "1"', "revision: 0o17"), "1:checklist.revision: 0o17 is a number to other YAML readers: quote it"),
    (('default: "1883"', "default: 0o17"), "4:variables.port.default: 0o17 is a number to other YAML readers"),
    (('default: "1883"', "default: 017"), "4:variables.port.default: YAML reads 017 as a number other than it looks"),
    (('default: "1883"', "default: 1:30"), "4:variables.port.default: YAML reads 1:30 as a number other than it looks"),
    (('default: "1883"', "default: 0x10"), "4:variables.port.default: YAML reads 0x10 as a number other than it looks"),
    (("timeout_s: 90", "timeout_s: 017"), "9:sections[0].steps[0].timeout_s: expected a number of seconds"),
    (("timeout_s: 90", "timeout_s: 0o17"), "9:sections[0].steps[0].timeout_s: expected a number of seconds"),
    (("title: One", "title: O\ufeffne"), "7:file: U+FEFF (ZERO WIDTH NO-BREAK SPACE) inside the file"),
])
def test_checklists_refuse_tags_stray_byte_order_marks_and_numbers_yaml_reads_otherwise(tmp_path: Path, change, expected):
    text = CHECKLIST.replace(*change)
    assert text != CHECKLIST
    said = checklist_errors(tmp_path, text)
    assert any(e.startswith(expected) for e in said), said


def test_a_byte_order_mark_at_the_start_of_a_checklist_is_accepted(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + CHECKLIST.encode())
    checklist = load_checklist(path)
    assert checklist.name == "T" and checklist.variables["port"].default == "1883"
    path.write_bytes(CHECKLIST.replace('"1883"', "1883").encode())
    assert load_checklist(path).variables["port"].default == "1883"  # a decimal number is its own text


# ---- .env edits --------------------------------------------------------------------------------

def test_a_nul_in_an_env_value_is_refused_not_written():
    with pytest.raises(EnvEditError, match=r"NUL character \(U\+0000\) at character 3"):
        render(b"A=1\nB=2\n", {"A": "ab\0cd"})
    with pytest.raises(EnvEditError, match="NUL"):
        render(b"A=1\n", {"NEW": "\0"})
    assert render(b"A=1\n", {"A": "ab cd"}) == b"A='ab cd'\n"


# ---- fuzz: 500 settings files ------------------------------------------------------------------

VALUES = ['"a/#/b"', '"+x"', '"tcp://host:notaport"', '"tcp://h:99999"', '"ssh://"', '"unix://"', '"x\\u0000y"',
          '"\\u001b]0;T\\u0007"', '"\\u009b2J"', '"\\u202e"', '"\\r"', "0o17", "0x10", "0b1", "01:30:00", "1979-05-27",
          "nan", "-1", '""', "[]", "{}", '["#", "a/#/b"]', '["\\u0000"]', '"https://x:notaport"', '"1.2.3.4:0"', "true"]
KEY_LINE = re.compile(r"^\S+:\d+: [\w.\ufffd\[\]-]+: ")
TOML_ERROR = re.compile(r"\(at line \d+, column \d+\)|at end of document")


def test_fuzz_500_hostile_settings_files_name_file_line_and_key(tmp_path: Path, capsys):
    rng = random.Random(24_006)
    source = GOOD.replace("{root}", str(tmp_path / "site"))
    (tmp_path / "site" / "infra").mkdir(parents=True)
    loaded = refused = tracebacks = unnamed = raw = 0
    for n in range(500):
        lines = source.splitlines()
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            if "=" in lines[i] and rng.random() < 0.8:
                lines[i] = lines[i].split("=", 1)[0] + "= " + rng.choice(VALUES)
            else:
                lines.insert(i, rng.choice(['"k\\u001b" = 1', "[docker]", 'primary = "tcp://:1"', "\ufeff", "x = 1"]))
        text = "\n".join(lines) + "\n"
        if rng.random() < 0.1:
            text = "\ufeff" + text
        path = tmp_path / f"s{n}.toml"
        path.write_text(text)
        try:
            load_settings(path)
            loaded += 1
        except SettingsError as exc:
            refused += 1
            said = str(exc)
            unnamed += not (said.startswith(str(path)) and (KEY_LINE.match(said) or TOML_ERROR.search(said)))
            raw += CONTROL.search(said) is not None
        except Exception:  # noqa: BLE001 - counted: the test asserts none
            tracebacks += 1
    with capsys.disabled():
        print(f"\nhostile settings fuzz: 500 files, {loaded} loaded, {refused} refused naming file, line and key "
              f"({unnamed} without), {tracebacks} tracebacks, {raw} messages with a control character")
    assert loaded + refused == 500 and tracebacks == 0 and unnamed == 0 and raw == 0 and refused > 400
