"""The product's one error family, and the collector of a file's errors.

Every error the tool means to say (as opposed to an internal error, which ends in a masked
crash file) is a `RunbookError`: a message said as it is, and the exit status the command line
ends with. So the command line handles them in one place, as click's exceptions let it, and a
caller catches `RunbookError` instead of a tuple of unrelated classes. Subclasses keep their
old standard base too (ValueError, RuntimeError, OSError) where callers relied on it.

A file an operator or an author writes (a checklist, the settings) is read whole and every
error is said at once, each naming file, line and key: `FileProblem` is one such error and
`Problems` collects them, so that fixing a file takes one round, not one per error.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from runbook_tui.terminal import safe_text

EXIT_FAILED = 1  # the command ran and what it did or found failed
EXIT_USAGE = 2  # what it was given (arguments, settings, a checklist) cannot be used: nothing was done
EXIT_HELD = 75  # EX_TEMPFAIL: another console holds the room; try again once it is closed


class RunbookError(Exception):
    """An error the tool says in words: `message` as printed, and the command's exit status."""

    exit_code: int = EXIT_FAILED
    heading: str = ""  # what the message is about, said before it ("settings", "the checklist is not valid")

    def __init__(self, message: str = "", exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)

    def in_words(self) -> str:
        """The message after its heading: on the heading's line when it is one line, below it
        when it is several (every error of a file, one a line)."""
        if not self.heading:
            return self.message
        return f"{self.heading}:{chr(10) if chr(10) in self.message else ' '}{self.message}"


class UsageError(RunbookError, ValueError):
    """What the command was given cannot be used (arguments, settings, a checklist, a file's
    contents): exit 2, nothing done. A ValueError too: a bad value is what it is."""

    exit_code = EXIT_USAGE


class FileProblem(NamedTuple):
    """One error in a file: where (file and line) and which key or field. A NamedTuple, not a
    dataclass: the scripts' .env reads import this module, and dataclasses costs a third of such
    a Python start (it loads inspect)."""

    file: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        # The file's name and a message quoting a value are both outside text: printed safe.
        return safe_text(f"{self.file}:{self.line}: {self.field}: {self.message}", 4000)


class Problems:
    """The errors of one file as it is read: each reader adds what it finds and goes on; one
    error per key (a value refused for a control character is not refused again as a bad name)."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.items: list[FileProblem] = []
        self._fields: set[str] = set()

    def add(self, line: int, field: str, message: str) -> None:
        if field not in self._fields:
            self._fields.add(field)
            self.items.append(FileProblem(self.file, line, field, message))

    def failed(self, field: str) -> bool:
        """Whether `field` was refused already (a check that builds on it is then left out)."""
        return field in self._fields

    def __bool__(self) -> bool:
        return bool(self.items)

    def in_file_order(self) -> list[FileProblem]:
        return sorted(self.items, key=lambda p: p.line)
