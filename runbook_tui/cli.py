"""The runbook-tui command: lab management now; the TUI, validate, plan and report later."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from runbook_tui.lab.cli import add_lab_commands

    parser = argparse.ArgumentParser(prog="runbook-tui", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_lab_commands(sub)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.handler(args))
