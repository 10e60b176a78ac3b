"""`runbook-tui validate`, `plan` and `report`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist
from runbook_tui.checklist.plan import render_plan
from runbook_tui.cli.args import add_settings_arg, default_stack_root, room_arg, var_pairs
from runbook_tui.errors import UsageError
from runbook_tui.observe.payloads import safe_text

# Everything these commands print quotes a checklist, settings or a journal, which anyone may
# have written: no line reaches the terminal (or a report file) with a control character.
_NO_CUT = 1 << 62


def _say(text: str, file=None, end: str = "\n") -> None:
    print(safe_text(text, _NO_CUT), file=file or sys.stdout, end=end)


def add_checklist_commands(sub: argparse._SubParsersAction) -> None:
    validate = sub.add_parser("validate", help="check checklist files; errors name file, line and field")
    validate.add_argument("files", nargs="+", type=Path)
    validate.set_defaults(handler=_validate)
    plan = sub.add_parser("plan", help="print every step with its resolved command (dry run, paper fallback)")
    plan.add_argument("file", type=Path)
    plan.add_argument("--room", required=True, type=room_arg)
    plan.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="set a variable")
    plan.add_argument("--choice", action="append", default=[], metavar="CHOICE=OPTION", help="e.g. controller_reach=B")
    plan.add_argument("--stack-root", type=Path, default=None)
    add_settings_arg(plan)
    plan.set_defaults(handler=_plan)
    report = sub.add_parser("report", help="write a run's after-action report (Markdown) from its journal")
    report.add_argument("journal", type=Path)
    report.add_argument("-o", "--output", type=Path, help="write to this file (default: standard output)")
    report.set_defaults(handler=_report)


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            c = load_checklist(path)
        except ChecklistInvalid as exc:
            failed += 1
            for error in exc.errors:
                _say(str(error), file=sys.stderr)
            continue
        procedures = f", {len(c.procedures)} non-normal procedures" if c.procedures else ""
        _say(f"{path}: ok: {c.name} {c.revision}, {len(c.steps())} steps{procedures}, sha256 {c.sha256[:12]}")
    return 1 if failed else 0


def _plan(args: argparse.Namespace) -> int:
    try:
        checklist = load_checklist(args.file)
    except ChecklistInvalid as exc:
        for error in exc.errors:
            _say(str(error), file=sys.stderr)
        return 1
    from runbook_tui.settings import lab_defaults, load_settings

    settings = load_settings(args.settings) if args.settings else lab_defaults()  # SettingsError: said, exit 2
    if args.room not in settings.venue_rooms() and args.room not in settings.rooms:
        # A new room is planned before it exists; a mistyped one should not pass unnoticed.
        _say(f"runbook-tui plan: note: {args.room} has no stacks in {settings.stack_root / 'infra' / 'rooms'}"
              + ("" if settings.source is None else f" and no [rooms.{args.room}] in {settings.source}")
              + " (a new room? runbook section 1 creates it)", file=sys.stderr)
    settings = settings.for_room(args.room)
    site = {k: v for k, v in settings.variables.items() if k in checklist.variables}
    # A value that cannot be used (--var, --choice, a variable without a value, one that leaves
    # the stack root) raises a UsageError: said by the command line, exit 2.
    given = {"room": args.room} | site | var_pairs(args.var)
    choices = var_pairs(args.choice, "--choice")
    known = "; ".join(f"{k}: {'/'.join(c.options)}" for k, c in checklist.choices.items()) or "none"
    for cid, option in choices.items():
        if cid not in checklist.choices or option not in checklist.choices[cid].options:
            raise UsageError(f"--choice {cid}={option}: not a choice of {args.file.name} ({known})")
    root = args.stack_root or (settings.stack_root if args.settings else default_stack_root())
    _say(render_plan(checklist, given, root, choices, lab=settings.lab, settings=settings.described_as,
                     docker_hosts=settings.docker_hosts, fence_command=settings.fence_command), end="")
    return 0


def _report(args: argparse.Namespace) -> int:
    # Here, not at the top: the report reads the journal's typed records (a few dozen dataclasses,
    # 70 ms to define), which validate and plan, run far more often, never need.
    from runbook_tui.engine.report import render_report

    try:
        text = safe_text(render_report(args.journal), _NO_CUT)
        if args.output:
            args.output.write_text(text)
            _say(f"wrote {args.output}")
        else:
            _say(text, end="")
    except OSError as exc:
        _say(f"runbook-tui report: {exc.filename or args.journal}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except (ValueError, KeyError, TypeError) as exc:
        _say(f"runbook-tui report: {args.journal}: not a readable run journal ({exc.__class__.__name__}: {exc})",
             file=sys.stderr)
        return 1
    return 0
