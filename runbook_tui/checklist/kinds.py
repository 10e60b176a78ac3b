"""The kinds in a checklist (step types, risks) and its {{placeholders}}: what the TUI's first
frame needs from the checklist without building the model's dataclasses (checklist/model.py,
a dozen milliseconds of start-up)."""

from __future__ import annotations

import re
import shlex
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

    shell: the template is a shell command, so each value is quoted where it needs it (a room
    id or a captured path with a space or a ';' stays one word and never runs as code).
    """
    if shell:
        return PLACEHOLDER.sub(lambda m: shlex.quote(values[m.group(1)]), template)
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)
