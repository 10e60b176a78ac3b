"""Site settings: a valid file, and every kind of bad value with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook_tui.settings import SettingsError, lab_defaults, load_settings
from tests.conftest import REPO, run

GOOD = """\
stack_root = "{root}"
room = "clockwork"
lab = false
journal_dir = "/var/tmp/runs"

[dns]
resolvers = ["10.0.10.1", "10.0.20.1:5353"]
interval_s = 1.5

[docker]
standby = "ssh://ops@standby-host"

[mqtt]
topics = ["core/#", "rooms/#"]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "site" / "infra").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "runbook-tui.toml"
    path.write_text(text.replace("{root}", str(tmp_path / "site")))
    return path


def test_a_site_file_points_the_tool_at_a_deployment(tmp_path: Path):
    s = load_settings(write(tmp_path, GOOD))
    assert s.stack_root == tmp_path / "site" and s.room == "clockwork" and s.lab is False
    assert s.resolvers == (("10.0.10.1", 53), ("10.0.20.1", 5353)) and s.dns_interval_s == 1.5
    assert s.docker_hosts == {"standby": "ssh://ops@standby-host"} and s.mqtt_topics == ("core/#", "rooms/#")
    assert s.runs_dir == Path("/var/tmp/runs")


def test_ipv6_resolvers_are_taken_with_or_without_a_port():
    from runbook_tui.settings import parse_resolver

    assert parse_resolver("[::1]:5353") == ("::1", 5353) and parse_resolver("::1") == ("::1", 53)
    assert parse_resolver("[fd00::53]") == ("fd00::53", 53) and parse_resolver("10.0.0.1:53") == ("10.0.0.1", 53)


def test_without_a_file_the_lab_is_used(monkeypatch):
    monkeypatch.delenv("RUNBOOK_STACK_ROOT", raising=False)
    monkeypatch.setenv("RUNBOOK_LAB_DNS_PORT", "15399")
    s = lab_defaults()
    assert s.lab and s.stack_root == REPO and s.resolvers == (("127.0.0.1", 15399),)


@pytest.mark.parametrize("change, words", [
    (("resolvers = [\"10.0.10.1\", \"10.0.20.1:5353\"]", "resolvers = []"), ":7: dns.resolvers: expected a list"),
    (("resolvers = [\"10.0.10.1\", \"10.0.20.1:5353\"]", "resolvers = [\"10.0.10.1:99999\"]"), "dns.resolvers: resolver '10.0.10.1:99999'"),
    (("interval_s = 1.5", "interval_s = -1"), ":8: dns.interval_s: expected a number of seconds from 0.2 to 3600"),
    # Seen: nan polled the site's resolvers about 900 times a second, 1e300 killed the probe's
    # thread, inf meant a query never ends; odd resolvers were accepted and failed later.
    (("interval_s = 1.5", "interval_s = nan"), ":8: dns.interval_s: expected a number of seconds from 0.2 to 3600"),
    (("interval_s = 1.5", "interval_s = 1e300"), "dns.interval_s: expected a number of seconds from 0.2 to 3600"),
    (("interval_s = 1.5", "interval_s = 1.5\nlifetime_s = inf"), "dns.lifetime_s: expected a number of seconds from 0.1 to 30"),
    (("\"10.0.20.1:5353\"", "\"999.1.1.1\""), "dns.resolvers: resolver '999.1.1.1': '999.1.1.1' is not an IP address"),
    (("\"10.0.20.1:5353\"", "\"1.2.3.4:53:53\""), "resolver '1.2.3.4:53:53': '1.2.3.4:53:53' is not an IP address"),
    (("\"10.0.20.1:5353\"", "\"udm.example\""), "'udm.example' is not an IP address"),
    (("room = \"clockwork\"", "room = \"room1\\n\""), ":2: room: holds the control character U+000A (LF) at character 6"),
    (("lab = false", "lab = \"no\""), ":3: lab: expected true or false"),
    (("room = \"clockwork\"", "room = \"Clock Work\""), ":2: room: 'Clock Work' is not a room id"),
    (("standby = \"ssh://ops@standby-host\"", "standby = \"standby-host\""), "docker.standby: expected a unix://, tcp:// or ssh:// URL"),
    (("topics = [\"core/#\", \"rooms/#\"]", "topics = \"#\""), "mqtt.topics: expected a list of topic filters"),
    (("interval_s = 1.5", "intreval_s = 1.5"), "dns.intreval_s: unknown setting"),
    (("lab = false", "lab = false\nlab = true"), "Cannot overwrite a value"),
    (("stack_root = \"{root}\"", "stack_root = \"/nonexistent\""), ":1: stack_root: /nonexistent has no infra/ folder"),
])
def test_bad_values_get_clear_errors(tmp_path: Path, change, words):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    assert str(error.value).startswith(str(path)) and words in str(error.value)


def test_the_cli_reports_bad_settings_without_a_traceback(tmp_path: Path):
    path = write(tmp_path, GOOD.replace("interval_s = 1.5", "interval_s = -1"))
    r = run(f"runbook-tui --settings {path}", REPO)
    assert r.returncode == 2 and "dns.interval_s" in r.stderr and "Traceback" not in r.stderr


def test_an_unknown_drill_scenario_is_refused_with_the_way_to_list_them():
    r = run("runbook-tui --room room1 --drill no-such-fault", REPO)
    assert r.returncode == 2 and "no drill scenario 'no-such-fault'" in r.stderr and "drill --list" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_site_names_its_checklist_variables_and_each_checklist_takes_its_own(tmp_path: Path):
    # Seen on a site: the smoke test's device could not be set ("variables: unknown setting"),
    # and copying promotion.yaml to change it changed its sha256.
    from runbook_tui.session import Session

    path = write(tmp_path, GOOD + '\n[variables]\nsmoke_device = "door1"\nsmoke_action = "OPEN"\n')
    s = load_settings(path)
    assert s.variables == {"smoke_device": "door1", "smoke_action": "OPEN"}
    promotion = Session(s, "clockwork", REPO / "checklists" / "promotion.yaml")
    assert promotion.values["smoke_device"] == "door1"
    assert promotion.checklist.sha256 == Session(lab_defaults(), "room1", REPO / "checklists" / "promotion.yaml").checklist.sha256
    current = Session(s, "clockwork", REPO / "checklists" / "standby-current.yaml")  # declares no smoke_device: not given it
    assert "smoke_device" not in current.values
    given = Session(s, "clockwork", REPO / "checklists" / "promotion.yaml", variables={"smoke_device": "door2"})
    assert given.values["smoke_device"] == "door2" and "--var smoke_device=door2" in given.resume_command()


@pytest.mark.parametrize("table, message", [
    ('[variables]\nroom = "x"\n', "variables.room: the room is the top-level"),
    ('[variables]\nsmoke_device = 5\n', "variables.smoke_device: expected a string"),
    ('[variables]\n"Bad-Name" = "x"\n', "not a variable name"),
])
def test_bad_site_variables_are_named(tmp_path: Path, table: str, message: str):
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")):
        load_settings(write(tmp_path, GOOD + "\n" + table))


def test_the_tui_takes_var_and_refuses_the_room_or_an_unknown_one(tmp_path: Path):
    for args, said in (("--var room=../../etc", "the room is given with --room"),
                       ("--var nonsense=1", "nonsense: not a variable of promotion.yaml"),
                       ("--var smoke_device", "is not NAME=VALUE")):
        r = run(f"runbook-tui {args}", REPO)
        assert r.returncode == 2 and said in r.stderr, r.stderr


def test_plan_takes_the_site_settings_and_shows_no_lab_command(tmp_path: Path):
    # Seen on a site: `runbook-tui --settings F plan ...` printed the tool's own checkout as stack
    # root and the lab's DNS stand-in; a broken settings file still gave exit 0.
    path = write(tmp_path, GOOD + '\n[variables]\nsmoke_device = "door1"\n')
    r = run(f"runbook-tui --settings {path} plan checklists/promotion.yaml --room clockwork", REPO)
    assert r.returncode == 0, r.stderr
    head = r.stdout.splitlines()[2]
    assert f"stack root {tmp_path / 'site'}" in head and f"settings {path}" in head
    assert "runbook-tui lab" not in r.stdout and "lab only" not in r.stdout
    assert "door1" in r.stdout and "sim1" not in r.stdout
    r = run("runbook-tui plan checklists/promotion.yaml --room clockwork", REPO, env={"RUNBOOK_TUI_SETTINGS": str(path)})
    assert r.returncode == 0 and f"settings {path}" in r.stdout.splitlines()[2]
    lab = run("runbook-tui plan checklists/promotion.yaml --room room1", REPO, env={"RUNBOOK_TUI_SETTINGS": ""})
    assert "settings none (the training lab)" in lab.stdout and "(the lab's stand-in for the manual change)" in lab.stdout
    broken = write(tmp_path, GOOD.replace("[dns]", "[dns]\nbogus = 1"))
    r = run(f"runbook-tui --settings {broken} plan checklists/promotion.yaml --room clockwork", REPO)
    assert r.returncode == 2 and "dns.bogus: unknown setting" in r.stderr


def test_on_a_site_a_value_not_set_is_shown_as_not_set_and_its_step_will_not_run(tmp_path: Path):
    # Seen on a site: with no .env yet the plan said "point ... at the standby broker (127.0.0.3)",
    # a lab address shown as the site's; the smoke test went to the lab's sim1.
    import asyncio

    from runbook_tui.engine.run import EngineRefusal
    from runbook_tui.session import Session

    path = write(tmp_path, GOOD)
    r = run(f"runbook-tui --settings {path} plan checklists/promotion.yaml --room clockwork", REPO)
    assert r.returncode == 0, r.stderr
    assert "<standby_broker_addr: not set>" in r.stdout and "<smoke_device: not set>" in r.stdout
    assert "127.0.0." not in r.stdout and "sim1" not in r.stdout
    import dataclasses

    settings = dataclasses.replace(load_settings(path), journal_dir=tmp_path / "runs")
    engine = Session(settings, "clockwork", REPO / "checklists" / "promotion.yaml").start_engine()
    assert engine.preview("smoke-test").unset == ("smoke_device",)
    with pytest.raises(EngineRefusal, match=r"smoke-test needs smoke_device, not set on this site.*\[variables\]"):
        asyncio.run(engine.run_step("smoke-test", confirmed=True))
    assert engine.status("smoke-test").state.value == "pending"
    assert engine.preview("dns-repoint").unset == ()  # a wait runs nothing of its own on a site: it may run
    engine.journal.close()


VENUE = GOOD + """
[variables]
smoke_device = "door1"

[rooms.clockwork]
resolvers = ["10.0.30.1"]
docker = { primary = "ssh://ops@clock-p" }

[rooms.clockwork.variables]
smoke_device = "door3"
standby_endpoint_host = "10.0.30.21"

[rooms.vault]
"""


def test_a_venue_file_describes_each_room_and_a_room_sees_its_own_values_first(tmp_path: Path):
    s = load_settings(write(tmp_path, VENUE))
    assert s.venue_rooms() == ["clockwork", "vault"]
    # A room with stacks but no table of its own is still a room of the venue (seen: it was dropped).
    for role in ("primary", "standby"):
        (tmp_path / "site" / "infra" / "rooms" / f"foundry-{role}").mkdir(parents=True)
        (tmp_path / "site" / "infra" / "rooms" / f"foundry-{role}" / ".env").write_text("ROOM_ID=foundry\n")
    assert s.venue_rooms() == ["clockwork", "vault", "foundry"]
    clock = s.for_room("clockwork")
    assert clock.room == "clockwork" and clock.resolvers == (("10.0.30.1", 53),)
    assert clock.docker_hosts == {"standby": "ssh://ops@standby-host", "primary": "ssh://ops@clock-p"}
    assert clock.variables == {"smoke_device": "door3", "standby_endpoint_host": "10.0.30.21"}
    vault = s.for_room("vault")  # a room without values of its own takes the file's
    assert vault.resolvers == s.resolvers and vault.variables == {"smoke_device": "door1"}
    assert s.described_as == str((tmp_path / "runbook-tui.toml").resolve())
    assert lab_defaults().described_as == "none (the training lab)"


@pytest.mark.parametrize("addition, words", [
    ('[rooms."Room 1"]\n', 'rooms.Room 1: \'Room 1\' is not a room id'),
    ("[rooms.vault]\nresolver = [\"10.0.0.1\"]\n", ":17: rooms.vault.resolver: unknown setting"),
    ("[rooms.vault]\nresolvers = [\"999.1.1.1\"]\n", ":17: rooms.vault.resolvers: resolver '999.1.1.1'"),
    ("[rooms.vault]\ndocker = { standby = \"http://x\" }\n", ":17: rooms.vault.docker.standby: expected a unix://"),
    ("[rooms.vault.variables]\nroom = \"x\"\n", ":17: rooms.vault.variables.room: the room is the top-level"),
    ("[rooms.vault.variables]\nsmoke_device = 3\n", ":17: rooms.vault.variables.smoke_device: expected a string"),
])
def test_a_bad_room_table_is_named_with_its_line(tmp_path: Path, addition: str, words: str):
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, GOOD + "\n" + addition))
    assert words in str(err.value)


def test_lab_only_commands_refuse_a_sites_settings_and_every_command_says_which_settings(tmp_path: Path):
    site = write(tmp_path, GOOD)
    for command in ("lab status", "drill room1 --scenario flapping-primary", "lab fault room1 standby-drift"):
        r = run(f"runbook-tui --settings {site} {command}", REPO)
        assert r.returncode == 2 and "describe a site (lab = false)" in r.stderr and "training lab only" in r.stderr, r.stderr
        r = run(f"runbook-tui {command}", REPO, env={"RUNBOOK_TUI_SETTINGS": str(site)})
        assert r.returncode == 2 and str(site.resolve()) in r.stderr, r.stderr
    r = run("runbook-tui lab fault list", REPO)  # says nothing of settings: it touches no lab
    assert r.returncode == 0
    r = run("runbook-tui readiness room1", REPO, env={"RUNBOOK_TUI_SETTINGS": str(site)})
    assert f"settings: {site.resolve()}" in r.stderr


def test_the_report_says_which_settings_the_run_used(tmp_path: Path):
    import dataclasses

    from runbook_tui.engine.report import render_report
    from runbook_tui.session import Session

    settings = dataclasses.replace(load_settings(write(tmp_path, GOOD)), journal_dir=tmp_path / "runs")
    session = Session(settings, "clockwork", REPO / "checklists" / "promotion.yaml")
    engine = session.start_engine()
    engine.journal.close()
    assert f"- Settings: {(tmp_path / 'runbook-tui.toml').resolve()}" in render_report(engine.journal.path)
    assert f"Settings: {(tmp_path / 'runbook-tui.toml').resolve()}" in session.farewell()


def test_fuzz_200_generated_settings_files_load_or_name_file_line_and_key(tmp_path: Path, capsys):
    # Seen: a non-UTF-8 byte in the settings file gave a traceback.
    import random

    rng = random.Random(20261202)
    values = ["nan", "inf", "1e300", "-1", "0", '"x"', "[]", "{}", '["999.1.1.1"]', '["[::1]:53"]', '["1.2.3.4:53:53"]',
              '"room1\\n"', "true", '"\\u001b]2;T\\u0007"', '["#"]', '"ssh://x"', '"../.."']
    source = VENUE.replace("{root}", str(tmp_path / "site"))
    (tmp_path / "site" / "infra").mkdir(parents=True)
    loaded = refused = 0
    for n in range(200):
        lines = source.splitlines()
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            if "=" in lines[i] and rng.random() < 0.7:
                lines[i] = lines[i].split("=", 1)[0] + "= " + rng.choice(values)
            else:
                lines.insert(i, rng.choice(["[dns]", "[rooms.x y]", "bogus = 1", "[variables]\nroom = \"x\"", "\udcff"]))
        path = tmp_path / f"s{n}.toml"
        path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogateescape"))
        try:
            load_settings(path)
            loaded += 1
        except SettingsError as exc:
            refused += 1
            assert str(exc).startswith(f"{path}:") or str(exc).startswith(f"{path}: "), exc
    with capsys.disabled():
        print(f"\nsettings fuzz: 200 files, {loaded} loaded, {refused} refused naming the file, 0 tracebacks")
    assert loaded + refused == 200 and refused > 50
    bad = tmp_path / "bytes.toml"
    bad.write_bytes(b'stack_root = "x"\nroom = "caf\xe9"\n')
    with pytest.raises(SettingsError, match=r"bytes.toml:2: byte 0xe9 is not UTF-8"):
        load_settings(bad)


def test_settings_may_follow_the_command(tmp_path: Path):
    # Seen: `runbook-tui readiness --settings F room` read F as a room id.
    site = write(tmp_path, GOOD)
    after = run(f"runbook-tui plan checklists/promotion.yaml --room clockwork --settings {site}", REPO,
                env={"RUNBOOK_TUI_SETTINGS": ""})
    assert after.returncode == 0 and f"settings {site.resolve()}" in after.stdout.splitlines()[2]
    r = run(f"runbook-tui lab --settings {site} status", REPO)
    assert r.returncode == 2 and "describe a site" in r.stderr


def test_a_drill_opens_the_checklist_its_fault_is_met_in():
    # A drifted standby is found while keeping it current: a promotion would go through
    # without ever looking at it, and the drill would be "complete" with nothing learnt.
    from runbook_tui.cli.drill import drill_settings
    from runbook_tui.settings import lab_defaults

    lab = lab_defaults()
    assert drill_settings(lab, "standby-drift").checklist.name == "standby-current.yaml"
    assert drill_settings(lab, "flapping-primary").checklist.name == "promotion.yaml"
    two = drill_settings(lab, "resolvers-disagree")
    assert two.checklist.name == "promotion.yaml" and len(two.resolvers) == 2


def test_every_error_in_the_file_is_said_at_once_with_its_line_and_key(tmp_path: Path):
    # Seen: a site file with four mistakes took four rounds of edit and retry, one error each.
    text = (GOOD.replace('room = "clockwork"', 'room = "Clock Work"')
            .replace("interval_s = 1.5", "interval_s = nan\nlifetime_s = 0x10")
            .replace('standby = "ssh://ops@standby-host"', 'standby = "standby-host"\nbogus = 1')
            .replace('topics = ["core/#", "rooms/#"]', 'topics = ["a/#/b"]')
            + '\n[variables]\nroom = "x"\n\n[rooms.vault]\nresolvers = ["999.1.1.1"]\nfence_command = "pdu off"\n')
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    said = str(error.value).splitlines()
    expected = [(2, "room", "'Clock Work' is not a room id"),
                (8, "dns.interval_s", "expected a number of seconds from 0.2 to 3600"),
                (9, "dns.lifetime_s", "0x10 is octal, hexadecimal or binary"),
                (12, "docker.standby", "expected a unix://, tcp:// or ssh:// URL"),
                (13, "docker.bogus", "unknown setting (expected one of: primary, standby)"),
                (16, "mqtt.topics", "'a/#/b' is not an MQTT topic filter"),
                (19, "variables.room", "the room is the top-level"),
                (22, "rooms.vault.resolvers", "resolver '999.1.1.1'"),
                (23, "rooms.vault.fence_command", "expected a list of words")]
    assert len(said) == len(expected), said
    for line, (at, key, words) in zip(said, expected, strict=True):
        assert line.startswith(f"{path}:{at}: {key}: ") and words in line, (line, at, key)
    assert [(p.line, p.field) for p in error.value.problems] == [(at, key) for at, key, _ in expected]
    # One error per key: a value refused for a control character is not refused again for its form.
    with pytest.raises(SettingsError) as error:
        load_settings(write(tmp_path, GOOD.replace('room = "clockwork"', 'room = "Clock\\u001bWork"')))
    assert str(error.value).count(": room: ") == 1 and "U+001B" in str(error.value)


def test_a_refused_file_puts_none_of_its_secret_keys_in_force(tmp_path: Path):
    from runbook_tui.secrets import SECRET_KEY

    before = SECRET_KEY.site
    with pytest.raises(SettingsError):
        load_settings(write(tmp_path, 'secret_keys = ["*_VAULTPIN"]\n' + GOOD.replace("lab = false", 'lab = "no"')))
    assert SECRET_KEY.site == before and "*_VAULTPIN" not in before
