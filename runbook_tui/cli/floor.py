"""`runbook-tui floor`: the floor view, served to a browser (a phone at the room).

It shows the room's open run as it happens and lets the person at the room confirm, by name,
the steps the checklist leaves to them; nothing else (no secrets, no commands, no actions).
It prints a link with a one-time token and its QR code; it serves until Ctrl-C, or until the
console closes it (w in the app). Each start draws a new token.
"""

from __future__ import annotations

import argparse

from runbook_tui.cli.args import add_settings_arg, room_arg
from runbook_tui.errors import RunbookError


def add_floor_command(sub: argparse._SubParsersAction) -> None:
    floor = sub.add_parser("floor", help="serve the floor view of a room's run to a browser (link with a one-time token)")
    floor.add_argument("room_name", nargs="?", type=room_arg, metavar="ROOM",
                       help="the room (default: --room, the settings' room, or the only room)")
    floor.add_argument("--listen", metavar="ADDRESS:PORT", help="where to listen (default: the settings' [floor] listen, "
                       "else 127.0.0.1:8470)")
    floor.add_argument("--close", action="store_true", help="close the room's floor view (its links stop working)")
    add_settings_arg(floor)
    floor.set_defaults(handler=_floor)


def _floor(args: argparse.Namespace) -> int:
    from runbook_tui.cli.args import CommandError, command_settings
    from runbook_tui.settings import parse_resolver

    settings = command_settings(args)
    room = args.room_name or args.room or settings.room
    if room is None:
        rooms = settings.venue_rooms()
        if len(rooms) != 1:
            raise CommandError(f"which room? ({', '.join(rooms) or 'none found'}): runbook-tui floor ROOM")
        room = rooms[0]
    host, port = settings.floor_listen
    if args.listen:
        try:
            host, port = parse_resolver(args.listen)
        except ValueError as exc:
            raise CommandError(f"--listen: {exc}") from None
    from runbook_tui.engine.floor import close
    from runbook_tui.ui.floor_server import serve

    if args.close:
        closed = close(settings.for_room(room).runs_dir, room)
        print(f"the floor view of {room} is closed" if closed else f"no floor view of {room} serves")
        return 0
    try:
        return serve(settings.for_room(room).runs_dir, room, host, port, settings.floor_public_url,
                     say=lambda line: print(line, flush=True))
    except OSError as exc:
        raise RunbookError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                           f"(another port: runbook-tui floor {room} --listen ADDRESS:PORT)") from None
