"""`runbook-tui lab ...`: bring the training lab up, tear it down, look at it, repoint its DNS."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runbook_tui.cli.args import ROOM_PATTERN, add_settings_arg, default_stack_root, device_arg, lab_settings, room_arg
from runbook_tui.errors import EXIT_FAILED, EXIT_USAGE

if TYPE_CHECKING:
    from runbook_tui.lab.lab import Lab


def add_lab_commands(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="the training lab: up, reset, down, status, fault, power-cycle, dns point",
                         description="The training lab: on this machine's Docker engine and on a second engine of "
                                     "its own (started by 'up', stopped by 'down'), where RUNBOOK_LAB_TWO_ENGINES=1 "
                                     "or --two-engines places a room's standby.")
    lab.add_argument("--stack-root", type=Path, default=None, help="checkout holding infra/ and scripts/ (default: this one)")
    add_settings_arg(lab)
    lab.add_argument("--dns-port", type=int, default=int(os.environ.get("RUNBOOK_LAB_DNS_PORT", "5353")),
                     help="port of the lab's DNS server on 127.0.0.1 (default 5353)")
    cmds = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND", required=True)
    up = cmds.add_parser("up", help="build and start a room's two stacks, the DNS server and a controller")
    up.add_argument("room", nargs="?", default="room1", type=room_arg, help="room id (default room1)")
    up.add_argument("-v", "--verbose", action="store_true", help="show all of compose's build output")
    up.set_defaults(handler=_up)
    reset = cmds.add_parser("reset", help="start a room over: down with its directories, then up (the runbook's starting state)")
    reset.add_argument("room", type=room_arg)
    reset.set_defaults(handler=_reset)
    for command in (up, reset):
        command.add_argument("--two-engines", action="store_true", default=None,
                             help="place the room's standby on the lab's own Docker engine, as on a second host "
                                  "(default: RUNBOOK_LAB_TWO_ENGINES=1; a room keeps its placement until reset)")
        command.add_argument("--primary-on-lab-engine", action="store_true",
                             help="place the room's primary there instead: its host can then die (the lab's engine "
                                  "stopped) and power on again")
    down = cmds.add_parser("down", help="remove the lab's containers, networks, volumes and processes on both engines, "
                                        "and stop the lab's own engine")
    down.add_argument("rooms", nargs="*", type=room_arg, help="rooms to tear down (default: all lab rooms)")
    down.add_argument("--purge", action="store_true", help="also delete room directories the lab created")
    down.set_defaults(handler=_down)
    status = cmds.add_parser("status", help="what the lab is running")
    status.set_defaults(handler=_status)
    fault = cmds.add_parser("fault", help="inject a drill fault into a lab room (or heal it); 'list' lists them")
    fault.add_argument("room", help="room id, or 'list'")
    fault.add_argument("name", nargs="?", help="the fault")
    fault.add_argument("--heal", action="store_true", help="put the room back")
    fault.set_defaults(handler=_fault)
    cycle = cmds.add_parser("power-cycle", help="switch a room's simulated controller off and on again "
                            "(what the person at the room does to a stuck controller)")
    cycle.add_argument("room", type=room_arg)
    cycle.add_argument("device", nargs="?", default="sim1", type=device_arg, help="the controller (default sim1)")
    cycle.set_defaults(handler=_power_cycle)
    dns = cmds.add_parser("dns", help="the lab's DNS server")
    dns_cmds = dns.add_subparsers(dest="dns_command", metavar="DNS_COMMAND", required=True)
    point = dns_cmds.add_parser("point", help="point mqtt.ROOM at the primary or the standby broker")
    point.add_argument("room", type=room_arg)
    point.add_argument("role", choices=["primary", "standby"])
    point.add_argument("--resolver", metavar="ADDRESS:PORT",
                       help="the lab resolver to repoint, as 'lab status' lists them (default: the lab's own)")
    point.set_defaults(handler=_dns_point)


def _lab(args: argparse.Namespace) -> Lab:
    # The lab's modules here, not at the top: every command builds this parser, and they took a
    # third of the start of one that is not the lab's (validate, plan: 50 of 150 ms).
    from runbook_tui.lab.dns_server import DnsSettings
    from runbook_tui.lab.lab import Lab

    settings = lab_settings(args, "lab")  # refuses a site's settings file
    root = args.stack_root or (settings.stack_root if settings.source else default_stack_root())
    port = settings.resolvers[0][1] if settings.source else args.dns_port
    lab = Lab(root, print, DnsSettings(port=port), verbose=getattr(args, "verbose", False))
    if getattr(args, "two_engines", None):
        lab.two_engines = True
    if getattr(args, "primary_on_lab_engine", False):
        lab.two_engines, lab.lab_engine_role = True, "primary"
    return lab


def _guard(action: Callable[[], int | None]) -> int:
    """A lab command; what fails (LabError, a site's settings) is said by the command line. An
    interrupt names the command that shows what it left up. An action that returns nothing succeeded."""
    try:
        return action() or 0
    except KeyboardInterrupt:
        print("runbook-tui lab: interrupted; run 'runbook-tui lab status' to see what is up")
        return 130


def _up(args: argparse.Namespace) -> int:
    return _guard(lambda: _lab(args).up(args.room))


def _reset(args: argparse.Namespace) -> int:
    return _guard(lambda: _lab(args).reset(args.room))


def _down(args: argparse.Namespace) -> int:
    def run() -> int:
        leftovers = _lab(args).down(args.rooms or None, purge=args.purge)
        if leftovers:
            print("lab down: still present: " + ", ".join(leftovers))
            return EXIT_FAILED
        print("lab down: nothing left running")
        return 0
    return _guard(run)


def _status(args: argparse.Namespace) -> int:
    return _guard(lambda: print("\n".join(_lab(args).status())))


def _dns_point(args: argparse.Namespace) -> int:
    return _guard(lambda: print(_lab(args).dns_point(args.room, args.role, args.resolver)))


def _power_cycle(args: argparse.Namespace) -> int:
    return _guard(lambda: print(_lab(args).power_cycle_controller(args.room, args.device)))


def _fault(args: argparse.Namespace) -> int:
    from runbook_tui.lab import faults

    if args.room == "list":
        for f in faults.FAULTS.values():
            print(f"{f.name:24} {f.summary}")
        return 0
    if not ROOM_PATTERN.fullmatch(args.room) or not args.name:
        print("runbook-tui lab fault: usage: runbook-tui lab fault ROOM NAME [--heal] | runbook-tui lab fault list")
        return EXIT_USAGE
    return _guard(lambda: print((faults.heal if args.heal else faults.inject)(_lab(args), args.room, args.name)))
