"""runbook-tui: validate and plan checklists, run the training lab."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from runbook_tui.checklist_cli import add_checklist_commands
    from runbook_tui.lab.cli import add_lab_commands

    parser = argparse.ArgumentParser(prog="runbook-tui", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_checklist_commands(sub)
    add_lab_commands(sub)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.handler(args))
