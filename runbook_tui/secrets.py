"""Which settings are secrets, and masking their values in everything the engine emits (output,
journal, reports)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from runbook_tui.envfile import read_env

# The .env keys whose values are secrets.
SECRET_KEY = re.compile(r"(PASSWORD|SECRET|TOKEN|PASSPHRASE)", re.I)
MASK = "••••••"


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole. Very short values
        # would mask ordinary text; secrets here are generated and long.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    @classmethod
    def from_env_files(cls, files: Iterable[Path]) -> Masker:
        found = []
        for path in files:
            if path.is_file():
                try:
                    found += [v for k, v in read_env(path).items() if SECRET_KEY.search(k) and v]
                except OSError:
                    continue
        return cls(found)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
