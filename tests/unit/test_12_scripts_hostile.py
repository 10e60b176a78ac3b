"""The scripts on hostile input: every argument and .env value is checked before use (exit 2 with
the reason), never an internal error (70), never a hang; addresses and ports are read as numbers
and written and compared in one form. Each case here failed before."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tests.conftest import BIN, REPO, run

DISPATCH_EXITS = {0, 2, 3, 4, 5, 6}


def _env_of(stack_root: Path, stack: str) -> dict:
    return dotenv_values(stack_root / "infra" / "rooms" / stack / ".env")


@pytest.mark.parametrize("devices", ["rooms/{nope}/devices/{device}", "rooms/{0}/devices/{device}", "rooms/{room!r}/{device}",
                                     "rooms/{room:>9}/{device}", "rooms/{room.x}/{device}", "rooms/{room}/{", "x/}"])
def test_core_dispatch_refuses_a_bad_placeholder_in_the_devices_topic(stack_root: Path, devices: str):
    # Seen: {nope} and {0} ended in an internal error (exit 70).
    r = run("MQTT_PORT=1 scripts/core-dispatch.sh --room room1 --device d --action SET --timeout 1", stack_root,
            env={"CORE_TOPIC_DEVICES": devices}, timeout=30)
    assert r.returncode == 2 and "CORE_TOPIC_DEVICES" in r.stderr and "Traceback" not in r.stderr, (r.returncode, r.stderr)


@pytest.mark.parametrize("env, args, words", [
    ({"MQTT_HOST": "not a host"}, "", "not an IP address or host name"),
    ({"MQTT_HOST": "-rf"}, "", "not an IP address or host name"),
    ({"MQTT_HOST": "127.0.0.1", "MQTT_USERNAME": "u" * 70000}, "", "MQTT_USERNAME"),
    ({"MQTT_HOST": "127.0.0.1"}, "--id 'a b/c'", "--id"),
])
def test_core_dispatch_says_a_bad_broker_or_id_is_a_usage_error(stack_root: Path, env: dict, args: str, words: str):
    # Seen: these were taken to the broker and came back as "unreachable" (5) or an internal error (70).
    r = run(f"MQTT_PORT=1 scripts/core-dispatch.sh --room room1 --device d --action SET --timeout 1 {args}", stack_root,
            env=env, timeout=30)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (r.returncode, r.stderr[-300:])


def test_a_resolver_that_does_not_answer_does_not_hang_the_dispatch(monkeypatch):
    from runbook_tui.cli import dispatch

    def silent_resolver(*_args, **_kwargs):
        time.sleep(3)
        raise OSError("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", silent_resolver)
    started = time.monotonic()
    assert dispatch.resolve("mqtt.room1.example", 0.3) is None
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("addr, words", [
    ("010.000.000.001", "no leading zeros"), ("0.0.0.0", "listens on every address"),
    ("255.255.255.255", "broadcast"), ("224.0.0.1", "multicast"), ("1.2.3", "not an IPv4 address"),
])
def test_new_room_refuses_addresses_a_broker_cannot_bind_or_that_read_two_ways(stack_root: Path, addr: str, words: str):
    # Seen: 010.000.000.001, 0.0.0.0 and 255.255.255.255 were written to the .env as given.
    r = run(f"scripts/new-room-standby.sh room1 --primary-addr {addr} --standby-addr 10.0.10.3", stack_root)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert not (stack_root / "infra" / "rooms" / "room1-primary").exists()


def test_new_room_writes_ports_as_numbers_and_compares_them_as_numbers(stack_root: Path):
    # Seen: ports 08 and 00080 were written verbatim; the duplicate check compared the text.
    run("scripts/new-room-standby.sh room1 --primary-addr 10.0.10.2 --standby-addr 10.0.10.3 "
        "--primary-local-port 08 --standby-local-port 00080", stack_root, check=True)
    assert (_env_of(stack_root, "room1-primary")["MQTT_LOCAL_PORT"], _env_of(stack_root, "room1-standby")["MQTT_LOCAL_PORT"]) == ("8", "80")
    clash = run("scripts/new-room-standby.sh room2 --primary-addr 10.0.10.4 --standby-addr 10.0.10.5 "
                "--primary-local-port 0080 --standby-local-port 9001", stack_root)
    assert clash.returncode == 1 and "local port 80 is already a stack's" in clash.stderr, clash.stderr
    env = stack_root / "infra" / "rooms" / "room1-standby" / ".env"
    env.write_text(env.read_text().replace("MQTT_BIND_ADDR=10.0.10.3", "MQTT_BIND_ADDR=10.0.10.3 "))
    clash = run("scripts/new-room-standby.sh room2 --primary-addr 10.0.10.3 --standby-addr 10.0.10.6", stack_root)
    assert clash.returncode == 1 and "address 10.0.10.3 is already a broker's" in clash.stderr, clash.stderr


def test_new_room_skips_local_ports_in_use_on_the_host(stack_root: Path):
    # Seen: the ports were picked against the stack root's .env files only; a broker of another
    # checkout on this host already listened on the first free pair. Stacks taking 1883 to 1942
    # move the pick past the ports other tests expect (they may run at the same time).
    rooms = stack_root / "infra" / "rooms"
    for i in range(60):
        (rooms / f"old{i}-primary").mkdir(parents=True)
        (rooms / f"old{i}-primary" / ".env").write_text(f"MQTT_LOCAL_PORT={1883 + i}\n")
    held = None
    for port in range(1943, 2100, 2):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
            held = s
            break
        except OSError:
            s.close()
    assert held is not None, "no port free from 1943 to 2100"
    try:
        taken = held.getsockname()[1]
        run("scripts/new-room-standby.sh room1 --primary-addr 10.0.10.2 --standby-addr 10.0.10.3", stack_root, check=True)
        ports = {int(_env_of(stack_root, f"room1-{r}")["MQTT_LOCAL_PORT"]) for r in ("primary", "standby")}
        assert taken not in ports and min(ports) >= 1943, (taken, ports)
    finally:
        held.close()


# ---- fuzz: script argument sets ------------------------------------------------------------
HOSTILE = ["", " ", "-", "--", "--help", "room1", "Room1", "a" * 200, "x/y", "+", "#", "{room}", "{0}", "{nope}", "%s%n",
           "$(id)", "`id`", "'", '"', "\\", "a\tb", "a\nb", "\x1b]0;X\x07", "\x1b[2J", "\u009b31m", "\u202e", "é", "💥",
           "../../etc/passwd", "/dev/zero", "1e309", "nan", "-1", "0", "0.05", "3601", "99999", "08", "00080", "0x50",
           "SET", "door1", "sim1", "{}", "[]", "null", '{"a":', "[" * 100000]
ENV_HOSTILE = {"MQTT_HOST": ["", "127.0.0.1", "not a host", "256.1.1.1", "::1", "-x", "a" * 300, "localhost."],
               "MQTT_PORT": ["", "1", "0", "65536", "08", " 1 ", "x", "-1", "99999999999999999999"],
               "MQTT_USERNAME": ["", "u", "\x1b[2J", "u" * 70000],
               "CORE_TOPIC_DEVICES": ["", "{nope}", "{0}", "rooms/{room}/devices/{device}", "#", "a+b", "{", "}", "{room!s}"],
               "CORE_TOPIC_DISPATCH": ["", "x/#", "ok/topic"]}


VALID = {"--room": "room1", "--device": "sim1", "--action": "SET", "--params": '{"open": true}', "--id": "fuzz-1",
         "--timeout": "0.3"}


def _argument_sets(n: int) -> list[tuple[list[str], dict[str, str]]]:
    rnd = random.Random(24)
    sets = []
    for _ in range(n):
        args: list[str] = []
        for flag, valid in VALID.items():
            if rnd.random() < 0.85:
                hostile = rnd.choice(["0.3", "0.5", *HOSTILE[:40]] if flag == "--timeout" else HOSTILE)  # never a long wait
                args += [flag, valid if rnd.random() < 0.7 else hostile]
        if rnd.random() < 0.05:
            args.append(rnd.choice(HOSTILE))
        if "--timeout" not in args:
            args += ["--timeout", "0.3"]
        env = {k: rnd.choice(v) for k, v in ENV_HOSTILE.items() if rnd.random() < 0.3}
        env.setdefault("MQTT_PORT", "1")  # a closed port: a valid set is refused at once (5), never waits long
        env["MQTT_HOST"] = env.get("MQTT_HOST") or "127.0.0.1"
        sets.append((args, env))
    return sets


def _run_in_process(case: tuple[list[str], dict[str, str]]) -> tuple[int | None, bytes, float]:
    """The script's Python side, as the script runs it (its output through the same guard)."""
    import io
    import sys

    from runbook_tui.cli import dispatch

    args, env = case
    saved_env, saved_streams = dict(os.environ), (sys.stdout, sys.stderr)
    out = io.StringIO()
    os.environ.update({k: v.replace("\0", "") for k, v in env.items()})
    os.environ.pop("MQTT_PASSWORD", None)
    sys.stdout = sys.stderr = out
    started = time.monotonic()
    try:
        try:
            rc = dispatch.main(args)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdout, sys.stderr = saved_streams
        os.environ.clear()
        os.environ.update(saved_env)
    return rc, out.getvalue().encode("utf-8", "surrogateescape"), time.monotonic() - started


def _run_script(case: tuple[list[str], dict[str, str]]) -> tuple[int | None, bytes, float]:
    args, env = case
    full = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **{k: v.replace("\0", "") for k, v in env.items()}}
    full.pop("MQTT_PASSWORD", None)
    started = time.monotonic()
    try:
        r = subprocess.run([str(REPO / "scripts" / "core-dispatch.sh"), *args], env=full, capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, b"", time.monotonic() - started
    return r.returncode, r.stdout + r.stderr, time.monotonic() - started


def _count(results) -> dict[str, int]:
    return {"hangs": sum(rc is None or took > 10 for rc, _, took in results),
            "exit 70": sum(rc == 70 for rc, _, _ in results),
            "tracebacks": sum(b"Traceback" in out for _, out, _ in results),
            "unknown exits": sum(rc is not None and rc not in DISPATCH_EXITS for rc, _, _ in results),
            # Raw control characters in what it printed: ESC, C1 (as UTF-8), BEL, CR, BS.
            "raw control characters": sum(any(b in out for b in (b"\x1b", b"\xc2\x9b", b"\x07", b"\r", b"\x08"))
                                          for _, out, _ in results)}


def test_fuzz_core_dispatch_arguments_and_environment():
    # The script's Python side in this process (a usage error takes a millisecond, not the 60 ms
    # of a new process), then a sample through the script itself, the shell wrapper included.
    sets = _argument_sets(532)
    started = time.monotonic()
    results = [_run_in_process(case) for case in sets[:520]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results += list(pool.map(_run_script, sets[520:]))
    counts = _count(results)
    exits: dict[int | None, int] = {}
    for rc, _, _ in results:
        exits[rc] = exits.get(rc, 0) + 1
    print(f"\ncore-dispatch.sh fuzz: {len(results)} argument sets (12 through the script) in "
          f"{time.monotonic() - started:.1f} s; exits {dict(sorted(exits.items(), key=str))}; "
          + ", ".join(f"{v} {k}" for k, v in counts.items()))
    bad = [(sets[i], rc, out[-300:]) for i, (rc, out, took) in enumerate(results)
           if rc is None or took > 10 or rc not in DISPATCH_EXITS or b"Traceback" in out]
    assert len(results) >= 500 and not bad and not any(counts.values()), (counts, bad[:3])
    assert len(exits) >= 2  # the sets reach past the usage checks too
