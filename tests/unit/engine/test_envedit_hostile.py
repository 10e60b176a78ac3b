"""The .env editor on hostile files: each case was seen to go wrong before the editor cut the
file into python-dotenv's own bindings and proved the result before writing (issue: hostile
input). Plus a generated-file fuzz of the edit invariant, with its count printed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from pathlib import Path

import pytest
from dotenv import dotenv_values

from runbook_tui.engine.envedit import BACKUPS_KEPT, EnvEditError, EnvSnapshot, apply_edit
from runbook_tui.envfile import parse_env, read_env
from tests.depth import cases


def edit(path: Path, changes: dict[str, str]):
    return apply_edit(EnvSnapshot.read(path), changes)


def test_a_multi_line_value_holding_key_like_text_is_never_edited_as_a_key(tmp_path: Path):
    # Seen: editing K changed the line "K=y" inside NOTE's quoted value, and reported ok.
    path = tmp_path / ".env"
    path.write_text('NOTE="x\nK=y"\nK=1\n')
    edit(path, {"K": "2"})
    assert read_env(path) == {"NOTE": "x\nK=y", "K": "2"}
    path.write_text('NOTE="x\nK=y"\n')
    edit(path, {"K": "3"})  # no K binding of its own: appended, the note untouched
    assert read_env(path) == {"NOTE": "x\nK=y", "K": "3"}


def test_an_edit_that_cannot_be_proved_is_refused_before_anything_is_written(tmp_path: Path):
    # Seen: some failures raised after the file was already replaced.
    path = tmp_path / ".env"
    path.write_text("A=1\nB=${A}\n")  # B follows A: changing A would change B too
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(EnvEditError, match="refused before writing: it would also change B"):
        edit(path, {"A": "2"})
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob(".env.bak-*")) and not list(tmp_path.glob(".env.edit-*"))


def test_cr_only_line_endings_keep_every_line(tmp_path: Path):
    # Seen: CR-only line endings merged lines.
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\rB=2\rC=3\r")
    edit(path, {"B": "two", "D": "4"})
    assert path.read_bytes() == b"A=1\rB=two\rC=3\rD=4\r"
    assert read_env(path) == {"A": "1", "B": "two", "C": "3", "D": "4"}


def test_a_byte_order_mark_stays_and_the_first_key_is_edited_not_appended(tmp_path: Path):
    # Seen: with a UTF-8 BOM the key on line 1 was appended again instead of edited.
    path = tmp_path / ".env"
    path.write_bytes(b"\xef\xbb\xbfCORE_DISPATCH_ENABLED=false\nX=1\n")
    edit(path, {"CORE_DISPATCH_ENABLED": "true"})
    assert path.read_bytes() == b"\xef\xbb\xbfCORE_DISPATCH_ENABLED=true\nX=1\n"
    assert read_env(path) == {"CORE_DISPATCH_ENABLED": "true", "X": "1"}


def test_two_edits_in_one_second_keep_two_backups_and_old_ones_are_pruned(tmp_path: Path):
    # Seen: two edits in one second overwrote the first backup.
    path = tmp_path / ".env"
    path.write_text("N=0\n")
    backups = [edit(path, {"N": str(i)}).backup for i in range(1, 3)]
    assert backups[0] != backups[1] and backups[0].read_text() == "N=0\n" and backups[1].read_text() == "N=1\n"
    for i in range(3, BACKUPS_KEPT + 6):
        edit(path, {"N": str(i)})
    assert len(list(tmp_path.glob(".env.bak-*"))) == BACKUPS_KEPT


def test_a_killed_editors_temporary_copy_is_removed_by_the_next_edit_and_no_lock_file_is_left(tmp_path: Path):
    # Seen: a killed edit left full temporary copies (with secrets) behind; a lock file stayed.
    path = tmp_path / ".env"
    path.write_text("MQTT_PASSWORD=s3cret\n")
    dead = 2 ** 22 + 7  # above pid_max's default: no such process
    leftover = tmp_path / f"..env.edit-{dead}-0a0b"
    leftover.write_text("MQTT_PASSWORD=s3cret\n")
    mine = tmp_path / f"..env.edit-{os.getpid()}-ffff"  # a live editor's file is left alone
    mine.write_text("x")
    edit(path, {"X": "1"})
    assert not leftover.exists() and mine.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("..env") and p != mine] == []


def test_non_utf8_bytes_are_named_not_a_traceback(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(EnvEditError, match=r"line 2: byte 0xe9 is not UTF-8"):
        edit(path, {"A": "2"})


def test_reading_agrees_with_python_dotenv_and_the_edit_runs_off_the_event_loop(tmp_path: Path):
    sample = "".join(f"KEY_{i}=value{i} # c\n" for i in range(500)) + 'M="a\nb"\nR=${KEY_3}\nexport E=\'x y\'\nU=${NOPE:-d}\n'
    assert parse_env(sample) == dict(dotenv_values(stream=__import__("io").StringIO(sample)))  # python-dotenv's reading
    text = "".join(f"KEY_{i}=value{i} # c\n" for i in range(4000)) + 'M="a\nb"\nR=${KEY_3}\n'  # a few hundred ms of work
    path = tmp_path / ".env"
    path.write_text(text)
    from runbook_tui.checklist.model import Step, StepType
    from runbook_tui.engine.executors import EnvEditExecutor
    from runbook_tui.engine.run import RunEngine

    async def main() -> int:
        ticks = 0
        engine = RunEngine.__new__(RunEngine)  # only what an .env edit reads
        engine.config = type("C", (), {"stack_root": tmp_path})()
        engine.values, engine.emit = {}, lambda _event: None
        engine.journal = type("J", (), {"write": staticmethod(lambda record: record)})()
        step = Step.__new__(Step)
        object.__setattr__(step, "id", "e")
        for name, value in (("type", StepType.ENV_EDIT), ("file", ".env"), ("require", ()), ("set_values", (("KEY_9", "nine"),))):
            object.__setattr__(step, name, value)
        task = asyncio.create_task(EnvEditExecutor(engine).edit(step))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.005)
        ok, reason, _lines = task.result()
        assert ok, reason
        return ticks

    assert asyncio.run(main()) > 1  # the loop kept running while the file was read, proved and written
    assert read_env(path)["KEY_9"] == "nine" and read_env(path)["R"] == "value3"


# ---- fuzz: generated files, the edit invariant ---------------------------------------------

PIECES = ["A=1", "export B='two words'", 'C="multi\nline K=1"', "D=", "E", "# K=comment", "F=x # inline", "G=${A}-g",
          'H="esc \\" quote"', "K=k", "  K = spaced", "I='unterminated", "J=$HOME", "L=é€😀", "=nokey", "M=\t tab"]


def generated(rng: random.Random) -> bytes:
    nl = rng.choice(["\n", "\r\n", "\r"])
    lines = [rng.choice(PIECES) for _ in range(rng.randint(0, 8))]
    text = nl.join(lines) + (nl if rng.random() < 0.8 else "")
    return (b"\xef\xbb\xbf" if rng.random() < 0.1 else b"") + text.encode()


def test_fuzz_generated_files_no_edit_changes_another_key(tmp_path: Path, capsys):
    rng = random.Random(20261202)
    counts = {"files": 0, "edited": 0, "refused": 0}
    for n in range(cases(1000)):
        path = tmp_path / f"f{n}" / ".env"
        path.parent.mkdir()
        raw = generated(rng)
        path.write_bytes(raw)
        key = rng.choice(["A", "B", "C", "D", "E", "K", "NEW", "G", "I"])
        value = rng.choice(["true", "x y", "a#b", "multi\nline", "q'uote", "", "é"])
        before = parse_env(raw.decode("utf-8-sig"))
        counts["files"] += 1
        try:
            edit(path, {key: value})
        except EnvEditError:
            counts["refused"] += 1
            assert path.read_bytes() == raw  # refused: untouched
            continue
        counts["edited"] += 1
        after = parse_env(path.read_bytes().decode("utf-8-sig"))
        assert after[key] == value
        assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
        assert path.read_bytes().startswith(b"\xef\xbb\xbf") == raw.startswith(b"\xef\xbb\xbf")
    with capsys.disabled():
        print(f"\n.env fuzz: {counts['files']} files, {counts['edited']} edited, {counts['refused']} refused, "
              "0 changed another key")
    assert counts["edited"] > counts["files"] // 2


def test_require_values_are_filled_in_by_the_engine_as_the_plan_shows_them(tmp_path: Path):
    # Seen: `require` values were compared unfilled ({{room}} literally) while the plan showed them filled in.
    from runbook_tui.checklist.loader import load_checklist
    from runbook_tui.checklist.plan import step_action
    from runbook_tui.engine.run import RunConfig, RunEngine
    from runbook_tui.observe.observer import Observer
    from tests.conftest import site_without_dns

    checklist_path = tmp_path / "c.yaml"
    checklist_path.write_text("""\
checklist: {id: r, name: R, revision: "1"}
variables:
  room: {description: The room.}
sections:
  - id: s
    title: S
    steps:
      - {id: arm, title: Arm, type: env_edit, file: .env, set: {ARMED: "true"}, require: {ROOM_ID: "{{room}}"}}
""")
    (tmp_path / ".env").write_text("ROOM_ID=vault\nARMED=false\n")
    checklist = load_checklist(checklist_path)
    values = {"room": "vault"}
    assert step_action(checklist.step("arm"), values)[1] == "  keep: ROOM_ID=vault"
    engine = RunEngine.start(checklist, values, Observer(site_without_dns(values, tmp_path)),
                             tmp_path / "run.jsonl", RunConfig(tmp_path))
    status = asyncio.run(engine.run_step("arm", confirmed=True))
    assert status.state.value == "done", status.reason
    assert read_env(tmp_path / ".env")["ARMED"] == "true"
    engine.journal.close()
