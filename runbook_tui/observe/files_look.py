"""The stacks' files as the rules need them: the directories, compose.yaml, .env and passwd."""

from __future__ import annotations

import time

from runbook_tui.envfile import read_env
from runbook_tui.observe.model import ROLES, FilesView, StackFiles
from runbook_tui.observe.site import SiteContext


def look_files(site: SiteContext) -> FilesView:
    stacks = []
    for role in ROLES:
        directory = site.stack_dir(role)
        shown = directory.relative_to(site.stack_root) if directory.is_relative_to(site.stack_root) else directory
        env_file = directory / ".env"
        env: dict[str, str] = {}
        error = ""
        if env_file.is_file():
            try:
                env = read_env(env_file)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                error = f"{exc.__class__.__name__}: cannot be read"
        passwd = directory / "mosquitto" / "passwd"
        try:
            passwd_present = passwd.is_file() and passwd.stat().st_size > 0
        except OSError:
            passwd_present = False
        stacks.append(StackFiles(role, str(shown), directory.is_dir(), (directory / "compose.yaml").is_file(),
                                 env_file.is_file(), passwd_present, tuple(sorted(env.items())), error))
    return FilesView(tuple(stacks), time.time())
