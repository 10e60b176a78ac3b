"""The printable plan: every step with its resolved command or action.

It is the dry run before an incident and the paper fallback during one: it needs no
terminal UI and no live system, only the checklist and the stack root.
"""

from __future__ import annotations

from pathlib import Path

from runbook_tui.checklist.conditions import CONDITIONS
from runbook_tui.checklist.model import Checklist, Step, StepType, procedure_letter, substitute
from runbook_tui.checklist.shell_words import UnsafePlaceholder
from runbook_tui.checklist.variables import resolve_variables


def engine_words(stack: str | None, docker_hosts: dict[str, str]) -> str:
    """Where a stack's Docker commands go: its engine from the site settings, or this machine's."""
    if stack is None:
        return "this machine's default Docker engine"
    host = docker_hosts.get(stack)
    return f"the {stack}'s engine {host}" if host else f"the {stack}'s engine (this machine's default)"


def no_fence_command(room: str) -> str:
    """Why the fence command step is skipped on a site without one, as the plan and the run say it."""
    return f"this site has no fence command for {room} (the site settings' [rooms.{room}] fence_command)"


def site_command_lines(step: Step, room: str, fence_command: tuple[str, ...]) -> list[str]:
    """The site's fence command exactly as it runs: its words, without a shell (shlex.join is the
    same words typed into a terminal), and what it does to the room."""
    if not fence_command:
        return [f"not run: {no_fence_command(room)}; skipped, saying so"]
    import shlex

    return [f"$ {shlex.join(fence_command)}",
            f"  run as these {len(fence_command)} words, without a shell: the site's fence command ([rooms.{room}] fence_command)",
            f"  cuts the {step.fences} host off; it counts only if it exits 0"]


def step_action(step: Step, values: dict[str, str], lab: bool = False,
                docker_hosts: dict[str, str] | None = None, fence_command: tuple[str, ...] = ()) -> list[str]:
    """What running the step does, as lines an operator can read (and type); a step that acts
    on a stack says on which engine (docker_hosts: role -> DOCKER_HOST from the site settings);
    a step that runs the site's fence command shows its words (fence_command: the room's argv)."""
    def s(text: str | None) -> str:
        return " ".join(substitute(text or "", values).split())

    def sh(text: str | None) -> list[str]:
        # Exactly what bash is given (the engine runs this same substitution): every line of a
        # multi-line command, its spacing kept; continuation lines indented under the first.
        try:
            lines = substitute(text or "", values, shell=True).rstrip("\n").split("\n")
        except UnsafePlaceholder as e:  # never run either: the engine refuses it the same way
            return [f"not run: {e}"]
        return [f"$ {lines[0]}"] + [f"  {line}" for line in lines[1:]]

    if step.type is StepType.COMMAND and step.site_command:
        return site_command_lines(step, values.get("room", ""), fence_command)
    if step.type is StepType.COMMAND:
        return sh(step.command) + ([f"  on {engine_words(step.stack, docker_hosts or {})}"] if step.stack else [])
    if step.type is StepType.ENV_EDIT:
        if step.align_with:
            lines = [f"edit {s(step.file)}: every shared key as in {s(step.align_with)} "
                     "(all but role, bind address, ports and dispatch flags)"]
        else:
            lines = [f"edit {s(step.file)}: " + ", ".join(f"{k}={substitute(v, values)}" for k, v in step.set_values)]
        if step.require:
            lines.append("  keep: " + ", ".join(f"{k}={substitute(v, values)}" for k, v in step.require))
        return lines
    if step.type is StepType.WAIT:
        lines = [f"wait until: {CONDITIONS[step.condition or '']}"]
        if step.lab_command and lab:
            # In the lab, running the step runs the stand-in; a trainee may also do it by hand from
            # another terminal and let the wait see it. On a site it does not exist: not shown.
            stand_in = sh(step.lab_command)
            lines += stand_in[:-1] + [f"{stand_in[-1]}    (the lab's stand-in for the manual change)"]
        return lines
    if step.type is StepType.DISPATCH_SMOKE:
        if step.paper_command:
            return sh(step.paper_command)
        return [f"dispatch {s(step.device)} {s(step.action)} via {s(step.broker_host)}:{s(step.broker_port)}"]
    if step.type is StepType.CHOICE:
        return [f"choose: {step.choice}"]
    if step.confirm_at_room:
        return ["the person at the room confirms (floor view, by name), then the operator (open loop)"]
    return ["operator confirms (open loop)"]


def render_plan(checklist: Checklist, given: dict[str, str], stack_root: Path, choices: dict[str, str] | None = None,
                lab: bool = True, settings: str = "", docker_hosts: dict[str, str] | None = None,
                fence_command: tuple[str, ...] = ()) -> str:
    """The printable checklist. lab: the training lab's stand-ins are shown (never on a site);
    settings: where the values came from, said on the third line; docker_hosts: each stack's engine;
    fence_command: the room's fence command from the site settings."""
    values = resolve_variables(checklist, given, stack_root).values
    chosen = {cid: c.default for cid, c in checklist.choices.items()} | (choices or {})
    out = [
        f"{checklist.name} ({checklist.revision})",
        f"checklist {checklist.id}, {checklist.path.name}, sha256 {checklist.sha256}",
        f"room {values.get('room')}; stack root {stack_root}" + (f"; settings {settings}" if settings else ""),
    ]
    for cid, key in chosen.items():
        out.append(f"{cid}: {key} ({checklist.choices[cid].options[key].label})")
    if checklist.intro:
        out += ["", substitute(checklist.intro, values)]
    number = 0
    for section in checklist.sections:
        out += ["", section.title]
        for step in section.steps:
            if not step.applies(chosen):
                conds = "; ".join(f"{c} {'/'.join(opts)}" for c, opts in step.when)
                out.append(f"  [-] {substitute(step.title, values)}  (not used: only with {conds})")
                continue
            number += 1
            out += _step_lines(checklist, step, f"{number:>2}.", values, chosen, lab, docker_hosts, fence_command)
    out += _procedure_lines(checklist, values, chosen, lab, docker_hosts, fence_command)
    return "\n".join(out) + "\n"


def _step_lines(checklist: Checklist, step: Step, number: str, values: dict[str, str], chosen: dict[str, str],
                lab: bool, docker_hosts: dict[str, str] | None, fence_command: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    tags = [step.type.value]
    if step.risk.value != "normal":
        tags.append(f"{step.risk.value}: type the room id")
    if step.optional:
        tags.append("optional")
    if step.done_when:
        tags.append(f"done when {step.done_when}")
    if step.guards:
        tags.append("guard " + ", ".join(step.guards))
    tags.append(f"confirmed by {step.confirmed_by()}")
    out.append(f"  [ ] {number} {substitute(step.title, values)}  ({'; '.join(tags)})")
    if step.text:
        for line in substitute(step.text, values).splitlines():
            out.append(f"        {line}")
    for line in step_action(step, values, lab, docker_hosts, fence_command):
        out.append(f"        {line}")
    for affected in step.affects:
        out.append(f"        affects: {substitute(affected, values)}")
    if step.type is StepType.CHOICE and step.choice:
        for key, option in checklist.choices[step.choice].options.items():
            mark = "x" if chosen.get(step.choice) == key else " "
            out.append(f"        ({mark}) {option.label}")
        warning = checklist.choices[step.choice].options[chosen[step.choice]].warning
        if warning:
            out.append(f"        WARNING: {substitute(warning, values)}")
    return out


def _procedure_lines(checklist: Checklist, values: dict[str, str], chosen: dict[str, str], lab: bool,
                     docker_hosts: dict[str, str] | None, fence_command: tuple[str, ...]) -> list[str]:
    """The non-normal procedures after the normal steps: on paper, the operator looks each up when
    its condition is seen (the tool queues it when it holds for its hold time)."""
    if not checklist.procedures:
        return []
    out = ["", "Non-normal procedures (worked when their condition is seen; the tool queues them)"]
    for letter, procedure in enumerate(checklist.procedures):
        trigger = procedure.trigger
        when = f"when {CONDITIONS[trigger.when]}, for {trigger.holds_for_s:g} s"
        if trigger.after:
            when += f"; once step {trigger.after} is done"
        if trigger.quiet_between:
            when += f"; not between {trigger.quiet_between[0]} and {trigger.quiet_between[1]}"
        out += ["", f"  {procedure_letter(letter)}. {substitute(procedure.title, values)}", f"     {when}"]
        if procedure.holds:
            out.append("     holds throughout: " + "; ".join(CONDITIONS[c] for c in procedure.holds))
        if procedure.text:
            out += [f"     {line}" for line in substitute(procedure.text, values).splitlines()]
        for n, step in enumerate(procedure.steps, 1):
            out += _step_lines(checklist, step, f"{procedure_letter(letter)}{n}.", values, chosen, lab, docker_hosts,
                               fence_command)
    return out
