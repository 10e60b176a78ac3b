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
from typing import TYPE_CHECKING

from runbook_tui.cli.args import add_settings_arg, room_arg

if TYPE_CHECKING:  # the journal's records load when a drill starts, not with the command line
    from runbook_tui.engine.records import RunStarted


def add_drill_command(sub: argparse._SubParsersAction) -> None:
    drill = sub.add_parser("drill", help="a training drill: the lab room with a fault, and the checklist it is met in")
    drill.add_argument("room", nargs="?", type=room_arg, default="room1")
    drill.add_argument("--scenario", help="the fault to start with (see --list)")
    drill.add_argument("--list", action="store_true", help="list the scenarios")
    add_settings_arg(drill)
    drill.add_argument("--trainee", help="who runs the drill: the report compares with their earlier drills (default: $USER); "
                       "a drill with a trainee is blind unless --no-blind")
    drill.add_argument("--blind", action=argparse.BooleanOptionalAction, default=None,
                       help="the trainee's screens (console, floor view) and this command's words say DRILL, never the "
                            "scenario; the trainer sees it with 'runbook-tui lab status' (default: blind with --trainee)")
    drill.add_argument("--start-over", action="store_true",
                       help="close the room's unfinished run without asking (the drill resets the room)")
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


def blind_wanted(args: argparse.Namespace) -> bool:
    """Blind unless told: a drill run for a named trainee hides its scenario from them."""
    return args.blind if args.blind is not None else bool(args.trainee)


def drill_options(scenario: str, blind: bool) -> dict:
    """What a drill's session takes from its scenario: blind or not, and the steps its fault is
    known to fail (the fault showing itself, not the trainee's mistake)."""
    from runbook_tui.lab.faults import FAULTS

    return {"blind": blind, "drill_symptoms": FAULTS[scenario].symptoms}


def _unfinished_runs(stack_root, room: str) -> list[tuple[str, RunStarted]]:
    """The room's runs that never ended, newest last: (journal path, run_started) each. Resetting
    the room closes them (lab down --purge). One closed before any step changed is left out: the
    console does not offer it for resuming either (a new run is the same thing)."""
    from pathlib import Path

    from runbook_tui.engine import records as rec
    from runbook_tui.engine.journal import ended, journal_order, read_journal
    from runbook_tui.stacks import default_runs_dir

    out = []
    for path in sorted(Path(default_runs_dir(stack_root)).glob(f"{room}-*.jsonl"), key=journal_order):
        try:
            records = read_journal(path).records
        except OSError:
            continue
        started = rec.first(records, rec.RunStarted)
        if started is not None and started.room == room and not ended(records) \
                and any(rec.is_kind(r, rec.StepStateRecord) for r in records):
            out.append((str(path), started))
    return out


def _confirm_start_over(args: argparse.Namespace, settings) -> None:
    """A drill quit midway is the trainee's run still: starting the room over closes it for good.
    Asked at a terminal; refused without one, with the commands that resume it or close it."""
    import time

    from runbook_tui.cli.args import CommandError

    runs = _unfinished_runs(settings.stack_root, args.room)
    if not runs or args.start_over:
        return
    path, started = runs[-1]
    what = ("a blind drill" if started.blind else f"drill {started.drill}") if started.drill else "a run"
    where = f" --settings {shlex.quote(str(settings.source.resolve()))}" if settings.source else ""
    said = (f"{args.room} has an unfinished run: {what} by {started.operator or '?'}, started "
            f"{time.strftime('%H:%M', time.localtime(started.ts))} ({path}). Starting this drill resets the room "
            f"and closes that run for good. Resume it with: runbook-tui{where} --resume {shlex.quote(path)}")
    if not sys.stdin.isatty():
        trainee = f" --trainee {shlex.quote(args.trainee)}" if args.trainee else ""
        raise CommandError(f"{said}; or close it and start over with: runbook-tui{where} drill {args.room} "
                           f"--scenario {args.scenario}{trainee} --start-over")
    answer = input(f"{said}\nClose it and start this drill over? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("nothing was changed: the room and its unfinished run are as they were")


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
    blind = blind_wanted(args)
    lab = Lab(settings.stack_root, print, DnsSettings(port=settings.resolvers[0][1]))
    if (role := faults.FAULTS[args.scenario].on_lab_engine) is not None:
        # The room starts over with that stack on the lab's own engine (the one engine the lab
        # may stop), whatever its placement was: the trainer asked for this drill, not for a setup.
        if (refused := _lab_engine_refused(settings, lab, args.room, role)) is not None:
            raise CommandError(refused)
        lab.two_engines, lab.lab_engine_role = True, role
    _confirm_start_over(args, settings)  # after the refusals that need no answer, before anything changes
    lab.reset(args.room)  # a lab step that fails raises LabError: said by the command line, exit 1
    if blind:
        # What the fault did stays off this terminal: the trainee reads it before the TUI opens
        # and again when it closes. The fault log keeps it for the trainer (lab status).
        lab.report = lambda _m: None
        faults.inject(lab, args.room, args.scenario)
        print(f"DRILL in {args.room}: a fault is in the room (blind: the trainer sees which with "
              f"runbook-tui lab status)")
    else:
        print(f"drill {args.scenario}: {faults.inject(lab, args.room, args.scenario)}")
    if settings.source is None:
        from runbook_tui.settings import lab_defaults

        settings = lab_defaults()  # the lab's settings name each stack's engine as the reset placed it
    settings = drill_settings(settings, args.scenario)
    if not sys.stdout.isatty():
        trainee = f" --operator {args.trainee}" if args.trainee else ""
        where = f" --settings {shlex.quote(str(settings.source.resolve()))}" if settings.source else ""
        # Blind, the command names no scenario: the TUI takes it from the room's fault log.
        which = " --blind" if blind else f" --drill {args.scenario}"
        print(f"open the checklist with: runbook-tui{where} --room {args.room}{which}{trainee}")
        return 0
    from runbook_tui.session import Session

    session = Session(settings, args.room, settings.checklist, drill=args.scenario, operator=args.trainee,
                      **drill_options(args.scenario, blind))
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
