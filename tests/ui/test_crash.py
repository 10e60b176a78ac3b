"""An internal error never shows a traceback or a secret: a short message, a masked file
beside the journal, a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook_tui import cli
from runbook_tui.crash import EXIT_CRASH
from runbook_tui.session import Session
from runbook_tui.settings import Settings
from runbook_tui.ui.app import RunbookApp
from tests.conftest import REPO

PASSWORD = "it's-a-s3cret-9f2c"


def site(tmp_path: Path) -> Settings:
    rooms = tmp_path / "infra" / "rooms"
    for role in ("primary", "standby"):
        (rooms / f"vault-{role}").mkdir(parents=True)
        (rooms / f"vault-{role}" / ".env").write_text(f"ROOM_ID=vault\nMQTT_USERNAME=sentient\nMQTT_PASSWORD=\"{PASSWORD}\"\n")
    return Settings(stack_root=tmp_path, lab=False, journal_dir=tmp_path / "runs", variables={"smoke_device": "door1"})


class Exploding(RunbookApp):
    def action_help(self) -> None:
        secret = PASSWORD  # a local holding the secret: Textual's own crash screen would print it
        raise RuntimeError(f"export failed near MQTT_PASSWORD={secret} and TOKEN: t0ps3cret")


@pytest.mark.asyncio
async def test_an_error_inside_the_app_goes_to_a_masked_file_beside_the_journal(tmp_path: Path):
    app = Exploding(Session(site(tmp_path), "vault", REPO / "checklists" / "promotion.yaml"), live=False, resume=False)
    with pytest.raises(RuntimeError):  # Textual's test driver re-raises what the app met
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause(0.2)
    assert app.crash_file is not None and app.crash_file.parent == tmp_path / "runs"
    text = app.crash_file.read_text()
    assert "RuntimeError: export failed" in text and "Traceback" in text
    assert PASSWORD not in text and "t0ps3cret" not in text and "••••••" in text
    assert oct(app.crash_file.stat().st_mode & 0o777) == "0o600"
    assert app.return_code == 1


def test_an_error_outside_the_app_is_a_line_and_a_file_and_exit_70(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("RUNBOOK_STACK_ROOT", str(tmp_path))
    site(tmp_path)

    def boom(*_a, **_k):
        raise ValueError(f"cannot parse MQTT_PASSWORD={PASSWORD}")  # not a ValueError the TUI expects here

    monkeypatch.setattr("runbook_tui.cli.readiness._readiness", boom)
    monkeypatch.setattr("runbook_tui.cli.readiness.add_readiness_command",
                        lambda sub: sub.add_parser("readiness").set_defaults(handler=boom))
    assert cli.main(["readiness"]) == EXIT_CRASH
    err = capsys.readouterr().err
    assert "Traceback" not in err and PASSWORD not in err and "internal error (ValueError)" in err
    path = Path(err.split("Details, secrets masked: ")[1].splitlines()[0])
    assert PASSWORD not in path.read_text() and "ValueError" in path.read_text()
    path.unlink()


def test_the_crash_message_says_where_and_how_to_resume():
    from runbook_tui.crash import crash_message

    said = crash_message(Path("/x/crash.txt"), KeyError("k"), "resume with runbook-tui --room vault --resume")
    assert said.splitlines() == ["runbook-tui stopped on an internal error (KeyError). Nothing more was done to the room.",
                                 "Details, secrets masked: /x/crash.txt",
                                 "The run's journal is intact: resume with runbook-tui --room vault --resume"]
