"""The kinds in a checklist (step types, risks) and its {{placeholders}}: what the TUI's first
frame needs from the checklist without building the model's dataclasses (checklist/model.py,
a dozen milliseconds of start-up)."""

from __future__ import annotations

import re
from enum import StrEnum

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class StepType(StrEnum):
    CONFIRM = "confirm"  # open-loop: the operator's confirmation
    COMMAND = "command"  # a shell command, run from the stack root
    ENV_EDIT = "env_edit"  # set keys in a stack's .env
    WAIT = "wait"  # closed-loop: wait until a sensed condition holds
    DISPATCH_SMOKE = "dispatch_smoke"  # one dispatch followed to ack and complete
    CHOICE = "choice"  # a decision that selects later steps


class Risk(StrEnum):
    NORMAL = "normal"
    DESTRUCTIVE = "destructive"  # stops or removes something: confirmation by typing the room id
    ARMING = "arming"  # can make something move or dispatch: same
    DISARMING = "disarming"  # takes dispatch away from the room's active core (failback): same


def substitute(template: str, values: dict[str, str], shell: bool = False) -> str:
    """Fill {{name}} placeholders; every name must be known (the loader checks this).

    shell: the template is a shell command, so each value is written in the quoting its place
    needs (bare, inside "..." or '...'): a room id or a captured path with a space, a ';' or a
    '$(...)' stays one word of data and never runs as code. A placeholder where no quoting can
    do that raises shell_words.UnsafePlaceholder (the loader refuses such a checklist first).
    """
    if shell:
        from runbook_tui.checklist.shell_words import render  # scanned only for commands, not at start-up

        return render(template, values)
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def procedure_letter(index: int) -> str:
    """The letter of a checklist's procedure by its place among them (A, B, ...; after Z, A again)."""
    return chr(ord("A") + index % 26)
