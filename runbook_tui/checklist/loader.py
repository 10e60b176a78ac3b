"""Loading and validating checklist files.

Checklists are YAML because PyYAML's node tree carries the line of every key and value, so
each error names file, line and field without a hand-written locator, and block scalars keep
the runbook's wording and commands verbatim. Values are read from the node tree with strict
types (a `yes` where text is expected is an error, not a boolean).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runbook_tui.checklist.conditions import CONDITIONS
from runbook_tui.checklist.model import (
    Checklist,
    Choice,
    ChoiceOption,
    Procedure,
    Risk,
    Section,
    Step,
    StepType,
    Trigger,
    Variable,
    placeholders,
)
from runbook_tui.errors import FileProblem, UsageError
from runbook_tui.files import CHECKLIST_CAP, read_bounded
from runbook_tui.secrets import SECRET_KEY
from runbook_tui.terminal import describe, first_control

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
# Limits: a checklist is a few hundred lines. A file past them is refused with its line,
# before PyYAML builds anything large (15 KB of aliases once took 33 s and 635 MB).
MAX_BYTES = CHECKLIST_CAP
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 100_000  # counted with aliases expanded, without expanding them
MAX_TIMEOUT_S = 86_400.0
_SECONDS = re.compile(r"^(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$")  # decimal seconds: no 0x10, 017, 1:30, .inf or .nan
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML was built with it
# Fields whose text may run over several lines (and hold tabs); every other one is one line.
_MULTI_LINE = {"text", "intro", "command", "lab_command", "paper_command", "description", "prompt", "warning", "params",
               "source"}
# What another YAML reader takes for a number where PyYAML reads text (YAML 1.2's 0o17), and
# integers PyYAML reads otherwise than they look (017 is octal 15, 1:30 is 90, 0x10 is 16).
_YAML12_NUMBER = re.compile(r"^[-+]?(?:0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$")
_DECIMAL = re.compile(r"^(?:0|[1-9][0-9]*)$")
BOM = "\ufeff"


# One error of a checklist: file, line, field and message, as the settings' errors are.
ChecklistError = FileProblem


class ChecklistInvalid(UsageError):
    """A checklist that does not load (exit 2 where a run needs it): every error, one a line."""

    heading = "the checklist is not valid"

    def __init__(self, errors: list[ChecklistError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# Fields of a step: name -> (kind, step types it applies to; None: every type).
_COMMON = {"id", "title", "type", "text", "risk", "guards", "done_when", "affects", "when", "optional", "timeout_s", "supersedes",
           "end_to_end"}
_STEP_FIELDS: dict[str, tuple[str, frozenset[StepType] | None]] = {
    "id": ("str", None), "title": ("str", None), "type": ("str", None), "text": ("str", None),
    "risk": ("str", None), "guards": ("condlist", None), "done_when": ("cond", None), "affects": ("strlist", None),
    "when": ("when", None), "optional": ("bool", None), "timeout_s": ("number", None), "supersedes": ("strlist", None),
    "end_to_end": ("bool", None),
    "command": ("str", frozenset({StepType.COMMAND})), "site_command": ("str", frozenset({StepType.COMMAND})),
    "capture_as": ("name", frozenset({StepType.COMMAND})),
    "condition": ("cond", frozenset({StepType.WAIT})), "lab_command": ("str", frozenset({StepType.WAIT})),
    "file": ("str", frozenset({StepType.ENV_EDIT})), "set": ("strmap", frozenset({StepType.ENV_EDIT})),
    "require": ("strmap", frozenset({StepType.ENV_EDIT})), "align_with": ("str", frozenset({StepType.ENV_EDIT})),
    "broker_host": ("str", frozenset({StepType.DISPATCH_SMOKE})), "broker_port": ("str", frozenset({StepType.DISPATCH_SMOKE})),
    "credentials_from": ("str", frozenset({StepType.DISPATCH_SMOKE})), "device": ("str", frozenset({StepType.DISPATCH_SMOKE})),
    "action": ("str", frozenset({StepType.DISPATCH_SMOKE})), "params": ("str", frozenset({StepType.DISPATCH_SMOKE})),
    "paper_command": ("str", frozenset({StepType.DISPATCH_SMOKE})),
    "expect_core": ("str", frozenset({StepType.DISPATCH_SMOKE})),
    "choice": ("str", frozenset({StepType.CHOICE})),
    "confirm_at_room": ("bool", frozenset({StepType.CONFIRM})),
    "stack": ("str", frozenset({StepType.COMMAND, StepType.WAIT})),
    "fences": ("str", frozenset({StepType.CONFIRM, StepType.COMMAND})),
}
# What a command step may run from the site settings instead of a `command` of its own.
SITE_COMMANDS = {"fence_command": "the room's fence command ([rooms.<id>] fence_command in the site settings)"}
_DOCKER_WORD = re.compile(r"(?<![\w./-])docker(?![\w.-])")
_REQUIRED_BY_TYPE = {
    StepType.CONFIRM: (),
    StepType.COMMAND: ("command",),
    StepType.ENV_EDIT: ("file",),  # and `set` or `align_with`: checked in _step
    StepType.WAIT: ("condition",),
    StepType.DISPATCH_SMOKE: ("broker_host", "broker_port", "credentials_from", "device", "action"),
    StepType.CHOICE: ("choice",),
}


class _Reader:
    """Typed reads from the YAML node tree, collecting errors instead of raising."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors: list[ChecklistError] = []
        self.placeholder_uses: list[tuple[str, int, str]] = []  # (name, line, field)

    def refuse_controls(self, node: Node, field: str, value: str) -> bool:
        """A control character in a checklist would reach the terminal of whoever validates,
        plans or runs it: refused where it is written. True when `value` is clean."""
        one_line = re.sub(r"\[\d+\]$", "", field.rpartition(".")[2]) not in _MULTI_LINE
        problem = first_control(value, one_line)
        if problem is None:
            return True
        self.error(node, field, problem + (": this field is one line" if one_line and first_control(value) is None else ""))
        return False

    def error(self, node: Node | None, field: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.errors.append(ChecklistError(self.path, line, field, message))

    def mapping(self, node: Node, field: str, allowed: set[str] | None = None) -> dict[str, tuple[Node, Node]] | None:
        if not isinstance(node, MappingNode):
            self.error(node, field, f"expected a mapping, found {_kind(node)}")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self.error(key_node, field, "keys must be plain names")
                continue
            if not self.refuse_controls(key_node, f"{field}.(a key)" if field else "(a key)", key):
                continue
            sub = f"{field}.{key}" if field else key
            if key in out:
                self.error(key_node, sub, f"duplicate key '{key}'")
                continue
            if allowed is not None and key not in allowed:
                self.error(key_node, sub, f"unknown field '{key}' (expected one of: {', '.join(sorted(allowed))})")
                continue
            out[key] = (key_node, value_node)
        return out

    def text(self, node: Node, field: str, track: bool = True) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag != _STR:
            self.error(node, field, f"expected text, found {_kind(node)}" + (" (quote it)" if isinstance(node, ScalarNode) else ""))
            return None
        if not node.style and _YAML12_NUMBER.match(node.value):  # plain: None in PyYAML, "" in libyaml
            self.error(node, field, f"{node.value} is a number to other YAML readers: quote it as text")
            return None
        if not self.refuse_controls(node, field, node.value):
            return None
        text: str = node.value  # a str-tagged scalar's value is text
        if track:
            for name in placeholders(text):
                self.placeholder_uses.append((name, node.start_mark.line + 1, field))
        return text

    def required(self, fields: dict[str, tuple[Node, Node]], name: str, parent: Node, field: str) -> Node | None:
        if name not in fields:
            self.error(parent, f"{field}.{name}" if field else name, f"missing required field '{name}'")
            return None
        return fields[name][1]

    def text_list(self, node: Node, field: str) -> list[tuple[str, Node]]:
        if not isinstance(node, SequenceNode):
            self.error(node, field, f"expected a list, found {_kind(node)}")
            return []
        out = []
        for i, item in enumerate(node.value):
            value = self.text(item, f"{field}[{i}]")
            if value is not None:
                out.append((value, item))
        return out


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {_STR: "text", _INT: "a number", _FLOAT: "a number", _BOOL: "a boolean"}.get(
        node.tag, "nothing" if node.tag.endswith(":null") else node.tag)


def load_checklist(path: Path | str) -> Checklist:
    """The checklist in `path`, or ChecklistInvalid listing every error."""
    path = Path(path)
    try:
        raw = read_bounded(path, MAX_BYTES, "checklist")  # a regular file within the cap, or refused
    except OSError as exc:
        raise ChecklistInvalid([ChecklistError(path, 1, "file", exc.strerror or str(exc))]) from None
    try:
        text = raw.decode("utf-8")
        # A byte-order mark at the start is accepted (editors on Windows write one) and read
        # past; anywhere else it is an invisible character inside a value, refused.
        if (stray := text.find(BOM, 1)) != -1:
            raise ChecklistInvalid([ChecklistError(path, text.count("\n", 0, stray) + 1, "file",
                                                   f"{describe(BOM)} inside the file: only its first character may be a "
                                                   "byte-order mark")])
        text = text.removeprefix(BOM)
        _check_shape(path, text)
        root = yaml.compose(text, Loader=_LOADER)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ChecklistInvalid([ChecklistError(path, line, "file", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} "
                                                                   f"({exc.reason})")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ChecklistInvalid([ChecklistError(path, line, "syntax", f"{exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:  # e.g. a control character: a ReaderError carries its own position
        at: int | None = getattr(exc, "line", None)
        raise ChecklistInvalid([ChecklistError(path, 1 if at is None else at + 1, "syntax", str(exc).split("\n")[0])]) from None
    except RecursionError:
        raise ChecklistInvalid([ChecklistError(path, 1, "syntax", "nested too deeply to read")]) from None
    if root is None:
        raise ChecklistInvalid([ChecklistError(path, 1, "file", "the file is empty")])
    if (count := _expanded_size(root)) > MAX_NODES:
        raise ChecklistInvalid([ChecklistError(path, 1, "file", f"{count} values once its aliases are expanded "
                                                                f"(at most {MAX_NODES})")])
    r = _Reader(path)
    checklist = _build(r, root, path, hashlib.sha256(raw).hexdigest())
    if r.errors or checklist is None:
        raise ChecklistInvalid(sorted(r.errors, key=lambda e: (str(e.file) != str(path), e.line)))
    return checklist


def _event_line(event: yaml.Event) -> int:
    """The line an event starts on (the parser marks every event it makes)."""
    return event.start_mark.line + 1 if event.start_mark is not None else 1


def _check_shape(path: Path, text: str) -> None:
    """Depth, aliases and tags, from the parser's events (no node is built): each limit's
    error names the line where it was passed."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.NodeEvent) and (tag := getattr(event, "tag", None)) is not None:
            # A checklist is plain data: an explicit tag (!!python/object, !!binary, !!str, !x)
            # asks a loader for a type, which no checklist field takes.
            raise ChecklistInvalid([ChecklistError(path, _event_line(event), "syntax",
                                                   f"the YAML tag {tag[:80]!r}: a checklist holds plain text, "
                                                   "numbers, lists and mappings, without tags")])
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ChecklistInvalid([ChecklistError(path, _event_line(event), "syntax",
                                                       f"nested more than {MAX_DEPTH} levels deep")])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ChecklistInvalid([ChecklistError(path, _event_line(event), "syntax",
                                                       f"more than {MAX_ALIASES} aliases (*name)")])


def _expanded_size(root: Node) -> int:
    """How many values the tree holds with every alias expanded, counted once per shared node."""
    sizes: dict[int, int] = {}

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a node inside itself (a recursive alias) counts once
        if isinstance(node, MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        sizes[id(node)] = min(total, MAX_NODES + 1)
        return sizes[id(node)]

    return size(root)


def _build(r: _Reader, root: Node, path: Path, sha: str) -> Checklist | None:
    top = r.mapping(root, "", {"checklist", "variables", "choices", "sections", "procedures", "non_normal", "holds"})
    if top is None:
        return None
    head = r.required(top, "checklist", root, "")
    meta: dict[str, str] = {}  # a field left out here was an error: no checklist is built then
    if head is not None:
        fields = r.mapping(head, "checklist", {"id", "name", "revision", "source", "intro"}) or {}
        for name in ("id", "name", "revision"):
            node = r.required(fields, name, head, "checklist")
            if node is not None and (value := r.text(node, f"checklist.{name}")) is not None:
                meta[name] = value
        for name in ("source", "intro"):
            if (value := r.text(fields[name][1], f"checklist.{name}") if name in fields else "") is not None:
                meta[name] = value
        if meta.get("id") and not _ID.match(meta["id"]):
            r.error(fields["id"][1], "checklist.id", "use lower-case letters, digits and dashes")

    if "variables" not in top:
        r.error(root, "variables", "missing: every checklist declares its variables, at least 'room'")
    variables = _variables(r, top["variables"][1]) if "variables" in top else {}
    choices = _choices(r, top["choices"][1]) if "choices" in top else {}
    sections: list[Section] = []
    # A file of non-normal procedures alone (non-normal.yaml) has no sections of its own.
    sections_node = r.required(top, "sections", root, "") if "procedures" not in top else top.get("sections", (None, None))[1]
    seen_steps: dict[str, int] = {}
    if sections_node is not None:
        sections = _sections(r, sections_node, choices, seen_steps)
    procedures = _procedures(r, top["procedures"][1], seen_steps) if "procedures" in top else []
    holds = _value(r, "condlist", top["holds"][1], "holds", choices) if "holds" in top else ()

    for name, line, field in r.placeholder_uses:
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none declared"
            r.errors.append(ChecklistError(path, line, field, f"unknown variable '{{{{{name}}}}}' (declared: {known})"))
    _check_default_cycles(r, path, variables)
    steps = [s for section in sections for s in section.steps]
    if sections_node is not None and not steps and not r.errors:
        r.error(sections_node, "sections", "no steps: a checklist has at least one")
    for step in steps + [s for p in procedures for s in p.steps]:
        if step.capture_as and step.capture_as not in variables:
            r.errors.append(ChecklistError(path, step.line, f"{step.id}.capture_as",
                                           f"'{step.capture_as}' is not a declared variable (declare it under variables:)"))
    if steps:  # a file of procedures alone has no steps of its own to arm them by
        _check_triggers(r, procedures, steps)
    if "non_normal" in top:
        named, sha = _non_normal(r, top["non_normal"][1], path, sha, variables, steps, seen_steps)
        procedures += named
    _check_procedure_ids(r, procedures)
    if r.errors:
        return None
    return Checklist(
        id=meta["id"], name=meta["name"], revision=meta["revision"], source=meta["source"], intro=meta["intro"],
        variables=variables, choices=choices, sections=tuple(sections), path=path, sha256=sha,
        procedures=tuple(procedures), holds=holds if isinstance(holds, tuple) else (),
    )


# ---- non-normal procedures ---------------------------------------------------------------------

_PROCEDURE_FIELDS = {"id", "title", "text", "trigger", "holds", "steps"}
_TRIGGER_FIELDS = {"when", "holds_for_s", "after", "quiet_between"}
# A procedure's steps all apply and stand alone: no choice selects them, none undoes a step of
# the normal checklist, and none proves the normal checklist's sections end to end.
_NOT_IN_PROCEDURES = {"when": "a procedure's steps all apply (no choice selects them)",
                      "supersedes": "a procedure's step does not undo the normal checklist's steps",
                      "end_to_end": "a procedure's step proves no section of the normal checklist"}


def _procedures(r: _Reader, node: Node, seen_steps: dict[str, int]) -> list[Procedure]:
    if not isinstance(node, SequenceNode):
        r.error(node, "procedures", f"expected a list, found {_kind(node)}")
        return []
    out: list[Procedure] = []
    for i, proc_node in enumerate(node.value):
        field = f"procedures[{i}]"
        fields = r.mapping(proc_node, field, _PROCEDURE_FIELDS)
        if fields is None:
            continue
        errors_before = len(r.errors)
        id_node, title_node, trigger_node, steps_node = (r.required(fields, name, proc_node, field)
                                                         for name in ("id", "title", "trigger", "steps"))
        pid = r.text(id_node, f"{field}.id") if id_node is not None else None
        if pid is not None and not _ID.match(pid):
            r.error(id_node, f"{field}.id", "use lower-case letters, digits and dashes")
        title = r.text(title_node, f"{field}.title") if title_node is not None else None
        text = r.text(fields["text"][1], f"{field}.text") if "text" in fields else ""
        holds = _value(r, "condlist", fields["holds"][1], f"{field}.holds", {}) if "holds" in fields else ()
        trigger = _trigger(r, trigger_node, f"{field}.trigger") if trigger_node is not None else None
        steps: list[Step] = []
        if steps_node is not None:
            if not isinstance(steps_node, SequenceNode) or not steps_node.value:
                r.error(steps_node, f"{field}.steps", "expected a list of steps (a procedure has at least one)")
            else:
                for j, step_node in enumerate(steps_node.value):
                    sf = f"{field}.steps[{j}]"
                    for key_node, _v in step_node.value if isinstance(step_node, MappingNode) else ():
                        if isinstance(key_node, ScalarNode) and key_node.value in _NOT_IN_PROCEDURES:
                            r.error(key_node, f"{sf}.{key_node.value}", f"not in a procedure: {_NOT_IN_PROCEDURES[key_node.value]}")
                    step = _step(r, step_node, sf, pid or "", {}, seen_steps)
                    if step is not None and step.type is StepType.CHOICE:
                        r.error(step_node, f"{sf}.type", "not in a procedure: a choice belongs to the normal checklist")
                    elif step is not None:
                        steps.append(dataclasses.replace(step, procedure=pid))
        if len(r.errors) > errors_before or pid is None or trigger is None:
            continue
        out.append(Procedure(pid, title or "", text or "", trigger, holds if isinstance(holds, tuple) else (),
                             tuple(steps), proc_node.start_mark.line + 1))
    return out


def _trigger(r: _Reader, node: Node, field: str) -> Trigger | None:
    fields = r.mapping(node, field, _TRIGGER_FIELDS)
    if fields is None:
        return None
    errors_before = len(r.errors)
    when_node = r.required(fields, "when", node, field)
    when = _value(r, "cond", when_node, f"{field}.when", {}) if when_node is not None else None
    held_node = r.required(fields, "holds_for_s", node, field)
    held = _value(r, "number", held_node, f"{field}.holds_for_s", {}) if held_node is not None else None
    after = r.text(fields["after"][1], f"{field}.after", track=False) if "after" in fields else None
    between: tuple[str, str] | None = None
    if "quiet_between" in fields:
        pair = [v for v, _n in r.text_list(fields["quiet_between"][1], f"{field}.quiet_between")]
        if len(pair) != 2:
            r.error(fields["quiet_between"][1], f"{field}.quiet_between",
                    "two step ids: [from, to] (not armed while 'from' is passed and 'to' is not)")
        else:
            between = (pair[0], pair[1])
    if len(r.errors) > errors_before or not isinstance(when, str) or not isinstance(held, float):
        return None
    return Trigger(when, held, after, between, node.start_mark.line + 1)


def _check_triggers(r: _Reader, procedures: list[Procedure], steps: list[Step], path: Path | None = None) -> None:
    """A trigger armed by steps names steps of the normal checklist it runs beside."""
    ids = {s.id for s in steps}
    for proc in procedures:
        named = [("after", proc.trigger.after)] + [("quiet_between", s) for s in proc.trigger.quiet_between or ()]
        for what, step_id in named:
            if step_id is not None and step_id not in ids:
                r.errors.append(ChecklistError(path or r.path, proc.trigger.line, f"{proc.id}.trigger.{what}",
                                               f"'{step_id}' is not a step of the checklist {r.path.name}"))


def _check_procedure_ids(r: _Reader, procedures: list[Procedure]) -> None:
    seen: dict[str, int] = {}
    for proc in procedures:
        if proc.id in seen:
            r.errors.append(ChecklistError(r.path, proc.line, "procedures.id",
                                           f"duplicate procedure id '{proc.id}' (first on line {seen[proc.id]})"))
        seen.setdefault(proc.id, proc.line)


def _non_normal(r: _Reader, node: Node, path: Path, sha: str, variables: dict[str, Variable], steps: list[Step],
                seen_steps: dict[str, int]) -> tuple[list[Procedure], str]:
    """The procedures of the file `non_normal:` names (beside this one), checked against this
    checklist: their variables declared here, their steps' ids not this checklist's, their
    triggers armed by this checklist's steps. The run's checklist version covers both files.
    `non_normal: {file: F, only: [ids]}` takes some of them: those whose triggers and steps fit
    this checklist (failback has no promotion step for `after` to name)."""
    only: list[tuple[str, Node]] | None = None
    field = "non_normal"
    if isinstance(node, MappingNode):
        fields = r.mapping(node, "non_normal", {"file", "only"})
        file_node = r.required(fields, "file", node, "non_normal") if fields is not None else None
        if fields is None or file_node is None:
            return [], sha
        if "only" in fields:
            only = r.text_list(fields["only"][1], "non_normal.only")
        node, field = file_node, "non_normal.file"
    name = r.text(node, field, track=False)
    if name is None:
        return [], sha
    if "/" in name or name in ("", ".", ".."):
        r.error(node, field, "a file name beside this checklist (e.g. non-normal.yaml)")
        return [], sha
    other_path = path.parent / name
    if not other_path.is_file():
        r.error(node, field, f"{name}: no such file beside {path.name}")
        return [], sha
    try:
        other = load_checklist(other_path)
    except ChecklistInvalid as exc:
        r.errors.extend(exc.errors)
        return [], sha
    if other.sections:
        r.error(node, "non_normal", f"{name} has sections: it names a file of procedures alone")
    if not other.procedures:
        r.error(node, "non_normal", f"{name} has no procedures")
    missing = sorted(set(other.variables) - set(variables))
    if missing:
        r.error(node, "non_normal", f"{name} uses variables this checklist does not declare: {', '.join(missing)}")
    procedures = list(other.procedures)
    if only is not None:
        known = {p.id for p in procedures}
        for wanted, wanted_node in only:
            if wanted not in known:
                r.error(wanted_node, "non_normal.only", f"{name} has no procedure '{wanted}' (it has: {', '.join(sorted(known))})")
        chosen = {wanted for wanted, _n in only}
        procedures = [p for p in procedures if p.id in chosen]
        if not only:
            r.error(node, "non_normal.only", "an empty list takes no procedure: leave non_normal out instead")
    for step in (s for p in procedures for s in p.steps):
        if step.id in seen_steps:
            r.errors.append(ChecklistError(other_path, step.line, f"{step.procedure}.{step.id}",
                                           f"step id '{step.id}' is also a step of {path.name} (line {seen_steps[step.id]})"))
    _check_triggers(r, procedures, steps, other_path)
    return procedures, hashlib.sha256(f"{sha}\n{other.sha256}".encode()).hexdigest()


def _check_default_cycles(r: _Reader, path: Path, variables: dict[str, Variable]) -> None:
    """A default that refers, through others, back to itself can never be filled in."""
    uses = {name: set(placeholders(v.default or "")) & set(variables) for name, v in variables.items()}
    for start in variables:
        seen: set[str] = set()
        visiting = [(start, [start])]
        while visiting:
            name, trail = visiting.pop()
            if start in uses.get(name, ()):
                r.errors.append(ChecklistError(path, variables[start].line, f"variables.{start}.default",
                                               "its default refers back to itself: " + " -> ".join(trail + [start])))
                break
            for used in uses.get(name, ()):
                if used not in seen:
                    seen.add(used)
                    visiting.append((used, trail + [used]))


def _variables(r: _Reader, node: Node) -> dict[str, Variable]:
    out: dict[str, Variable] = {}
    for name, (key_node, value_node) in (r.mapping(node, "variables") or {}).items():
        field = f"variables.{name}"
        if not _NAME.match(name):
            r.error(key_node, field, "variable names are letters, digits and underscores")
            continue
        fields = r.mapping(value_node, field, {"default", "description", "from_env"})
        if fields is None:
            continue
        desc_node = r.required(fields, "description", value_node, field)
        description = r.text(desc_node, f"{field}.description") if desc_node is not None else ""
        default = None
        if "default" in fields:
            d = fields["default"][1]
            if isinstance(d, ScalarNode) and d.tag == _INT and not _DECIMAL.match(d.value):
                r.error(d, f"{field}.default", f"YAML reads {d.value} as a number other than it looks "
                                               "(octal, hexadecimal or base 60): quote it as text")
            elif isinstance(d, ScalarNode) and d.tag in (_STR, _INT) and (
                    d.tag == _INT or r.text(d, f"{field}.default", track=False) is not None):
                default = d.value
                for used in placeholders(d.value):
                    r.placeholder_uses.append((used, d.start_mark.line + 1, f"{field}.default"))
            else:
                r.error(d, f"{field}.default", f"expected text, found {_kind(d)}")
        from_env = None
        if "from_env" in fields:
            spec = r.text(fields["from_env"][1], f"{field}.from_env", track=False)
            if spec is not None:
                role, _, key = spec.partition(":")
                if role not in ("primary", "standby") or not _NAME.match(key):
                    r.error(fields["from_env"][1], f"{field}.from_env", "expected primary:KEY or standby:KEY")
                elif SECRET_KEY.search(key):
                    r.error(fields["from_env"][1], f"{field}.from_env",
                            f"{key} is a secret: variables are printed in plans and journals")
                else:
                    from_env = (role, key)
        out[name] = Variable(name, default, description or "", from_env, key_node.start_mark.line + 1)
    if out and "room" not in out:
        r.error(node, "variables.room", "every checklist declares the variable 'room'")
    return out


def _choices(r: _Reader, node: Node) -> dict[str, Choice]:
    out: dict[str, Choice] = {}
    for cid, (key_node, value_node) in (r.mapping(node, "choices") or {}).items():
        field = f"choices.{cid}"
        fields = r.mapping(value_node, field, {"prompt", "default", "options"})
        if fields is None:
            continue
        prompt_node = r.required(fields, "prompt", value_node, field)
        prompt = r.text(prompt_node, f"{field}.prompt") if prompt_node is not None else ""
        options: dict[str, ChoiceOption] = {}
        options_node = r.required(fields, "options", value_node, field)
        for key, (_k, opt_node) in ((r.mapping(options_node, f"{field}.options") or {}) if options_node else {}).items():
            of = f"{field}.options.{key}"
            opt = r.mapping(opt_node, of, {"label", "text", "warning"})
            if opt is None:
                continue
            label_node = r.required(opt, "label", opt_node, of)
            options[key] = ChoiceOption(
                key,
                (r.text(label_node, f"{of}.label") if label_node is not None else "") or "",
                (r.text(opt["text"][1], f"{of}.text") if "text" in opt else "") or "",
                (r.text(opt["warning"][1], f"{of}.warning") if "warning" in opt else "") or "",
            )
        if options_node is not None and isinstance(options_node, MappingNode) and not options_node.value:
            r.error(options_node, f"{field}.options", "no options: a choice has at least one")
        default_node = r.required(fields, "default", value_node, field)
        default = r.text(default_node, f"{field}.default", track=False) if default_node is not None else None
        if default is not None and options and default not in options:
            r.error(default_node, f"{field}.default", f"'{default}' is not one of the options ({', '.join(options)})")
        out[cid] = Choice(cid, prompt or "", default or "", options, key_node.start_mark.line + 1)
    return out


def _sections(r: _Reader, node: Node, choices: dict[str, Choice], seen_steps: dict[str, int]) -> list[Section]:
    if not isinstance(node, SequenceNode):
        r.error(node, "sections", f"expected a list, found {_kind(node)}")
        return []
    sections: list[Section] = []
    seen_sections: dict[str, int] = {}
    for i, section_node in enumerate(node.value):
        field = f"sections[{i}]"
        fields = r.mapping(section_node, field, {"id", "title", "steps"})
        if fields is None:
            continue
        sid_node = r.required(fields, "id", section_node, field)
        sid = r.text(sid_node, f"{field}.id") if sid_node is not None else None
        if sid_node is not None and sid is not None:
            if sid in seen_sections:
                r.error(sid_node, f"{field}.id", f"duplicate section id '{sid}' (first on line {seen_sections[sid]})")
            seen_sections[sid] = sid_node.start_mark.line + 1
        title_node = r.required(fields, "title", section_node, field)
        title = r.text(title_node, f"{field}.title") if title_node is not None else None
        steps_node = r.required(fields, "steps", section_node, field)
        steps: list[Step] = []
        if steps_node is not None:
            if not isinstance(steps_node, SequenceNode):
                r.error(steps_node, f"{field}.steps", f"expected a list, found {_kind(steps_node)}")
            elif not steps_node.value:
                r.error(steps_node, f"{field}.steps", "an empty section: list its steps")
            else:
                for j, step_node in enumerate(steps_node.value):
                    step = _step(r, step_node, f"{field}.steps[{j}]", sid or "", choices, seen_steps)
                    if step is not None:
                        steps.append(step)
        sections.append(Section(sid or "", title or "", tuple(steps), section_node.start_mark.line + 1))
    return sections


def _site_command(r: _Reader, fields: dict[str, tuple[Node, Node]], field: str, values: dict[str, FieldValue]) -> None:
    """A command the site settings give: the fence command cuts a host off, so its step says
    which (`fences`); it runs on this machine, on no stack's Docker engine, and captures nothing."""
    node = fields["site_command"][1]
    name = values.get("site_command")
    if isinstance(name, str) and name not in SITE_COMMANDS:
        r.error(node, f"{field}.site_command", f"unknown site command '{name}' (expected one of: {', '.join(SITE_COMMANDS)})")
    if "command" in fields:
        r.error(node, f"{field}.site_command", "a step runs its own 'command' or the site's 'site_command', not both")
    if "fences" not in fields:
        r.error(node, f"{field}.site_command", "the site's fence command cuts a host off: say whose ('fences: primary')")
    for other in ("stack", "capture_as"):
        if other in fields:
            r.error(fields[other][1], f"{field}.{other}", "does not apply with 'site_command' (it runs on this machine, "
                                                          "on no stack's Docker engine, and its output is not a value)")


def _step(r: _Reader, node: Node, field: str, section_id: str, choices: dict[str, Choice],
          seen: dict[str, int]) -> Step | None:
    fields = r.mapping(node, field, set(_STEP_FIELDS))
    if fields is None:
        return None
    errors_before = len(r.errors)
    step_id, title, type_ = (r.required(fields, name, node, field) for name in ("id", "title", "type"))
    sid = r.text(step_id, f"{field}.id") if step_id is not None else None
    if step_id is not None and sid is not None:
        if not _ID.match(sid):
            r.error(step_id, f"{field}.id", "use lower-case letters, digits and dashes")
        elif sid in seen:
            r.error(step_id, f"{field}.id", f"duplicate step id '{sid}' (first on line {seen[sid]})")
        else:
            seen[sid] = step_id.start_mark.line + 1
    step_type = None
    if type_ is not None:
        t = r.text(type_, f"{field}.type")
        try:
            step_type = StepType(t) if t is not None else None
        except ValueError:
            r.error(type_, f"{field}.type", f"unknown step type '{t}' (expected one of: {', '.join(s.value for s in StepType)})")
    values: dict[str, Any] = {}  # each field's value as _value read it for its kind (_STEP_FIELDS)
    for name, (key_node, value_node) in fields.items():
        kind, applies = _STEP_FIELDS[name]
        f = f"{field}.{name}"
        if step_type is not None and applies is not None and step_type not in applies:
            r.error(key_node, f, f"'{name}' does not apply to a {step_type.value} step")
            continue
        values[name] = _value(r, kind, value_node, f, choices)
    if step_type is not None:
        for name in _REQUIRED_BY_TYPE[step_type]:
            if name not in fields and not (name == "command" and "site_command" in fields):
                r.error(node, f"{field}.{name}", f"missing required field '{name}' for a {step_type.value} step")
    risk = Risk.NORMAL
    if isinstance(values.get("risk"), str):
        try:
            risk = Risk(values["risk"])
        except ValueError:
            r.error(fields["risk"][1], f"{field}.risk",
                    f"unknown risk '{values['risk']}' (expected normal, destructive, arming or disarming)")
    if step_type is StepType.CHOICE and isinstance(values.get("choice"), str) and values["choice"] not in choices:
        r.error(fields["choice"][1], f"{field}.choice", f"unknown choice '{values['choice']}' (declared: {', '.join(choices) or 'none'})")
    if step_type is StepType.ENV_EDIT and ("set" in fields) == ("align_with" in fields):
        r.error(node, f"{field}.set", "an env_edit step needs either 'set' (the keys it writes) or 'align_with' "
                                      "(the .env whose shared keys it copies), not both" if "set" in fields else
                "missing required field 'set' (or 'align_with') for a env_edit step")
    for name in _SHELL_FIELDS:
        if isinstance(values.get(name), str):
            _shell_placeholders(r, fields[name][1], f"{field}.{name}", values[name])
    port = values.get("broker_port")
    if isinstance(port, str) and not placeholders(port) and not (port.isdigit() and 0 < int(port) < 65536):
        r.error(fields["broker_port"][1], f"{field}.broker_port", f"{port!r} is not a port number (1 to 65535) or a {{{{variable}}}}")
    stack = values.get("stack")
    for name in ("stack", "fences"):
        if isinstance(values.get(name), str) and values[name] not in ("primary", "standby"):
            r.error(fields[name][1], f"{field}.{name}", f"unknown stack '{values[name]}' (expected primary or standby)")
    for name in ("command", "lab_command"):
        # A docker command runs on some engine: which one is the step's to say (on a site the two
        # stacks live on two hosts, and the console's own engine is neither).
        if isinstance(values.get(name), str) and _DOCKER_WORD.search(values[name]) and stack is None:
            r.error(fields[name][1], f"{field}.{name}", "runs docker but names no stack: add 'stack: primary' or "
                                                       "'stack: standby' (the engine it acts on)")
    if "site_command" in fields:
        _site_command(r, fields, field, values)
    for earlier in values.get("supersedes") or ():
        if earlier not in seen or earlier == sid:
            r.error(fields["supersedes"][1], f"{field}.supersedes",
                    f"'{earlier}' is not the id of an earlier step (a step supersedes what was done before it)")
    if len(r.errors) > errors_before or step_type is None or sid is None:
        return None
    return Step(
        id=sid, title=title.value if isinstance(title, ScalarNode) else "", type=step_type, section_id=section_id,
        line=node.start_mark.line + 1, text=values.get("text") or "", risk=risk,
        guards=tuple(values.get("guards") or ()), done_when=values.get("done_when"),
        affects=tuple(values.get("affects") or ()), when=tuple(values.get("when") or ()),
        optional=bool(values.get("optional", False)), confirm_at_room=bool(values.get("confirm_at_room", False)),
        end_to_end=bool(values.get("end_to_end", False)), stack=values.get("stack"), fences=values.get("fences"),
        timeout_s=float(values.get("timeout_s", 120.0)),
        command=values.get("command"), site_command=values.get("site_command"), capture_as=values.get("capture_as"),
        condition=values.get("condition"),
        lab_command=values.get("lab_command"), file=values.get("file"),
        set_values=tuple((values.get("set") or {}).items()), align_with=values.get("align_with"),
        require=tuple((values.get("require") or {}).items()),
        broker_host=values.get("broker_host"), broker_port=values.get("broker_port"),
        credentials_from=values.get("credentials_from"), device=values.get("device"), action=values.get("action"),
        params=values.get("params"), paper_command=values.get("paper_command"), choice=values.get("choice"),
        expect_core=values.get("expect_core"), supersedes=tuple(values.get("supersedes") or ()),
    )


_SHELL_FIELDS = ("command", "lab_command", "paper_command")  # bash runs them (the plan prints them)


def _shell_placeholders(r: _Reader, node: Node, field: str, command: str) -> None:
    """A placeholder where no quoting keeps its value one inert word is refused, on its own line."""
    from runbook_tui.checklist.shell_words import problems

    for name, why, offset in problems(command):
        line = node.start_mark.line + 1
        if getattr(node, "style", None) == "|":  # a literal block: its lines are the command's
            line += 1 + command.count("\n", 0, offset)
        r.errors.append(ChecklistError(r.path, line, field, f"{{{{{name}}}}} {why}; a value there could run as "
                                       "code (write the placeholder bare, or inside \"...\" or '...')"))


# What a step's field holds once read, by its kind in _STEP_FIELDS (None: unreadable, an error said why).
FieldValue = str | bool | float | tuple[str, ...] | dict[str, str] | list[tuple[str, tuple[str, ...]]] | None


def _value(r: _Reader, kind: str, node: Node, field: str, choices: dict[str, Choice]) -> FieldValue:
    if kind == "str":
        return r.text(node, field)
    if kind == "name":
        value = r.text(node, field, track=False)
        if value is not None and not _NAME.match(value):
            r.error(node, field, "expected a variable name")
        return value
    if kind == "bool":
        if not isinstance(node, ScalarNode) or node.tag != _BOOL:
            r.error(node, field, f"expected true or false, found {_kind(node)}")
            return False
        return node.value.lower() in ("true", "yes", "on")
    if kind == "number":
        if not isinstance(node, ScalarNode) or node.tag not in (_INT, _FLOAT) or not _SECONDS.match(node.value):
            r.error(node, field, f"expected a number of seconds (e.g. 90 or 1.5), found "
                                 f"{repr(node.value) if isinstance(node, ScalarNode) else _kind(node)}")
            return 120.0
        seconds = float(node.value)
        if not 0 < seconds <= MAX_TIMEOUT_S:
            r.error(node, field, f"must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
        return seconds
    if kind in ("cond", "condlist"):
        items = [(r.text(node, field, track=False), node)] if kind == "cond" else [
            (v, n) for v, n in r.text_list(node, field)]
        for value, item in items:
            if value is not None and value not in CONDITIONS:
                r.error(item, field, f"unknown condition '{value}' (known: {', '.join(sorted(CONDITIONS))})")
        return items[0][0] if kind == "cond" else tuple(v for v, _ in items if v)
    if kind == "strlist":
        return tuple(v for v, _ in r.text_list(node, field))
    if kind == "strmap":
        out: dict[str, str] = {}
        if isinstance(node, MappingNode) and not node.value:
            r.error(node, field, "empty: give at least one KEY: value")
        for key, (_k, value_node) in (r.mapping(node, field) or {}).items():
            if not _NAME.match(key):
                r.error(_k, f"{field}.{key}", "expected a variable name")
            value = r.text(value_node, f"{field}.{key}")
            if value is not None:
                out[key] = value
        return out
    if kind == "when":
        when: list[tuple[str, tuple[str, ...]]] = []
        for cid, (key_node, value_node) in (r.mapping(node, field) or {}).items():
            if cid not in choices:
                r.error(key_node, f"{field}.{cid}", f"unknown choice '{cid}' (declared: {', '.join(choices) or 'none'})")
                continue
            allowed = []
            if isinstance(value_node, SequenceNode) and not value_node.value:
                r.error(value_node, f"{field}.{cid}", "an empty list: the step would never apply (list its options)")
            for option, item in r.text_list(value_node, f"{field}.{cid}"):
                if option not in choices[cid].options:
                    r.error(item, f"{field}.{cid}", f"'{option}' is not an option of {cid} ({', '.join(choices[cid].options)})")
                allowed.append(option)
            when.append((cid, tuple(allowed)))
        return when
    raise AssertionError(kind)
