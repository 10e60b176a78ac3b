"""The runbook's scripts on bad input and their handling of secrets (no Docker needed)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tests.conftest import BIN, run


def bound(port: int) -> bool:
    """Something on this host listens on 127.0.0.1:port (a lab room, say): the script skips it."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def local_ports(n: int, taken: tuple[int, ...] = ()) -> tuple[str, str]:
    """The local ports the script gives room number n: the first pair from 1883+2n on that no
    stack uses and nothing on this host listens on."""
    while any(p in taken or bound(p) for p in (1883 + 2 * n, 1884 + 2 * n)):
        n += 1
    return str(1883 + 2 * n), str(1884 + 2 * n)


def test_new_room_creates_both_stacks_with_private_env(stack_root: Path):
    primary_local, standby_local = local_ports(0)
    out = run("scripts/new-room-standby.sh room1", stack_root, check=True)
    for role, addr, local, dispatch in (("primary", "127.0.0.2", primary_local, "true"),
                                        ("standby", "127.0.0.3", standby_local, "false")):
        d = stack_root / "infra" / "rooms" / f"room1-{role}"
        env = dotenv_values(d / ".env")
        assert env["ROOM_ID"] == "room1" and env["STACK_ROLE"] == role
        assert env["MQTT_BIND_ADDR"] == addr and env["MQTT_LOCAL_PORT"] == local
        assert env["CORE_DISPATCH_ENABLED"] == dispatch
        assert len(env["MQTT_PASSWORD"]) >= 24 and len(env["POSTGRES_PASSWORD"]) >= 24
        assert stat.S_IMODE((d / ".env").stat().st_mode) == 0o600
        assert (d / "compose.yaml").is_file() and (d / "mosquitto" / "mosquitto.conf").is_file()
        assert env["MQTT_PASSWORD"] not in out.stdout + out.stderr
    # One room shares its credentials (runbook section 5: keep the .env files aligned).
    p, s = (dotenv_values(stack_root / "infra" / "rooms" / f"room1-{r}" / ".env") for r in ("primary", "standby"))
    assert p["MQTT_PASSWORD"] == s["MQTT_PASSWORD"]


def test_second_room_gets_other_addresses(stack_root: Path):
    run("scripts/new-room-standby.sh room1", stack_root, check=True)
    first = dotenv_values(stack_root / "infra" / "rooms" / "room1-primary" / ".env")["MQTT_LOCAL_PORT"]
    _primary, standby_local = local_ports(1, (int(first), int(first) + 1))
    run("scripts/new-room-standby.sh room2", stack_root, check=True)
    env = dotenv_values(stack_root / "infra" / "rooms" / "room2-standby" / ".env")
    assert (env["MQTT_BIND_ADDR"], env["MQTT_LOCAL_PORT"]) == ("127.0.0.5", standby_local)


def test_new_room_refuses_to_overwrite(stack_root: Path):
    run("scripts/new-room-standby.sh room1", stack_root, check=True)
    env_file = stack_root / "infra" / "rooms" / "room1-standby" / ".env"
    before = env_file.read_bytes()
    again = run("scripts/new-room-standby.sh room1", stack_root)
    assert again.returncode != 0
    assert "refusing to overwrite" in again.stderr
    assert env_file.read_bytes() == before


def test_new_room_usage_errors(stack_root: Path):
    for args, words in (("", "ROOM is required"), ("Room_1", "must be a DNS label"), ("room1 --bogus", "unknown option"),
                        ("room1-standby", "not a stack name")):
        r = run(f"scripts/new-room-standby.sh {args}", stack_root)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "usage:" in r.stderr and "Traceback" not in r.stderr
    assert not (stack_root / "infra" / "rooms").exists() or not any((stack_root / "infra" / "rooms").iterdir())


def test_new_room_refuses_bad_addresses_and_ports_and_two_stacks_on_one(stack_root: Path):
    # Seen: 999.999.999.999, port 0 or 99999999 and two stacks on one address and port were accepted.
    for args, words in (("--primary-addr 999.999.999.999 --standby-addr 10.0.0.3", "'999.999.999.999' is not an IPv4"),
                        ("--primary-addr 10.0.0.2 --standby-addr 10.0.0.2", "need two addresses"),
                        ("--primary-local-port 0", "'0' is not a port"),
                        ("--standby-local-port 99999999", "'99999999' is not a port"),
                        ("--primary-local-port 2000 --standby-local-port 2000", "need two local ports")):
        r = run(f"scripts/new-room-standby.sh room1 {args}", stack_root)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
    run("scripts/new-room-standby.sh room1 --primary-addr 10.0.10.2 --standby-addr 10.0.10.3", stack_root, check=True)
    clash = run("scripts/new-room-standby.sh room2 --primary-addr 10.0.10.3 --standby-addr 10.0.10.4", stack_root)
    assert clash.returncode == 1 and "address 10.0.10.3 is already a broker's" in clash.stderr


def test_on_a_site_rooms_get_their_own_local_ports_and_never_the_labs_addresses(stack_root: Path):
    # Seen on a site: two rooms created with site addresses both got localhost:1883/1884; the
    # checklist's step 1 (run by the tool on a site) created a room on 127.0.0.2/3.
    run("scripts/new-room-standby.sh alpha --primary-addr 10.0.10.20 --standby-addr 10.0.10.21", stack_root, check=True)
    run("scripts/new-room-standby.sh beta --primary-addr 10.0.10.22 --standby-addr 10.0.10.23", stack_root, check=True)
    ports = {stack: dotenv_values(stack_root / "infra" / "rooms" / stack / ".env")["MQTT_LOCAL_PORT"]
             for stack in ("alpha-primary", "alpha-standby", "beta-primary", "beta-standby")}
    assert len(set(ports.values())) == 4, ports
    r = run("scripts/new-room-standby.sh gamma", stack_root, env={"RUNBOOK_SITE": "1"})
    assert r.returncode == 2 and "give --primary-addr and --standby-addr" in r.stderr
    assert not (stack_root / "infra" / "rooms" / "gamma-primary").exists()


def test_passwd_file_is_private_and_password_never_on_a_command_line(stack_root: Path, tmp_path: Path):
    run("scripts/new-room-standby.sh room1", stack_root, check=True)
    env_file = stack_root / "infra" / "rooms" / "room1-primary" / ".env"
    password = dotenv_values(env_file)["MQTT_PASSWORD"]
    # Record how mosquitto_passwd is called: a shim in front of the real one, which it then runs.
    real = run("command -v mosquitto_passwd", stack_root, check=True).stdout.strip()
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    (shim_dir / "mosquitto_passwd").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\nexec {real} "$@"\n'
    )
    (shim_dir / "mosquitto_passwd").chmod(0o755)
    out = run(f"scripts/mosquitto-make-passwd.sh {env_file}", stack_root, env={"PATH": f"{shim_dir}:{BIN}:{os.environ['PATH']}"},
              check=True)
    passwd = stack_root / "infra" / "rooms" / "room1-primary" / "mosquitto" / "passwd"
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o600
    user, _, digest = passwd.read_text().strip().partition(":")
    assert user == "sentient" and digest.startswith("$7$")  # PBKDF2-SHA512, not the password
    assert password not in (tmp_path / "argv").read_text()
    assert password not in out.stdout + out.stderr + passwd.read_text()


def test_make_passwd_errors(stack_root: Path):
    r = run("scripts/mosquitto-make-passwd.sh", stack_root)
    assert r.returncode == 2 and "usage:" in r.stderr
    r = run("scripts/mosquitto-make-passwd.sh /nonexistent/.env", stack_root)
    assert r.returncode == 1 and "no such file" in r.stderr
    run("scripts/new-room-standby.sh room1", stack_root, check=True)
    env_file = stack_root / "infra" / "rooms" / "room1-primary" / ".env"
    env_file.write_text(env_file.read_text().replace("MQTT_PASSWORD=", "MQTT_PASSWORD=\n#", 1))
    r = run(f"scripts/mosquitto-make-passwd.sh {env_file}", stack_root)
    assert r.returncode == 1 and "MQTT_PASSWORD is empty" in r.stderr
    assert not (env_file.parent / "mosquitto" / "passwd").exists()


def test_core_dispatch_usage_errors(stack_root: Path):
    for args, words in (("--room room1", "required"), ("--room room1 --device sim1 --action SET --params '{bad'", "not valid JSON")):
        r = run(f"scripts/core-dispatch.sh {args}", stack_root)
        assert r.returncode == 2, r.stderr
        assert words in r.stderr and "Traceback" not in r.stderr


def test_core_dispatch_unreachable_broker(stack_root: Path):
    # 127.0.0.99 is this machine's own address and nothing listens there.
    r = run("MQTT_HOST=127.0.0.99 MQTT_PORT=1883 scripts/core-dispatch.sh --room room1 --device sim1 --action SET",
            stack_root)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "UNREACHABLE" in r.stderr and "Traceback" not in r.stderr


def test_backup_and_restore_usage_errors(stack_root: Path):
    r = run("scripts/backup-room-db.sh", stack_root)
    assert r.returncode == 2 and "usage:" in r.stderr
    r = run("scripts/backup-room-db.sh nosuchroom", stack_root)
    assert r.returncode == 1 and "no stack 'nosuchroom-primary'" in r.stderr
    r = run("scripts/restore-room-db.sh room1 backup.sql.gz", stack_root)
    assert r.returncode == 2 and "room1-standby" in r.stderr
    run("scripts/new-room-standby.sh room1", stack_root, check=True)
    r = run("scripts/restore-room-db.sh room1-standby /nonexistent.sql.gz", stack_root)
    assert r.returncode == 1 and "no such file" in r.stderr
    (stack_root / "not-gzip.sql.gz").write_text("select 1;")
    r = run("scripts/restore-room-db.sh room1-standby not-gzip.sql.gz", stack_root)
    assert r.returncode == 1 and "not a valid gzip file" in r.stderr


def test_copy_back_usage_errors(stack_root: Path):
    r = run("scripts/copy-back-room-db.sh", stack_root)
    assert r.returncode == 2 and "usage: scripts/copy-back-room-db.sh ROOM [--check]" in r.stderr
    r = run("scripts/copy-back-room-db.sh room1 --bogus", stack_root)
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    r = run("scripts/copy-back-room-db.sh ../room1", stack_root)
    assert r.returncode == 2 and "is not a stack name" in r.stderr
    r = run("scripts/copy-back-room-db.sh nosuchroom --check", stack_root)
    assert r.returncode == 1 and "no stack 'nosuchroom-primary'" in r.stderr


def test_lab_up_without_docker_says_what_is_missing(tmp_path: Path):
    # A PATH with this Python but no docker CLI: the machine the message is for.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    r = run(f"{Path(sys.executable).parent}/runbook-tui lab up", tmp_path, env={"PATH": str(bin_dir)})
    assert r.returncode == 1
    # An error is said on standard error, after the command's name, as every command says one.
    assert "runbook-tui lab: " in r.stderr and "docker CLI is not installed" in r.stderr and "infra/host/setup.sh" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_lab_up_with_daemon_unreachable(tmp_path: Path):
    r = run("runbook-tui lab up", tmp_path, env={"DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"})
    assert r.returncode == 1
    assert "Docker daemon does not answer" in r.stderr and "infra/host/setup.sh" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_lab_down_refuses_a_room_the_lab_did_not_bring_up(stack_root: Path):
    run("scripts/new-room-standby.sh room7", stack_root, check=True)
    r = run("runbook-tui lab down room7", stack_root, env={"RUNBOOK_STACK_ROOT": str(stack_root)})
    assert r.returncode == 1
    assert "runbook-tui lab: not a lab room: room7" in r.stderr and "Traceback" not in r.stdout + r.stderr
    assert (stack_root / "infra" / "rooms" / "room7-primary" / ".env").is_file()


def test_the_scripts_run_on_a_site_checkout_with_the_tool_elsewhere(stack_root: Path, tmp_path: Path):
    # Seen on a site: in an operator's own checkout (no .venv beside its scripts) the scripts said
    # "no Python with runbook-tui's libraries found" although runbook-tui was installed.
    # No tool on the PATH and no virtualenv beside the scripts:
    no_tool = run("env PATH=/usr/bin:/bin scripts/new-room-standby.sh clockwork", stack_root)
    if no_tool.returncode == 0:
        pytest.skip("this machine's /usr/bin/python3 has runbook-tui's libraries")
    assert "RUNBOOK_TUI_PYTHON" in no_tool.stderr and "Traceback" not in no_tool.stderr
    by_env = run(f"env PATH=/usr/bin:/bin RUNBOOK_TUI_PYTHON={sys.executable} scripts/new-room-standby.sh clockwork",
                 stack_root)
    assert by_env.returncode == 0, by_env.stderr
    linked = tmp_path / "bin"
    linked.mkdir()
    (linked / "runbook-tui").symlink_to(BIN / "runbook-tui")  # e.g. /usr/local/bin/runbook-tui -> the tool's venv
    by_path = run(f"env PATH={linked}:/usr/bin:/bin scripts/new-room-standby.sh clockwork2", stack_root)
    assert by_path.returncode == 0, by_path.stderr


def test_backup_and_restore_take_stack_names_never_paths(stack_root: Path, tmp_path: Path):
    # Seen: `../` in the stack name wrote a backup outside the stack root, and usage errors exited 1.
    run("scripts/new-room-standby.sh room1", stack_root, check=True)
    backup = tmp_path / "b.sql.gz"
    backup.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    for cmd in ("scripts/backup-room-db.sh ../../escape", "scripts/backup-room-db.sh '../room1-primary'",
                f"scripts/restore-room-db.sh ../room1-standby {backup}", f"scripts/restore-room-db.sh 'room1/../room1-standby' {backup}"):
        r = run(cmd, stack_root)
        assert r.returncode == 2 and "is not a stack name" in r.stderr, (cmd, r.returncode, r.stderr)
    assert not (stack_root.parent / "backups").exists() and not (stack_root / "backups").exists()


def test_core_dispatch_refuses_bad_ranges_and_wildcards_without_a_traceback(stack_root: Path):
    # Seen: exit 1 with a traceback for --timeout 0/-1/inf, MQTT_PORT=0, --room '#', '#' in a topic.
    base = "scripts/core-dispatch.sh --room room1 --device door1 --action SET"
    for args, env, words in (("--timeout 0", {}, "give seconds from 0.1"), ("--timeout -1", {}, "give seconds from 0.1"),
                             ("--timeout inf", {}, "give seconds from 0.1"), ("--timeout nan", {}, "give seconds from 0.1"),
                             ("", {"MQTT_PORT": "0"}, "MQTT_PORT must be a port number"),
                             ("", {"MQTT_PORT": "18830x"}, "MQTT_PORT must be a port number"),
                             ("", {"CORE_TOPIC_DISPATCH": "core/#"}, "has no wildcard"),
                             ("--device 'a/b'", {}, "one MQTT topic level"), ("--params '{'", {}, "--params is not valid JSON"),
                             ("--params-file /nonexistent.json", {}, "--params-file /nonexistent.json: No such file")):
        r = run(f"{base} {args}", stack_root, env=env)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, env, r.stderr)
    r = run("scripts/core-dispatch.sh --room '#' --device d --action SET", stack_root)
    assert r.returncode == 2 and "is not a room id" in r.stderr


def test_core_dispatch_takes_parameters_longer_than_a_command_line_from_a_file_or_stdin(stack_root: Path, tmp_path: Path):
    big = {"note": "x" * 3_000_000}  # over Linux's 128 KiB single-argument limit
    path = tmp_path / "params.json"
    path.write_text(__import__("json").dumps(big))
    for args in (f"--params-file {path}", f"--params-file - < {path}"):
        # No broker listens on this port: the parameters were read, then the broker is unreachable (5).
        r = run(f"MQTT_PORT=1 scripts/core-dispatch.sh --room room1 --device d --action SET {args} --timeout 1", stack_root)
        assert r.returncode == 5 and "unreachable" in r.stderr.lower(), r.stderr


def test_help_and_usage_errors_start_no_python_and_the_scripts_past_them_find_it(stack_root: Path, tmp_path: Path):
    # Each script looked for its Python (a Python start, ~0.1 s) before reading its arguments,
    # so --help and every usage error paid for it. The Python named here logs each start.
    log = tmp_path / "starts"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/bash\necho "$*" >> {log}\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    env = {"RUNBOOK_TUI_PYTHON": str(python)}
    for line in ("scripts/backup-room-db.sh --help", "scripts/backup-room-db.sh", "scripts/backup-room-db.sh 'a b'",
                 "scripts/restore-room-db.sh room1 x.sql.gz", "scripts/copy-back-room-db.sh --bogus room1",
                 "scripts/mosquitto-make-passwd.sh", "scripts/new-room-standby.sh", "scripts/new-room-standby.sh Bad_Room"):
        r = run(line, stack_root, env=env)
        assert r.returncode in (0, 2), (line, r.stderr)
    assert not log.exists(), log.read_text()
    r = run("scripts/new-room-standby.sh room5", stack_root, env=env)
    assert r.returncode == 0, r.stderr
    assert log.exists()  # past its usage checks, the script found the Python it was given and used it


def test_a_script_finds_its_library_however_it_is_started(stack_root: Path):
    # The scripts find lib/common.sh from their own path with bash alone (no dirname process):
    # by a path, from their own folder with `bash x.sh`, and through the PATH.
    scripts = stack_root / "scripts"
    for line, cwd, env in (("scripts/backup-room-db.sh --help", stack_root, {}),
                           ("bash backup-room-db.sh --help", scripts, {}),
                           ("backup-room-db.sh --help", stack_root.parent, {"PATH": f"{scripts}:{os.environ['PATH']}"})):
        r = run(line, cwd, env=env)
        assert r.returncode == 0 and r.stdout.startswith("usage: scripts/backup-room-db.sh"), (line, r.stderr)
