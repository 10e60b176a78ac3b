"""Reading a stack's .env the way docker compose does (python-dotenv's parser), in linear time.

python-dotenv's dotenv_values resolves ${VAR} references by copying every value read so far
for each line: 16,000 lines took 6 s. The bindings come from its own parser
(dotenv.parser.parse_stream, linear) and are resolved the same way, in the same order
(the file's earlier values first, then the environment), with one lookup chain instead of
a copy per line. A UTF-8 byte-order mark is not part of the first key.
"""

from __future__ import annotations

import codecs
import io
import os
from collections import ChainMap
from pathlib import Path

from runbook_tui.errors import UsageError
from runbook_tui.files import ENV_CAP, read_bounded

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class EnvNotText(UsageError):
    """The file is not UTF-8 text: says where."""


def decode_env(raw: bytes, name: str = ".env") -> str:
    """The file's text, its byte-order mark left out; a clear error for a byte that is not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EnvNotText(f"{name}: line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 text") from None


def parse_env(text: str) -> dict[str, str | None]:
    """KEY -> value (None for a KEY without '='), as python-dotenv reads it with interpolation."""
    # Imported here: python-dotenv's package loads its logging and file helpers, which the TUI's
    # first frame (settings only) does not need.
    from dotenv.parser import parse_stream
    from dotenv.variables import parse_variables

    values: dict[str, str | None] = {}
    # The file's earlier values win, as python-dotenv's override=True.
    lookup: ChainMap[str, str | None] = ChainMap(values, dict(os.environ))
    for binding in parse_stream(io.StringIO(text)):
        if binding.key is None:
            continue
        if binding.value is None:
            values[binding.key] = None
            continue
        values[binding.key] = "".join(atom.resolve(lookup) for atom in parse_variables(binding.value))
    return values


def read_env_bytes(path: Path) -> bytes:
    """The file's bytes: a regular file within ENV_CAP (FileRefused, an OSError, otherwise)."""
    return read_bounded(path, ENV_CAP, ".env file")


def read_env(path: Path) -> dict[str, str]:
    """KEY -> value for every assignment in the file; a KEY without a value maps to ""."""
    raw = read_env_bytes(path)
    return {key: value or "" for key, value in parse_env(decode_env(raw, str(path))).items()}


def has_bom(raw: bytes) -> bool:
    return raw.startswith(codecs.BOM_UTF8)


def is_true(value: str | None) -> bool:
    """The core's reading of a boolean flag such as CORE_DISPATCH_ENABLED."""
    return (value or "").strip().lower() in TRUE_WORDS
