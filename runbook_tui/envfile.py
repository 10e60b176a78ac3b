"""Reading a stack's .env the way docker compose does (python-dotenv's parser)."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def read_env(path: Path) -> dict[str, str]:
    """KEY -> value for every assignment in the file; a KEY without a value maps to ""."""
    return {key: value or "" for key, value in dotenv_values(path).items()}


def is_true(value: str | None) -> bool:
    """The core's reading of a boolean flag such as CORE_DISPATCH_ENABLED."""
    return (value or "").strip().lower() in TRUE_WORDS
