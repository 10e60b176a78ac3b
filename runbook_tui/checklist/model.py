"""The runbook as data: checklists, sections, steps, variables and choices.

Immutable; built and validated by runbook_tui.checklist.loader. Every element keeps the
line it was written on, so later errors (a failed variable, a guard) can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Re-exported (the "as" says so to the type checker): the loader, the engine and the rules name
# them through the model.
from runbook_tui.checklist.kinds import PLACEHOLDER as PLACEHOLDER
from runbook_tui.checklist.kinds import Risk as Risk
from runbook_tui.checklist.kinds import StepType as StepType
from runbook_tui.checklist.kinds import placeholders as placeholders
from runbook_tui.checklist.kinds import procedure_letter as procedure_letter
from runbook_tui.checklist.kinds import substitute as substitute


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None
    description: str
    from_env: tuple[str, str] | None  # (role, KEY): read from that stack's .env when it exists
    line: int


@dataclass(frozen=True)
class ChoiceOption:
    key: str
    label: str
    text: str
    warning: str


@dataclass(frozen=True)
class Choice:
    id: str
    prompt: str
    default: str
    options: dict[str, ChoiceOption]
    line: int


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    type: StepType
    section_id: str
    line: int
    text: str = ""
    risk: Risk = Risk.NORMAL
    guards: tuple[str, ...] = ()
    done_when: str | None = None
    affects: tuple[str, ...] = ()
    # Earlier steps whose evidence this step, once done, is meant to undo (shutting the primary
    # down undoes "bring up the primary"): their conditions are no longer watched for lapses.
    supersedes: tuple[str, ...] = ()
    when: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (choice id, allowed options)
    optional: bool = False
    timeout_s: float = 120.0
    # A confirm step only the person at the room can verify: it waits for their confirmation
    # from the floor view (named), then the operator's. Two people, both in the record.
    confirm_at_room: bool = False
    # Proves the promotion end to end (the smoke test, "the device reacted"): refused while a
    # step before it in its section is open or no longer holds, since the proof would be false.
    end_to_end: bool = False
    # Which stack's Docker engine the step acts on (primary / standby): its commands run with that
    # engine (DOCKER_HOST from the site settings), and the plan, the confirmation and the journal say so.
    stack: str | None = None
    # Done, this step cuts that stack's host off (powered off, unplugged, fenced by the site's
    # command): while the host stays unreachable, the rules take it as unable to act.
    fences: str | None = None
    # command
    command: str | None = None
    # Instead of `command`: a command the site settings give (`fence_command`: the room's argv,
    # run without a shell), so the checklist names the act and each site its own tool.
    site_command: str | None = None
    capture_as: str | None = None
    # wait
    condition: str | None = None
    lab_command: str | None = None
    # env_edit
    file: str | None = None
    set_values: tuple[tuple[str, str], ...] = ()
    align_with: str | None = None  # another .env: every shared (not per-stack) key takes its value
    require: tuple[tuple[str, str], ...] = ()
    # dispatch_smoke
    broker_host: str | None = None
    broker_port: str | None = None
    credentials_from: str | None = None
    device: str | None = None
    action: str | None = None
    params: str | None = None
    paper_command: str | None = None
    expect_core: str | None = None  # the stack whose core must answer (e.g. room1-standby)
    # choice
    choice: str | None = None
    # The non-normal procedure the step belongs to (None: a step of the normal checklist).
    procedure: str | None = None

    def confirmed_by(self) -> str:
        """Who must confirm the step, as the plan and the confirmation say it."""
        if self.confirm_at_room:
            return "the person at the room (floor view), then the operator"
        return "the operator"

    @property
    def closed_loop(self) -> bool:
        """Turns done on sensed evidence rather than on the operator's word."""
        return self.type in (StepType.WAIT, StepType.DISPATCH_SMOKE) or self.done_when is not None

    def applies(self, choices: dict[str, str]) -> bool:
        return all(choices.get(choice) in allowed for choice, allowed in self.when)


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    steps: tuple[Step, ...]
    line: int


@dataclass(frozen=True)
class Trigger:
    """When a non-normal procedure is queued: its condition held this long, continuously."""

    when: str  # a condition of the catalogue (checklist/conditions.py)
    holds_for_s: float
    # A step of the normal checklist: armed only once it is passed ("the primary came back" means
    # something only after the primary was shut down).
    after: str | None = None
    # (from, to): not armed from `from`'s start until `to` has passed, the window in which the run
    # itself makes the condition hold (the standby dispatches before the DNS name is repointed).
    quiet_between: tuple[str, str] | None = None
    line: int = 0


@dataclass(frozen=True)
class Procedure:
    """A non-normal procedure: the steps written for a condition the room can fall into."""

    id: str
    title: str
    text: str
    trigger: Trigger
    holds: tuple[str, ...]  # continuously applicable while it is open
    steps: tuple[Step, ...]
    line: int


@dataclass(frozen=True)
class Checklist:
    id: str
    name: str
    revision: str
    source: str
    intro: str
    variables: dict[str, Variable]
    choices: dict[str, Choice]
    sections: tuple[Section, ...]
    path: Path
    sha256: str
    # The non-normal procedures it names (`non_normal:`), and the conditions that hold throughout it.
    procedures: tuple[Procedure, ...] = ()
    holds: tuple[str, ...] = ()

    def steps(self) -> list[Step]:
        """The normal checklist's steps (a procedure's are its own: procedure_steps)."""
        return [step for section in self.sections for step in section.steps]

    def procedure_steps(self) -> list[Step]:
        return [step for procedure in self.procedures for step in procedure.steps]

    def step(self, step_id: str) -> Step:
        """A step of the checklist or of one of its procedures."""
        for step in (*self.steps(), *self.procedure_steps()):
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def procedure_letter(self, procedure_id: str) -> str:
        """The procedure's letter, A for the first it names: its steps are A1, A2, ... on paper
        (`plan`), on the console and on the phone alike, and two open ones never share a number."""
        index = [p.id for p in self.procedures].index(procedure_id)
        return procedure_letter(index)

    def procedure(self, procedure_id: str) -> Procedure:
        for procedure in self.procedures:
            if procedure.id == procedure_id:
                return procedure
        raise KeyError(procedure_id)


# A variable with no value on this site (no default, nothing in the settings, --var or .env):
# shown as such wherever it would appear, and a step whose action needs it will not run.
_NOT_SET = re.compile(r"<([a-z_][a-z0-9_]*): not set>")


def not_set(name: str) -> str:
    return f"<{name}: not set>"


def unset_in(text: str) -> list[str]:
    """The variables shown as not set in a filled-in text (shell quoting included)."""
    return list(dict.fromkeys(_NOT_SET.findall(text)))


@dataclass
class ResolvedVariables:
    values: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # name -> "given", "default", ".env of standby"
