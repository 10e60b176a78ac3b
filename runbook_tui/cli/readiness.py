"""`runbook-tui readiness`: is every room's standby ready (runbook section 5)? For cron and monitoring."""

from __future__ import annotations

import argparse
import json

from runbook_tui.cli.args import add_settings_arg, room_arg

PARTS = frozenset({"files", "docker:primary", "docker:standby", "broker:primary", "broker:standby"})


def add_readiness_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("readiness", help="is each room's standby ready (runbook 5)? exit 0 when every one is")
    p.add_argument("rooms", nargs="*", type=room_arg,
                   help="rooms to check (default: the settings' [rooms.*] and every room in the stack root)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_settings_arg(p)
    p.set_defaults(handler=_readiness)


def _readiness(args: argparse.Namespace) -> int:
    from runbook_tui.cli.args import CommandError, command_settings
    from runbook_tui.observe.observer import Observer
    from runbook_tui.observe.site import room_site
    from runbook_tui.rules.readiness import readiness

    settings = command_settings(args)
    rooms = args.rooms or settings.venue_rooms()
    if not rooms:
        raise CommandError(f"no rooms: none in {settings.stack_root / 'infra' / 'rooms'}, and no [rooms.*] in the settings")
    results = []
    for room in rooms:
        results.append(readiness(Observer(room_site(settings.for_room(room))).look(PARTS)))
    if args.json:
        print(json.dumps([{"room": r.room, "ready": r.ready, "active": r.active, "active_detail": r.active_detail,
                           "fixes_run_from": str(settings.stack_root),
                           "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix} for c in r.checks]}
                          for r in results], indent=2))
    else:
        for r in results:
            print(f"{r.room}: {'READY' if r.ready else 'NOT READY'}")
            # After a promotion the standby is the active stack, and the checks judge the pair so.
            print(f"  active: {r.active} ({r.active_detail})")
            for c in r.checks:
                mark = {True: "ok  ", False: "FAIL", None: "info"}[c.ok]
                print(f"  {mark} {c.name}: {c.detail}")
                if c.ok is False and c.fix:
                    # The runbook's commands run from the stack root, as the TUI runs them.
                    print(f"       fix, from {settings.stack_root}: {c.fix}")
    return 0 if all(r.ready for r in results) else 1
