"""runbook-tui: the warm-standby runbook as a full-screen checklist, and its tools."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runbook_tui.errors import EXIT_HELD, EXIT_USAGE, RunbookError, UsageError


def main(argv: list[str] | None = None) -> int:
    """Every command; an internal error is said in a line and a masked file, never as a traceback."""
    try:
        return _main(argv)
    except RunbookError as exc:  # raised before a command was chosen
        return said(exc)
    except KeyboardInterrupt:
        print("runbook-tui: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback on the operator's screen
        from runbook_tui.cli.args import default_stack_root
        from runbook_tui.crash import report_crash, secret_masker

        return report_crash(exc, secret_masker(default_stack_root()))


def said(exc: RunbookError, command: str | None = None) -> int:
    """The one place an error the tool means to say ends a command: its words after the
    command's name on standard error (made safe: they quote files and values), its exit code."""
    from runbook_tui.terminal import safe_text

    prog = f"runbook-tui {command}" if command else "runbook-tui"
    print(safe_text(f"{prog}: {exc.in_words()}", 1 << 20), file=sys.stderr)
    return exc.exit_code


def run_room(session, resume: bool | Path | None, procedure: tuple[str, str] | None = None):
    """A room's run in the TUI, from a Session or a SessionOpener (opened after the first frame);
    procedure: (id, what its trigger saw), raised at the venue, queued and opened once the run is on screen.
    Returns (exit status or None, the open Session or None): EXIT_CRASH (said) when it stopped on
    an internal error, 2 (said) when the opener's checklist did not load; what the run left
    (journal, resume command) is the session's farewell."""
    from runbook_tui.session import SessionOpener
    from runbook_tui.ui.app import RunbookApp

    app = RunbookApp(session, resume=resume, procedure=procedure)
    try:
        app.run()
    finally:
        session.release()  # the room is free for another console from here on
        if app.session is not session:
            app.session.release()
    if app.open_error is not None:
        return _open_error(app.open_error), None
    opened = None if isinstance(app.session, SessionOpener) else app.session  # None: quit before it opened
    return _crashed(app, opened), opened


def _open_error(exc: Exception) -> int:
    """What stopped the app opening the run (a checklist or variable that does not load, the room
    held), said on the command line: exit status 2, or 75 for a held room."""
    if isinstance(exc, RunbookError):
        return said(exc)
    print(f"runbook-tui: {exc}", file=sys.stderr)  # a value refused in words by a part not yet of the family
    return EXIT_USAGE


def _crashed(app, session=None) -> int | None:
    """After an app ran: EXIT_CRASH and the short message when it stopped on an internal error."""
    if getattr(app, "crash_error", None) is None:
        return None
    from runbook_tui.crash import EXIT_CRASH, crash_message

    resume = ""
    if session is not None and session.engine is not None:
        resume = f"runbook-tui report {session.engine.journal.path}; resume with {session.resume_command()}"
    print(crash_message(app.crash_file, app.crash_error, resume), file=sys.stderr)
    return EXIT_CRASH


def _main(argv: list[str] | None = None) -> int:
    from runbook_tui.cli.args import room_arg
    from runbook_tui.cli.checklist import add_checklist_commands
    from runbook_tui.cli.drill import add_drill_command
    from runbook_tui.cli.floor import add_floor_command
    from runbook_tui.cli.images import add_image_command
    from runbook_tui.cli.lab import add_lab_commands
    from runbook_tui.cli.readiness import add_readiness_command

    parser = argparse.ArgumentParser(
        prog="runbook-tui", description=__doc__,
        epilog="Without a command it opens the TUI: runbook-tui [--room ROOM] [--checklist FILE] [--settings FILE] "
               "[--resume [JOURNAL] | --new-run] [--operator NAME] [--var NAME=VALUE] [--drill SCENARIO]. "
               "One console acts on a room: another console on it is refused, naming who holds it.")
    parser.add_argument("--room", type=room_arg, help="room id (default: the settings' room, else room1)")
    parser.add_argument("--checklist", type=Path, help="checklist file (default: checklists/promotion.yaml)")
    parser.add_argument("--settings", type=Path, default=os.environ.get("RUNBOOK_TUI_SETTINGS") or None,
                        help="site settings file (default: $RUNBOOK_TUI_SETTINGS; none: the training lab)")
    parser.add_argument("--operator", help="the name the journal records for this run's decisions (default: $USER)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="set a checklist variable (e.g. smoke_device=door1); wins over the settings' [variables]")
    parser.add_argument("--drill", metavar="SCENARIO", help="this run is a training drill of SCENARIO (its fault injected "
                        "separately, e.g. by 'runbook-tui drill' without a terminal); the journal and report say so")
    # Its own dest: the drill command's --blind (default: blind with a trainee) is another option.
    parser.add_argument("--blind", dest="blind_drill", action="store_true",
                        help="a blind drill (the header says DRILL, never the scenario); without --drill, of the "
                             "fault the lab put in the room last ('runbook-tui drill' without a terminal prints it so)")
    which_run = parser.add_mutually_exclusive_group()  # both at once would leave the choice to the code's order
    which_run.add_argument("--new-run", action="store_true", help="start a new run even if an unfinished one exists "
                           "(the unfinished one is then abandoned)")
    # A path after --resume reopens that run, any unfinished one of the room, not only the newest.
    which_run.add_argument("--resume", nargs="?", const=True, type=Path, metavar="JOURNAL",
                           help="resume the room's unfinished run without asking; with JOURNAL, that run "
                                "(its room and checklist are the journal's)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_checklist_commands(sub)
    add_drill_command(sub)
    add_lab_commands(sub)
    add_readiness_command(sub)
    add_image_command(sub)
    add_floor_command(sub)
    args = parser.parse_args(argv)
    try:
        if getattr(args, "handler", None):
            return int(args.handler(args))
        return open_tui(args)
    except RunbookError as exc:
        return said(exc, args.command)


def _fault_in_the_room(settings, room: str) -> str:
    """The scenario of a blind drill opened without naming it: the fault the lab injected last in
    ROOM and has not healed (its fault log), so that the command a trainee is given names none."""
    from runbook_tui.lab.dns_server import DnsSettings
    from runbook_tui.lab.faults import FAULTS
    from runbook_tui.lab.lab import Lab

    faults = Lab(settings.stack_root, lambda _m: None, DnsSettings(port=settings.resolvers[0][1])).faults_in(room)
    named = [f for f, _ts in sorted(faults.items(), key=lambda kv: kv[1]) if f in FAULTS]
    if not named:
        raise UsageError(f"--blind without --drill: no fault is in {room} (start the drill with: runbook-tui drill {room} "
                         "--scenario NAME --trainee NAME)")
    return named[-1]


def open_tui(args: argparse.Namespace) -> int:
    """The TUI on a room. Only the settings are read before the app starts: the app draws its
    first frame, then opens the checklist and the engine (ui.app), so that an operator sees the
    screen at once. A checklist that does not load is said here all the same, after the app."""
    from runbook_tui.cli.args import var_pairs
    from runbook_tui.engine.room_hold import RoomHeld
    from runbook_tui.session import SessionOpener, run_to_resume
    from runbook_tui.settings import lab_defaults, load_settings

    # What cannot be used (the settings, --resume, --var, a drill) raises a UsageError: said by main().
    settings = load_settings(args.settings) if args.settings else lab_defaults()
    if isinstance(args.resume, Path):  # --resume JOURNAL: its room and checklist unless given
        target = run_to_resume(args.resume)
        if args.room and args.room != target.room:
            raise UsageError(f"--resume {args.resume} is a run of {target.room}, not of --room {args.room}")
        args.room = target.room
        args.checklist = args.checklist or target.checklist
    drill_run: dict = {}
    if args.blind_drill and not args.drill:
        args.drill = _fault_in_the_room(settings, args.room or settings.room or "room1")
    if args.drill:
        from runbook_tui.cli.drill import drill_options, drill_settings
        from runbook_tui.lab.faults import FAULTS

        if args.drill not in FAULTS:
            raise UsageError(f"no drill scenario {args.drill!r} (see: runbook-tui drill --list)")
        settings = drill_settings(settings, args.drill)
        drill_run = drill_options(args.drill, args.blind_drill)
    room = args.room or settings.room
    if room is None and not args.drill and not args.checklist:
        rooms = settings.venue_rooms()
        if len(rooms) > 1:  # a venue: the operator's first question is which rooms, and are they ready
            return _open_venue(args, settings, rooms)
        room = rooms[0] if rooms else None
    opener = SessionOpener(settings, room or "room1", args.checklist or settings.checklist,
                           drill=args.drill, operator=args.operator, variables=var_pairs(args.var), **drill_run)
    if not sys.stdout.isatty():
        # Without a terminal nothing is drawn: what is wrong with the checklist is said first.
        opener.open()
        raise UsageError("the TUI needs a terminal (for a printable checklist: runbook-tui plan)")
    try:
        # Before the first frame: a room another console holds is refused here, with who holds
        # it, and no run of it (new, resumed or abandoned) is touched.
        opener.claim()
    except RoomHeld as exc:
        return _held(exc, settings)
    resume = args.resume if isinstance(args.resume, Path) else (True if args.resume else (False if args.new_run else None))
    code, session = run_room(opener, resume)
    if code is not None:
        return code
    if session is None:
        return 0  # quit before the checklist opened: no run was started
    farewell = session.farewell()  # where the journal is, and whether the run can be resumed
    if farewell:
        print(farewell)
    return 0


def _held(exc, settings) -> int:
    """A room another console holds: who, and how to reopen its run once that console is closed."""
    print(f"runbook-tui: {exc}", file=sys.stderr)
    if exc.holder is not None and exc.holder.journal:
        print(f"Once it is closed, its run reopens with: {reopen_command(settings, exc.holder.journal)}", file=sys.stderr)
    return EXIT_HELD


def reopen_command(settings, journal: str) -> str:
    """The command that reopens a named run (its room and checklist are the journal's)."""
    import shlex

    words = ["runbook-tui"]
    if settings.source is not None:
        words += ["--settings", str(settings.source.resolve())]
    return shlex.join(words + ["--resume", str(journal)])


def _open_venue(args: argparse.Namespace, settings, rooms: list[str]) -> int:
    """The venue view; a room opened from it runs in the runbook app, and quitting that comes
    back to the venue. What each run left (journal, resume line) is printed at the end."""
    from runbook_tui.cli.args import var_pairs
    from runbook_tui.engine.room_hold import RoomHeld
    from runbook_tui.session import Session

    if not sys.stdout.isatty():
        raise UsageError("the venue view needs a terminal (for the standbys' readiness: runbook-tui readiness)")
    from runbook_tui.ui.venue import VenueApp

    notice, selected = "", None
    farewells: dict[Path, str] = {}  # by journal, in the order the runs were last left
    while True:
        venue = VenueApp(settings, rooms, notice, selected=selected)
        choice = venue.run()
        if (code := _crashed(venue)) is not None:
            return code
        notice = ""
        if choice is None:
            break
        selected = choice.room
        try:
            session = Session(settings, choice.room, choice.checklist, operator=args.operator, variables=var_pairs(args.var))
            session.claim()  # one console acts on a room: one held elsewhere is said at the venue
        except RoomHeld as exc:
            notice = str(exc)  # it names the room
            continue
        except RunbookError as exc:
            notice = f"{choice.room}: {exc.in_words()}"
            continue
        procedure = (choice.procedure, choice.detail) if choice.procedure else None
        if (code := run_room(session, None, procedure)[0]) is not None:
            return code
        if session.engine is not None and (farewell := session.farewell()):
            # A run opened again from the venue is said once, as it was last left.
            farewells.pop(session.engine.journal.path, None)
            farewells[session.engine.journal.path] = farewell
    if farewells:
        print("\n\n".join(farewells.values()))
    else:
        print(f"Settings: {settings.described_as}")
    return 0
