"""Every read has a limit: settings, checklists, .env files, params files, journals, passwd
files and room confirmations are regular files within a cap, or refused with what they are and
the cap; a FIFO never hangs, a device or a sparse 2 GB file is never read. Measured: the bytes
each reader reads (os.read) and the peak memory (ru_maxrss) of the command lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit
GB = 1 << 30


# The command is forked by a bare Python of a few MB, which reports its exit and peak memory: a
# process forked straight from the test worker starts its peak (ru_maxrss) at the worker's own
# memory, which the kernel keeps across exec (seen: 276 MB for a command using far less).
MEASURE = """
import os, resource, sys
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def run_measured(argv: list[str], cwd: Path, stdin=None, timeout: float = 60.0) -> tuple[int, str, int]:
    """(exit code, stderr, peak memory in MB) of one command, limited to 1.5 GB of address
    space and `timeout` seconds (a hang is a failure, not a frozen suite)."""
    proc = subprocess.Popen([sys.executable, "-S", "-c", MEASURE, *argv], cwd=cwd, stdin=stdin or subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    out, err = proc.communicate()
    timer.cancel()
    code, maxrss_kb = (int(word) for word in out.split())
    return code, err.decode(errors="replace"), maxrss_kb // 1024


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.truncate(2 * GB)  # no disk used
    (tmp_path / "dir").mkdir()
    return {"device": Path("/dev/zero"), "FIFO": fifo, "directory": tmp_path / "dir", "sparse": sparse}


CLI = [sys.executable, "-m", "runbook_tui"]
DISPATCH = ["scripts/core-dispatch.sh", "--room", "room1", "--device", "d", "--action", "SET", "--timeout", "1"]


def test_command_lines_refuse_devices_fifos_directories_and_huge_files_fast_and_small(hostile: dict[str, Path]):
    cases = []
    for kind, path in hostile.items():
        what = {"device": "a device", "FIFO": "a FIFO", "directory": "a directory", "sparse": "2048 MiB, over its cap"}[kind]
        cases += [
            (CLI + ["--settings", str(path), "readiness"], 2, f"the settings file is {what}"),
            (CLI + ["validate", str(path)], 1, f"the checklist is {what}"),
            (DISPATCH + ["--params-file", str(path)], 2, f"the params file is {what}"),
            (CLI + ["report", str(path)], 1, f"the run journal is {what}"),
        ]
    for argv, code, words in cases:
        rc, err, peak_mb = run_measured(argv, REPO)
        assert rc == code and words in err and "Traceback" not in err, (argv, rc, err[-400:])
        assert peak_mb < 200, (argv, peak_mb)
    with open("/dev/zero", "rb") as zero:  # stdin without end
        rc, err, peak_mb = run_measured(DISPATCH + ["--params-file", "-"], REPO, stdin=zero)
    assert rc == 2 and "the params on stdin are over their cap of 16 MiB" in err, err
    assert peak_mb < 200
    print(f"{len(cases) + 1} command lines refused, peak memory under 200 MB each")


def test_a_sparse_2gb_env_is_refused_by_its_size_without_reading_it(hostile: dict[str, Path]):
    code = ("import sys; from runbook_tui.envfile import read_env\n"
            "try: read_env(sys.argv[1])\nexcept OSError as e: print(e, file=sys.stderr); sys.exit(2)")
    rc, err, peak_mb = run_measured([sys.executable, "-c", code, str(hostile["sparse"])], REPO)
    assert rc == 2 and "the .env file is 2048 MiB, over its cap of 4 MiB: not read" in err, err
    assert peak_mb < 200, peak_mb


def readers(tmp_path: Path):
    """(name, cap, read(path)) for every reader of the product; read returns normally when it
    says the file could not be read its own way (None, [], an error value)."""
    from runbook_tui import files
    from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
    from runbook_tui.cli.dispatch import _main as dispatch
    from runbook_tui.engine import floor, room_hold
    from runbook_tui.engine.envedit import EnvSnapshot
    from runbook_tui.engine.journal import read_journal
    from runbook_tui.envfile import read_env
    from runbook_tui.observe import files_look
    from runbook_tui.observe.passwd import passwd_admits
    from runbook_tui.settings import SettingsError, load_settings

    def expect(fn, *errors):
        def read(path):
            try:
                return fn(path)
            except errors as exc:
                return exc
        return read

    def confirmations(path: Path):
        journal = tmp_path / "run.jsonl"
        inbox = floor.inbox_dir(journal)
        inbox.mkdir(parents=True, exist_ok=True)
        link = inbox / "x.json"
        link.unlink(missing_ok=True)
        link.symlink_to(path)
        return floor.read_confirmations(journal)

    return [
        ("settings", files.SETTINGS_CAP, expect(load_settings, SettingsError)),
        ("checklist", files.CHECKLIST_CAP, expect(load_checklist, ChecklistInvalid)),
        (".env", files.ENV_CAP, expect(read_env, OSError)),
        (".env edit", files.ENV_CAP, expect(EnvSnapshot.read, OSError)),
        ("journal", files.JOURNAL_CAP, expect(read_journal, OSError)),
        ("passwd", files.PASSWD_CAP, lambda p: passwd_admits(p, "u", "p")),
        ("confirmation", files.SMALL_CAP, confirmations),
        ("room lock", files.SMALL_CAP, room_hold._read),
        ("notes", files.NOTES_CAP, files_look._lines),
        ("params", files.PARAMS_CAP, lambda p: dispatch(["--room", "r", "--device", "d", "--action", "A",
                                                         "--params-file", str(p)])),
    ]


def test_every_reader_reads_no_more_than_its_cap_whatever_the_file(tmp_path: Path, monkeypatch, hostile):
    """Sizes around and far past each cap, devices and directories (FIFOs: the command lines
    above, in a child that a hang cannot freeze): no read above the cap, each refusal said."""
    read_now = [0]
    real_read = os.read

    def counted(fd, n):
        data = real_read(fd, n)
        read_now[0] += len(data)
        return data

    monkeypatch.setattr(os, "read", counted)
    cases = above = 0
    for name, cap, read in readers(tmp_path):
        paths = [hostile["device"], hostile["directory"], hostile["sparse"]]
        for n, size in enumerate((cap + 1, cap + 4096, 10 * cap, GB + 7)):
            big = tmp_path / f"{name.replace(' ', '_')}-{n}"
            with open(big, "wb") as f:
                f.write(b"x" * 16)
                f.truncate(size)
            paths.append(big)
        for path in paths:
            read_now[0] = 0
            result = read(path)
            cases += 1
            above += read_now[0] > cap
            assert read_now[0] <= cap, (name, path, read_now[0])
            assert result in (None, [], 2) or "not read" in str(result), (name, path, result)
    print(f"{cases} reads of hostile files by {len(readers(tmp_path))} readers, {above} above the cap")
    assert cases >= 70 and above == 0


def test_read_bounded_refuses_a_file_that_grows_past_its_cap_while_read(tmp_path: Path, monkeypatch):
    from runbook_tui.files import FileRefused, read_bounded

    path = tmp_path / "growing"
    path.write_bytes(b"a" * 110)
    with monkeypatch.context() as m:  # the size as it was when the file was opened: 10 bytes
        m.setattr(os, "fstat", lambda fd: os.stat_result((0o100644, 0, 0, 1, 0, 0, 10, 0, 0, 0)))
        with pytest.raises(FileRefused, match="grew past its cap of 50 bytes"):
            read_bounded(path, 50, "test file")
    assert read_bounded(path, 200, "test file") == b"a" * 110
    assert json.dumps(str(FileRefused("why", "/x"))) == '"/x: why"'
