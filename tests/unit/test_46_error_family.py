"""One error family: every error the product says derives from RunbookError (a message and an
exit code), and the command line says them in one place, after the command's name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import runbook_tui
from runbook_tui import cli
from runbook_tui.errors import EXIT_FAILED, EXIT_HELD, EXIT_USAGE, RunbookError, UsageError
from tests.conftest import REPO

GOOD = """\
stack_root = "{root}"
lab = false

[dns]
resolvers = ["10.0.10.1"]
"""


def product_exceptions() -> list[type[BaseException]]:
    found = []
    for module in pkgutil.walk_packages(runbook_tui.__path__, "runbook_tui."):
        if module.name.endswith("__main__"):
            continue
        loaded = importlib.import_module(module.name)
        found += [obj for obj in vars(loaded).values()
                  if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.name]
    return found


def test_every_exception_of_the_product_is_a_runbook_error():
    found = product_exceptions()
    names = {cls.__name__ for cls in found}
    # The ones callers used to catch as tuples of unrelated classes are all here.
    assert {"ChecklistInvalid", "VariableError", "SettingsError", "RoomHeld", "EngineRefusal", "LabError",
            "EnvEditError", "JournalBusy", "FileRefused", "CommandError"} <= names, names
    assert [cls.__qualname__ for cls in found if not issubclass(cls, RunbookError)] == []


def test_each_error_carries_the_exit_code_the_readme_documents():
    from runbook_tui.checklist.loader import ChecklistError, ChecklistInvalid
    from runbook_tui.engine.room_hold import RoomHeld
    from runbook_tui.lab.errors import LabError
    from runbook_tui.settings import SettingsError

    invalid = ChecklistInvalid([ChecklistError(Path("c.yaml"), 3, "steps", "expected a list")])
    assert (SettingsError("x").exit_code, invalid.exit_code) == (EXIT_USAGE, EXIT_USAGE) == (2, 2)
    assert RoomHeld("room1", None, Path("/x/room1.console.lock")).exit_code == EXIT_HELD == 75
    assert LabError("compose failed").exit_code == EXIT_FAILED == 1
    # Callers that caught the standard bases still do: a usage error is a ValueError, a lab error
    # a RuntimeError, a refused file an OSError.
    from runbook_tui.files import FileRefused

    assert isinstance(UsageError("x"), ValueError) and isinstance(LabError("x"), RuntimeError)
    assert isinstance(FileRefused("too big", "/f"), OSError) and str(FileRefused("too big", "/f")) == "/f: too big"
    # Said with its heading: on one line when it is one, below it when it is several.
    assert invalid.in_words() == "the checklist is not valid: c.yaml:3: steps: expected a list"
    assert SettingsError("a\nb").in_words() == "settings:\na\nb"


def settings_file(tmp_path: Path, text: str) -> Path:
    (tmp_path / "site" / "infra").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "runbook-tui.toml"
    path.write_text(text.replace("{root}", str(tmp_path / "site")))
    return path


@pytest.mark.parametrize("command", [[], ["readiness"], ["floor", "room1"], ["plan", "checklists/promotion.yaml", "--room", "x"],
                                     ["lab", "status"], ["drill", "room1", "--scenario", "flapping-primary"]])
def test_a_broken_settings_file_is_said_the_same_way_by_every_command(tmp_path, monkeypatch, capsys, command):
    # Seen: four copies of the same settings-error block, each with its own words.
    monkeypatch.chdir(REPO)
    path = settings_file(tmp_path, GOOD.replace("lab = false", 'lab = "no"').replace('"10.0.10.1"', '"999.1.1.1"'))
    assert cli.main(["--settings", str(path), *command]) == 2
    err = capsys.readouterr().err
    prog = " ".join(["runbook-tui", *command[:1]])
    assert err.startswith(f"{prog}: settings:\n{path}:2: lab: expected true or false\n{path}:5: dns.resolvers: "), err
    assert "Traceback" not in err and "internal error" not in err


def test_a_command_error_and_a_lab_error_are_said_after_the_command_with_their_exit_codes(tmp_path, monkeypatch, capsys):
    from runbook_tui.lab.errors import LabError
    from runbook_tui.lab.lab import Lab

    site = settings_file(tmp_path, GOOD)
    assert cli.main(["--settings", str(site), "lab", "status"]) == EXIT_USAGE
    assert "runbook-tui lab: the settings " in capsys.readouterr().err  # a site's file: the lab refuses it

    def broken(_self):
        raise LabError("'docker compose ps' failed (1)")

    monkeypatch.setattr(Lab, "status", broken)
    monkeypatch.setenv("RUNBOOK_TUI_SETTINGS", "")
    assert cli.main(["lab", "status"]) == EXIT_FAILED
    out = capsys.readouterr()
    assert out.err.endswith("runbook-tui lab: 'docker compose ps' failed (1)\n") and "failed" not in out.out
    assert cli.main(["floor", "room1", "--listen", "nowhere"]) == EXIT_USAGE
    assert "runbook-tui floor: --listen: resolver 'nowhere'" in capsys.readouterr().err


def test_no_command_catches_the_settings_error_itself():
    # One place says it (cli.said); a copy in a command would drift from it.
    copies = [p.name for p in (REPO / "runbook_tui" / "cli").glob("*.py") if "except SettingsError" in p.read_text()]
    assert copies == []
