"""What the scripts print of their arguments and .env values passes the one terminal rule.

Seen: restore-room-db.sh echoed the --discard-newer reason raw, copy-back-room-db.sh and
restore-room-db.sh the dispatch ids a database held, and `terminal_safe` (scripts/lib/common.sh)
replaced C1 only as UTF-8: a raw 0x9B byte in an argument (the 8-bit CSI of a terminal not in
UTF-8 mode) reached the terminal through every die and usage line; a .env that is not UTF-8 was
a Python traceback. Every check here is on the output's bytes.

The fuzz runs the scripts themselves, in bash, on a stack root of their own, with the real Python.
One narrow stand-in keeps it to seconds and away from the shared Docker engine: `docker` is a stub
that answers the few queries these scripts make with the case's dispatch ids (what a database
would hold). What Docker and Postgres do is the lab tests' part.
"""

from __future__ import annotations

import os
import random
import re
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runbook_tui.terminal import CONTROL
from tests import depth
from tests.conftest import make_stack_root

SCRIPTS = ("backup-room-db.sh", "restore-room-db.sh", "copy-back-room-db.sh", "mosquitto-make-passwd.sh",
           "new-room-standby.sh")
HOSTILE = [b"\x1b]0;PWNED\x07", b"\x1b[2J", b"\x9b31m", b"\xc2\x9b31m", b"\xe2\x80\xae", b"\xe2\x81\xa6", b"\x07", b"\r",
           b"\x08", b"\x7f", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\t", b"\n", b"$(id)", b"`id`",
           b"'\"", b"*", b"../../x", b"-x", b"--", b"", b" ", "é€😀".encode(), b"x" * 3000]


def unsafe(out: bytes) -> bool:
    """A byte a terminal could act on: anything not UTF-8 (a raw 0x9B), or a control character."""
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return CONTROL.search(text) is not None


def hostile(rnd: random.Random, valid: bytes, keep: float = 0.35) -> bytes:
    """`valid`, or with probability 1 - keep a hostile token instead, around or inside it."""
    if rnd.random() < keep:
        return valid
    pick = rnd.choice(HOSTILE)
    return rnd.choice([pick, valid + pick, pick + valid, valid[:2] + pick + valid[2:]])


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("say")
    root = make_stack_root(base / "stack")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    _write(bin_dir / "docker", """#!/bin/bash
# A stand-in for the queries of these scripts: a running db, no core, the case's dispatch ids.
args="$*"
case "$args" in
  *"ps -q --status running db"*) echo 0123456789ab ;;
  *"ps -q sentient-core"*) ;;
  *"status <> 'rejected'"*) printf '%s\\n' "$FAKE_IDS" ;;
  *"select id from dispatches"*) ;;
  *"exec -T db pg_dump"*) echo "-- dump" ;;
  *"exec -T db psql"*) cat >/dev/null; printf '%s\\n' "$FAKE_IDS" ;;
  *"image inspect"*) exit 1 ;;
  *) exit 1 ;;
esac
""")
    rooms = root / "infra" / "rooms"
    envs = {"room1": b"POSTGRES_DB=sentient\nCORE_DISPATCH_ENABLED=false\nMQTT_USERNAME=sentient\nMQTT_PASSWORD=pw\n",
            "room2": b'POSTGRES_DB="db\x1b]0;PWNED\x07"\nCORE_DISPATCH_ENABLED=true\nMQTT_USERNAME="u\xe2\x80\xae"\n'
                     b'MQTT_PASSWORD=pw\nIMAGE_PREFIX="p\x1b[2J"\n',
            "room3": b"POSTGRES_DB=db\x9b31m\nMQTT_USERNAME=u\nMQTT_PASSWORD=pw\n",  # not UTF-8
            "room4": b'POSTGRES_DB="d\\u009bx\rb"\nCORE_DISPATCH_ENABLED=yes\nMQTT_USERNAME="a:b"\nMQTT_PASSWORD=pw\n'}
    for room, env in envs.items():
        for role in ("primary", "standby"):
            stack = rooms / f"{room}-{role}"
            stack.mkdir(parents=True)
            (stack / ".env").write_bytes(env)
            (stack / "compose.yaml").write_text("services: {}\n")
    subprocess.run(f"echo 'COPY public.dispatches (id) FROM stdin;\nd-1\n\\.' | gzip > {base}/backup.sql.gz", shell=True,
                   check=True)
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNBOOK_TUI_PYTHON": sys.executable,
               "BACKUP_DIR": str(base / "backups"), "STACK_ROOT": str(root)}
    environ.pop("RUNBOOK_PRIMARY_DOCKER_HOST", None)
    environ.pop("RUNBOOK_STANDBY_DOCKER_HOST", None)
    return base, environ


# How often the argument that decides whether a script goes past its usage checks is valid: most
# sets are usage errors (a few ms each), some dozens reach the lines that say what was done
# (a Python start reads each .env they name).
DEEP = 0.05


def _cases(n: int, base: Path) -> list[tuple[str, list[bytes], bytes]]:
    rnd = random.Random(2424)
    cases = []
    for i in range(n):
        script = SCRIPTS[i % len(SCRIPTS)]
        room = rnd.choice([b"room1", b"room2", b"room3", b"room4"])
        stack = room + rnd.choice([b"-primary", b"-standby"])
        backup = str(base / "backup.sql.gz").encode()
        if script == "backup-room-db.sh":
            args = [hostile(rnd, rnd.choice([room, stack]), DEEP)]
        elif script == "restore-room-db.sh":
            args = [hostile(rnd, stack, DEEP), hostile(rnd, backup)]
            if rnd.random() < 0.5:
                args.append(b"--force")
            if rnd.random() < 0.7:
                args += [b"--discard-newer", hostile(rnd, b"the standby's test dispatches")]
        elif script == "copy-back-room-db.sh":
            args = [hostile(rnd, room, DEEP)] + ([b"--check"] if rnd.random() < 0.5 else [])
        elif script == "mosquitto-make-passwd.sh":
            args = [hostile(rnd, str(base / "stack" / "infra" / "rooms").encode() + b"/" + stack + b"/.env", DEEP)]
        else:
            args = [hostile(rnd, b"room" + str(10 + i).encode(), DEEP)]
            for flag, value in ((b"--primary-addr", b"10.9.%d.2" % i), (b"--standby-addr", b"10.9.%d.3" % i),
                                (b"--primary-local-port", b"%d" % (20000 + 2 * i)),
                                (b"--standby-local-port", b"%d" % (20001 + 2 * i))):
                if rnd.random() < 0.8:
                    args += [flag, hostile(rnd, value)]
        if rnd.random() < 0.05:
            args.insert(rnd.randrange(len(args) + 1), rnd.choice(HOSTILE))
        ids = b"\n".join(hostile(rnd, b"d-%d" % j) for j in range(rnd.randrange(0, 4)))
        cases.append((script, args, ids))
    return cases


def _run(case, base: Path, environ: dict[str, str]) -> tuple[int | None, bytes, float]:
    script, args, ids = case
    env = {k.encode(): v.encode() for k, v in environ.items()} | {b"FAKE_IDS": ids}
    started = time.monotonic()
    try:
        r = subprocess.run([str(base / "stack" / "scripts" / script).encode(), *args], env=env, capture_output=True,
                           timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, b"", time.monotonic() - started
    return r.returncode, r.stdout + r.stderr, time.monotonic() - started


def test_fuzz_the_scripts_print_no_raw_control_byte_of_their_arguments_or_env_values(fuzz_root):
    base, environ = fuzz_root
    cases = _cases(n := depth.cases(520), base)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda c: _run(c, base, environ), cases))
    counts = {"hangs": sum(rc is None or took > 20 for rc, _, took in results),
              "exit 70": sum(rc == 70 for rc, _, _ in results),
              "tracebacks": sum(b"Traceback" in out for _, out, _ in results),
              "raw control bytes": sum(unsafe(out) for _, out, _ in results)}
    exits: dict[int | None, int] = {}
    for rc, _, _ in results:
        exits[rc] = exits.get(rc, 0) + 1
    print(f"\nscripts fuzz: {len(results)} argument sets over {len(SCRIPTS)} scripts in "
          f"{time.monotonic() - started:.1f} s; exits {dict(sorted(exits.items(), key=str))}; "
          + ", ".join(f"{v} {k}" for k, v in counts.items()))
    bad = [(cases[i], rc, out[-400:]) for i, (rc, out, took) in enumerate(results)
           if rc is None or rc == 70 or b"Traceback" in out or unsafe(out)]
    assert len(results) == n and not bad and not any(counts.values()), (counts, bad[:3])
    assert {0, 1, 2} <= set(exits)  # past the usage checks too, to the lines that say what was done


@pytest.mark.parametrize("script, args, ids, words", [
    # The reason and the ids a database held, in the lines that say what was done.
    ("restore-room-db.sh", [b"room1-standby", b"BACKUP", b"--discard-newer", b"tested \x1b]0;PWNED\x07 \x9b31m"],
     b"d-2\x1b[2J", b"discarding 1 dispatch(es) only room1-standby held"),
    ("copy-back-room-db.sh", [b"room1", b"--check"], b"d-2\xe2\x80\xae\x9b", b"room1-standby holds 1 dispatch record(s)"),
    ("copy-back-room-db.sh", [b"room1"], b"d-3\x1b]0;X\x07", b"copied 1 dispatch record(s)"),
    ("restore-room-db.sh", [b"room2-standby", b"BACKUP", b"--force"], b"", b"restored "),
    # A raw 0x9B byte in an argument, through a usage line.
    ("backup-room-db.sh", [b"room1\x9b31m"], b"", b"is not a stack name"),
    ("new-room-standby.sh", [b"room\x9b2J"], b"", b"must be a DNS label"),
    # A .env that is not UTF-8: said in a line, not a traceback.
    ("backup-room-db.sh", [b"room3"], b"", b"byte 0x9b is not UTF-8 text"),
    # ... and stops the copy, which went on with the default user (psql_in runs under ||).
    ("copy-back-room-db.sh", [b"room3"], b"d-1", b"byte 0x9b is not UTF-8 text"),
])
def test_each_line_that_quotes_input_is_terminal_safe(fuzz_root, script, args, ids, words):
    base, environ = fuzz_root
    args = [str(base / "backup.sql.gz").encode() if a == b"BACKUP" else a for a in args]
    rc, out, _ = _run((script, args, ids), base, environ)
    assert words in out, out
    assert not unsafe(out) and b"Traceback" not in out, out
    assert re.search(rb"\xef\xbf\xbd", out) or rc == 1 and b"holds" not in out, out


def test_a_script_reads_each_env_file_it_names_once(fuzz_root, tmp_path: Path):
    # Seen: copy-back-room-db.sh started Python sixteen times, one per value or key list it read,
    # nearly a second of CPU before its first query; restore-room-db.sh seven times.
    base, environ = fuzz_root
    log = tmp_path / "starts"
    _write(tmp_path / "python", f"#!/bin/bash\necho \"$1\" >> {log}\nexec {sys.executable} \"$@\"\n")
    environ = environ | {"RUNBOOK_TUI_PYTHON": str(tmp_path / "python")}
    for script, args, reads in (("copy-back-room-db.sh", [b"room1"], 2), ("copy-back-room-db.sh", [b"room1", b"--check"], 2),
                                ("restore-room-db.sh", [b"room1-standby", b"BACKUP", b"--discard-newer", b"drill"], 1),
                                ("backup-room-db.sh", [b"room1"], 1),
                                ("mosquitto-make-passwd.sh", [str(base / "stack/infra/rooms/room1-primary/.env").encode()], 1),
                                # The template's .env, then its check of the addresses (a Python of its own).
                                ("new-room-standby.sh", [b"once"], 2)):
        log.unlink(missing_ok=True)
        args = [str(base / "backup.sql.gz").encode() if a == b"BACKUP" else a for a in args]
        rc, out, _ = _run((script, args, b"d-9"), base, environ)
        starts = log.read_text().splitlines()
        # One per .env: the first read also finds the interpreter (common.sh's library check).
        assert rc == 0 and len(starts) == reads, (script, rc, out[-300:], starts)


def test_the_first_read_passes_over_a_python_without_the_libraries_and_says_when_none_has_them(fuzz_root, tmp_path: Path):
    # The first .env read finds the project's Python too: a candidate without runbook-tui's
    # libraries leaves the read to the next one, having said nothing; none at all is one line.
    base, environ = fuzz_root
    log = tmp_path / "bare-starts"
    _write(tmp_path / "bare", f"#!/bin/bash\necho started >> {log}\nexec {sys.executable} -S \"$@\"\n")  # no site-packages
    tool = tmp_path / "tool"
    tool.mkdir()
    (tool / "runbook-tui").symlink_to(Path(sys.executable).parent / "runbook-tui")  # the next candidate: the tool's python
    rc, out, _ = _run(("backup-room-db.sh", [b"room1"], b""), base,
                      environ | {"RUNBOOK_TUI_PYTHON": str(tmp_path / "bare"), "PATH": f"{tool}:{environ['PATH']}"})
    assert rc == 0 and b"backed up room1-primary" in out, out
    assert log.read_text().splitlines() == ["started"]
    # Nothing else to try: no tool on the PATH, no virtualenv beside the scripts, a bare python3.
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "python3").symlink_to(tmp_path / "bare")
    (lone / "docker").symlink_to(base / "bin" / "docker")
    rc, out, _ = _run(("backup-room-db.sh", [b"room1"], b""), base,
                      environ | {"RUNBOOK_TUI_PYTHON": "", "PATH": f"{lone}:/usr/bin:/bin"})
    assert rc == 1 and b"no Python with runbook-tui's libraries found" in out and b"Traceback" not in out, out
    assert b"backed up" not in out, out

