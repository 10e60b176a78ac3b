"""The .env editor: round trips through python-dotenv, surgical edits, atomicity, concurrency."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook_tui.engine.envedit import EnvChangedError, EnvEditError, EnvSnapshot, apply_edit, quote_value, render
from tests.depth import cases


def _ambiguous(v: str) -> bool:
    """Values no .env spelling gives to compose and python-dotenv alike (refused, tested below)."""
    return "${" in v or ("$" in v and any(c in v for c in "'\\\n\r"))


values = st.text(
    alphabet=st.one_of(st.sampled_from(list(" \t#='\"\\$:/@!%&*()[]{}<>;,.-_+?|~`^éü€漢😀")), st.characters(codec="utf-8",
                       exclude_categories=("Cs", "Cc"))),
    max_size=40,
).filter(lambda v: not _ambiguous(v))
keys = st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True)


def dotenv_of(path: Path) -> dict:
    return dict(dotenv_values(path))


@settings(max_examples=cases(300), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values, crlf=st.booleans(), export=st.booleans(), comment=st.booleans(),
       old=st.sampled_from(["false", "'x y'", '"a#b"', "'' "]))
def test_value_round_trips_and_nothing_else_changes(tmp_path: Path, value, crlf, export, comment, old):
    nl = "\r\n" if crlf else "\n"
    prefix = "export " if export else ""
    tail = "  # keep me" if comment else ""
    lines = [f"# header{nl}", f"ROOM_ID=room1{nl}", nl, f"{prefix}CORE_DISPATCH_ENABLED={old}{tail}{nl}", f"LAST='z'{nl}"]
    path = tmp_path / "t.env"
    path.write_bytes("".join(lines).encode())
    path.chmod(0o600)
    before = dotenv_of(path)
    apply_edit(EnvSnapshot.read(path), {"CORE_DISPATCH_ENABLED": value}, backup_dir=tmp_path / "bak")
    after = dotenv_of(path)
    assert after["CORE_DISPATCH_ENABLED"] == value
    assert {k: v for k, v in after.items() if k != "CORE_DISPATCH_ENABLED"} == {
        k: v for k, v in before.items() if k != "CORE_DISPATCH_ENABLED"}
    new_lines = path.read_bytes().decode().splitlines(keepends=True)
    assert len(new_lines) == len(lines)
    for i, (a, b) in enumerate(zip(lines, new_lines, strict=True)):
        if i == 3:
            assert b.startswith(f"{prefix}CORE_DISPATCH_ENABLED=") and b.endswith(f"{tail}{nl}")
        else:
            assert a == b
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.fixture(autouse=True)
def _backup_dir(tmp_path: Path):
    (tmp_path / "bak").mkdir(exist_ok=True)


@settings(max_examples=cases(200), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=keys, value=values)
def test_missing_key_is_appended(tmp_path: Path, key, value):
    path = tmp_path / "m.env"
    path.write_text("A=1\nB=2")  # no final newline
    apply_edit(EnvSnapshot.read(path), {key: value}, backup_dir=tmp_path / "bak")
    after = dotenv_of(path)
    assert after[key] == value
    if key not in ("A", "B"):
        assert after["A"] == "1" and after["B"] == "2"


def test_quoting_refuses_ambiguous_values(tmp_path: Path):
    with pytest.raises(EnvEditError):
        quote_value("${HOME}")
    with pytest.raises(EnvEditError):
        quote_value("it's $5")
    assert quote_value("true") == "true"
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    with pytest.raises(EnvEditError):
        apply_edit(EnvSnapshot.read(path), {"A": "it's $5"})
    assert path.read_text() == "A=1\n" and not list(tmp_path.glob(".env.bak-*"))


def test_last_assignment_is_the_one_changed():
    raw = b"FLAG=false\nFLAG=false # second wins\n"
    assert render(raw, {"FLAG": "true"}) == b"FLAG=false\nFLAG=true # second wins\n"


def test_backup_written_and_mode_kept(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_text("CORE_DISPATCH_ENABLED=false\n")
    path.chmod(0o640)
    edit = apply_edit(EnvSnapshot.read(path), {"CORE_DISPATCH_ENABLED": "true"})
    assert edit.backup.read_text() == "CORE_DISPATCH_ENABLED=false\n"
    assert edit.before == {"CORE_DISPATCH_ENABLED": "false"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_concurrent_change_is_detected_and_nothing_overwritten(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_text("CORE_DISPATCH_ENABLED=false\nCORE_CRITICAL_ARMED=false\n")
    snapshot = EnvSnapshot.read(path)
    path.write_text("CORE_DISPATCH_ENABLED=false\nCORE_CRITICAL_ARMED=true\n")  # someone else's edit
    with pytest.raises(EnvChangedError, match="changed since it was read"):
        apply_edit(snapshot, {"CORE_DISPATCH_ENABLED": "true"})
    assert path.read_text() == "CORE_DISPATCH_ENABLED=false\nCORE_CRITICAL_ARMED=true\n"
    assert not list(tmp_path.glob(".env.bak-*"))


WRITER = """
import sys
from pathlib import Path
from runbook_tui.engine.envedit import EnvSnapshot, apply_edit
path = Path(sys.argv[1])
i = 0
while True:
    i += 1
    apply_edit(EnvSnapshot.read(path), {"BIG": ("v%d-" % i) * 20000, "COUNTER": str(i)}, backup_dir=Path(sys.argv[2]))
    if i == 1:
        print("editing", flush=True)  # the kill comes after this: every attempt lands among the edits
    if i % 3 == 0:
        for b in Path(sys.argv[2]).iterdir():
            b.unlink(missing_ok=True)
"""


def test_kill_mid_write_never_leaves_a_partial_file(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_text("# room\nCORE_DISPATCH_ENABLED=false\nBIG=x\nCOUNTER=0\n")
    backups = tmp_path / "bak"
    for attempt in range(25):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(backups)], stdout=subprocess.PIPE)
        # Killed once its first edit is done, then at a different point of the edits each time. A
        # fixed sleep from the start spent most of its time (and CPU) on the interpreter starting.
        assert proc.stdout is not None and proc.stdout.readline() == b"editing\n"
        time.sleep((attempt % 5) * 0.015)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        values = dotenv_of(path)
        n = int(values["COUNTER"])
        assert n >= 1, n  # the kill fell among the edits, after a whole one
        # Whole old file or whole new file: the big value always matches the counter.
        assert values["BIG"] == ("x" if n == 0 else f"v{n}-" * 20000)
        assert values["CORE_DISPATCH_ENABLED"] == "false"
        assert path.read_text().startswith("# room\n")
