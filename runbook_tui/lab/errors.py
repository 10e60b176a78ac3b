"""The lab's one error: a lab step that failed, said in words (exit 1). Its own module so that
every part of the lab (the engine, the Docker CLI, the DNS server, the base image) raises it
without importing the lab that composes them."""

from __future__ import annotations

from runbook_tui.errors import RunbookError


class LabError(RunbookError, RuntimeError):
    """A lab step failed; the message says which and why."""
