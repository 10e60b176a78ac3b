"""`runbook-tui drill ROOM --scenario NAME`: a training drill on the lab.

Starts the room over (the runbook's starting state), injects the scenario's fault and opens
the scenario's checklist (the promotion, or keeping the standby current) in drill mode; the journal times the run. A trainer can inject more
from a second terminal with `runbook-tui lab fault ROOM NAME`. A scenario whose host dies
(primary-host-lost) starts the room over with that stack on the lab's own engine, the one engine
the lab may stop; it refuses while another room lives there too.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys

from runbook_tui.cli.args import add_settings_arg, room_arg


def add_drill_command(sub: argparse._SubParsersAction) -> None:
    drill = sub.add_parser("drill", help="a training drill: the lab room with a fault, and the checklist it is met in")
    drill.add_argument("room", nargs="?", type=room_arg, default="room1")
    drill.add_argument("--scenario", help="the fault to start with (see --list)")
    drill.add_argument("--list", action="store_true", help="list the scenarios")
    add_settings_arg(drill)
    drill.add_argument("--trainee", help="who runs the drill: the report compares with their earlier drills (default: $USER)")
    drill.set_defaults(handler=_drill)


def drill_settings(settings, scenario: str):
    """The settings a drill's TUI runs with: the scenario's checklist (the work in which the
    fault is met on site); for resolvers-disagree it asks both resolvers, as on site."""
    from runbook_tui.lab.faults import FAULTS
    from runbook_tui.settings import TOOL_ROOT

    settings = dataclasses.replace(settings, checklist=TOOL_ROOT / "checklists" / FAULTS[scenario].checklist)
    if scenario == "resolvers-disagree":
        host, port = settings.resolvers[0]
        return dataclasses.replace(settings, resolvers=((host, port), (host, port + 1)))
    return settings


def _drill(args: argparse.Namespace) -> int:
    from runbook_tui.lab import faults

    if args.list or not args.scenario:
        for f in faults.FAULTS.values():
            print(f"{f.name:24} {f.summary} ({f.checklist.removesuffix('.yaml')})")
        if not args.list:
            print("\nrunbook-tui drill: choose one with --scenario NAME", file=sys.stderr)
            return 2
        return 0
    from runbook_tui.cli.args import CommandError, lab_settings
    from runbook_tui.lab.dns_server import DnsSettings
    from runbook_tui.lab.lab import Lab

    if args.scenario not in faults.FAULTS:
        raise CommandError(f"no scenario {args.scenario!r} (see --list)")
    settings = lab_settings(args, "drill")  # a site's file is refused: said by the command line, exit 2
    lab = Lab(settings.stack_root, print, DnsSettings(port=settings.resolvers[0][1]))
    if (role := faults.FAULTS[args.scenario].on_lab_engine) is not None:
        # The room starts over with that stack on the lab's own engine (the one engine the lab
        # may stop), whatever its placement was: the trainer asked for this drill, not for a setup.
        if (refused := _lab_engine_refused(settings, lab, args.room, role)) is not None:
            raise CommandError(refused)
        lab.two_engines, lab.lab_engine_role = True, role
    lab.reset(args.room)  # a lab step that fails raises LabError: said by the command line, exit 1
    print(f"drill {args.scenario}: {faults.inject(lab, args.room, args.scenario)}")
    if settings.source is None:
        from runbook_tui.settings import lab_defaults

        settings = lab_defaults()  # the lab's settings name each stack's engine as the reset placed it
    settings = drill_settings(settings, args.scenario)
    if not sys.stdout.isatty():
        trainee = f" --operator {args.trainee}" if args.trainee else ""
        where = f" --settings {shlex.quote(str(settings.source.resolve()))}" if settings.source else ""
        print(f"open the checklist with: runbook-tui{where} --room {args.room} --drill {args.scenario}{trainee}")
        return 0
    from runbook_tui.session import Session

    session = Session(settings, args.room, settings.checklist, drill=args.scenario, operator=args.trainee)
    from runbook_tui.cli import run_room

    if (code := run_room(session, False)[0]) is not None:
        return code
    farewell = session.farewell()  # where the journal is, and whether the run can be resumed
    if farewell:
        print(farewell)
    return 0


def _lab_engine_refused(settings, lab, room: str, role: str) -> str | None:
    """Why the room cannot be set up with ROLE on the lab's engine (None: it can): another room
    lives there (it would die with the host), or a settings file names another engine for it
    (the console would look at the wrong host)."""
    from runbook_tui.lab.faults import engine_shared

    if (shared := engine_shared(lab, room)) is not None:
        return shared
    named = settings.for_room(room).docker_hosts.get(role)
    if settings.source is not None and named != lab.engine.url:
        return (f"the settings {settings.described_as} name {named or 'no engine'} as {room}'s [docker] {role}; this "
                f"drill puts it on the lab's engine: set [rooms.{room}.docker] {role} = \"{lab.engine.url}\" there, "
                f"or run the drill with the lab's defaults (no --settings)")
    return None
