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


# Terminal escape sequences (CSI such as colours, OSC such as titles): a secret printed in
# colour, or with codes between its characters, is still the secret once they are gone.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
SHORT = 4  # secrets shorter than this are masked only as whole words (masking "ab" everywhere would eat text)
B64_STABLE_MIN = 6  # a base64 run of a secret shorter than this could occur by chance


def strip_escapes(text: str) -> str:
    return _ESCAPES.sub("", text)


def _base64_runs(secret: bytes) -> set[str]:
    """The base64 characters that encode `secret` at each of the three byte alignments it can
    have inside a larger encoded text (HTTP Basic's "user:password", a token in a blob): only
    the characters that depend on the secret's bytes alone."""
    import base64

    runs = set()
    for offset in range(3):
        padded = b"\0" * offset + secret
        whole_groups = len(padded) // 3
        first = 1 if offset else 0  # the first group mixes in bytes before the secret
        if whole_groups <= first:
            continue
        encoded = base64.b64encode(padded[: whole_groups * 3]).decode()
        run = encoded[first * 4: whole_groups * 4]
        if len(run) >= B64_STABLE_MIN:
            runs |= {run, run.replace("+", "-").replace("/", "_")}
    return runs


def spellings(secret: str) -> set[str]:
    """Every form a secret takes in output the tool shows or keeps: as it is, URL-encoded,
    base64 (at any alignment, standard and URL-safe), hex, JSON-escaped and shell-quoted."""
    import json
    import shlex
    from urllib.parse import quote, quote_plus

    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret), raw.hex(), raw.hex().upper(),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], shlex.quote(secret)}
    forms |= _base64_runs(raw)
    return {f for f in forms if f}


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s}
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({f for s in values if len(s) >= SHORT for f in spellings(s)}, key=len, reverse=True)
        # Every proper start of a secret (SHORT - 1 characters or more), by length: a line's end is
        # looked up once per length, not compared with every secret (command output is a hot path).
        self._prefixes = {s[:n] for s in self.secrets for n in range(SHORT - 1, len(s))}
        self._prefix_lengths = sorted({len(p) for p in self._prefixes})
        short = sorted((s for s in values if len(s) < SHORT), key=len, reverse=True)
        self._short = re.compile("|".join(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])" for s in short)) if short else None

    @classmethod
    def from_env_files(cls, files: Iterable[Path]) -> Masker:
        found = []
        for path in files:
            if path.is_file():
                try:
                    env = read_env(path)
                except (OSError, ValueError):
                    continue
                found += [v for k, v in env.items() if SECRET_KEY.search(k) and v]
                # HTTP Basic carries "user:password" in base64: that whole string is a secret too.
                found += [f"{env.get('MQTT_USERNAME', '')}:{v}" for k, v in env.items() if SECRET_KEY.search(k) and v]
        return cls(found)

    def mask(self, text: str) -> str:
        if "\x1b" in text:
            text = strip_escapes(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if self._short is not None:
            text = self._short.sub(MASK, text)
        return text

    def prefix_at_end(self, text: str) -> bool:
        """Does text end with the start of a secret (so the next line could complete it)?"""
        return any(text[-n:] in self._prefixes for n in self._prefix_lengths if n <= len(text))


class LineMasker:
    """Masks a stream of output lines, including a secret split across two lines (a wrapped
    line, a secret printed in two parts): a line that ends with the start of a secret is held
    until the next one shows whether it completes it. Holds at most one line."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self._held: str | None = None

    def feed(self, line: str) -> list[str]:
        line = strip_escapes(line) if "\x1b" in line else line
        out = []
        if self._held is not None:
            held, line = self._split_secrets(self._held, line)
            out.append(self.masker.mask(held))
            self._held = None
        if self.masker.prefix_at_end(line):
            self._held = line
        else:
            out.append(self.masker.mask(line))
        return out

    def flush(self) -> list[str]:
        held, self._held = self._held, None
        return [self.masker.mask(held)] if held is not None else []

    def _split_secrets(self, first: str, second: str) -> tuple[str, str]:
        joined = first + second
        for secret in self.masker.secrets:
            start = joined.find(secret, max(0, len(first) - len(secret) + 1))
            if start != -1 and start < len(first) < start + len(secret):
                return first[:start] + MASK, MASK + second[start + len(secret) - len(first):]
        return first, second
