"""Paths stay inside their roots: stack directories and .env files inside stack_root (resolved,
symlinks included), a relative journal_dir relative to the settings file, an unwritable one a
settings error naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_tui.settings import SettingsError, load_settings
from tests.conftest import REPO

pytestmark = pytest.mark.unit


def settings_file(tmp_path: Path, extra: str = "", variables: str = "") -> Path:
    root = tmp_path / "site"
    (root / "infra" / "rooms").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "conf" / "runbook.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'stack_root = "{root}"\nroom = "room9"\n{extra}\n[dns]\nresolvers = ["127.0.0.1:5353"]\n'
                    f"[variables]\n{variables}\n")
    return path


@pytest.mark.parametrize("key", ["primary_dir", "standby_dir"])
def test_stack_directories_outside_the_stack_root_are_refused_where_the_settings_say_them(tmp_path: Path, key: str):
    outside = tmp_path / "outside"
    outside.mkdir()
    for value in ("../outside/x", str(outside), "infra/rooms/link"):
        path = settings_file(tmp_path, variables=f'{key} = "{value}"')
        link = tmp_path / "site" / "infra" / "rooms" / "link"
        if not link.is_symlink():
            link.symlink_to(outside)  # a link that leads out counts as out
        with pytest.raises(SettingsError, match=rf"runbook.toml:\d+: variables.{key}: {key} .* is outside the stack root"):
            load_settings(path)
    path = settings_file(tmp_path, variables=f'{key} = "infra/rooms/elsewhere"')  # inside: fine
    assert load_settings(path).variables[key] == "infra/rooms/elsewhere"
    path.write_text(path.read_text() + f'[rooms.room9.variables]\n{key} = "../../x"\n')
    with pytest.raises(SettingsError, match=rf"rooms.room9.variables.{key}: .* outside the stack root"):
        load_settings(path)


def test_a_run_refuses_stack_files_outside_the_stack_root_given_any_way(tmp_path: Path):
    """--var primary_dir=../outside/x: the site of the run, the .env a variable is read from and
    every file a step edits are refused, naming the variable; nothing outside is read or written."""
    from runbook_tui.checklist.loader import load_checklist
    from runbook_tui.checklist.variables import VariableError, resolve_variables
    from runbook_tui.observe.site import site_context

    root = tmp_path / "site"
    (root / "infra").mkdir(parents=True)
    outside = tmp_path / "outside" / "x"
    outside.mkdir(parents=True)
    (outside / ".env").write_text("MQTT_BIND_ADDR=10.9.9.9\n")
    with pytest.raises(ValueError, match=r"standby_dir \.\./outside/x .* is outside the stack root"):
        site_context({"room": "room9", "standby_dir": "../outside/x"}, root, ())
    checklist = load_checklist(REPO / "checklists" / "promotion.yaml")
    with pytest.raises(VariableError, match="standby_dir .* is outside the stack root"):
        resolve_variables(checklist, {"room": "room9", "standby_dir": "../outside/x"}, root)
    from runbook_tui.files import OutsideRoot, inside

    with pytest.raises(OutsideRoot, match="the file /etc/passwd is outside the stack root"):
        inside(root, "/etc/passwd", "the file")
    assert inside(root, "infra/rooms/room9-standby/.env", "the file") == root / "infra/rooms/room9-standby/.env"


def test_a_relative_journal_dir_is_relative_to_the_settings_file_not_the_current_directory(tmp_path: Path,
                                                                                           monkeypatch):
    path = settings_file(tmp_path, extra='journal_dir = "runs"')
    monkeypatch.chdir(tmp_path / "site")  # a resume started from elsewhere finds the same runs
    assert load_settings(path).runs_dir == tmp_path / "conf" / "runs"


def test_an_unwritable_journal_dir_is_a_settings_error_naming_the_key(tmp_path: Path):
    (tmp_path / "a-file").write_text("")
    path = settings_file(tmp_path, extra=f'journal_dir = "{tmp_path / "a-file" / "runs"}"')
    with pytest.raises(SettingsError, match=r"runbook.toml:3: journal_dir: .*a-file is not a directory"):
        load_settings(path)
    r = subprocess.run([sys.executable, "-m", "runbook_tui", "--settings", str(path), "readiness"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "journal_dir" in r.stderr and "internal error" not in r.stderr, r.stderr
    if os.geteuid() != 0:  # root writes anywhere but on a read-only mount
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        path = settings_file(tmp_path, extra=f'journal_dir = "{locked / "runs"}"')
        with pytest.raises(SettingsError, match="journal_dir: .* is not writable by this user"):
            load_settings(path)
