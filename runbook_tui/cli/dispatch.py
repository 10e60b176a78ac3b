"""scripts/core-dispatch.sh: send one dispatch and print its flow (runbook 3.4).

The broker comes from MQTT_HOST, MQTT_PORT, MQTT_USERNAME and MQTT_PASSWORD, as in the
runbook, or from a stack's .env with --env-file (its MQTT_BIND_ADDR, MQTT_PORT and
credentials); the environment wins where both are given. The password is never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from runbook_tui.envfile import read_env
from runbook_tui.mqtt_contract import BrokerEndpoint, DispatchRequest, Topics
from runbook_tui.stacks import ROOM_PATTERN
from runbook_tui.terminal import first_control, guard_standard_streams

if TYPE_CHECKING:
    from runbook_tui.smoke_dispatch import FlowEvent

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        print(f"core-dispatch.sh: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="scripts/core-dispatch.sh",
        description="Send one dispatch through a room's broker and follow it to its result.",
        epilog="exit codes: 0 complete, 2 usage, 3 rejected, 4 timeout, 5 unreachable, 6 not authorized",
    )
    p.add_argument("--room", required=True, help="room id, e.g. room1")
    p.add_argument("--device", required=True, help="device id, e.g. door1 (the lab's simulated controller is sim1)")
    p.add_argument("--action", required=True, help="action, e.g. SET")
    given = p.add_mutually_exclusive_group()
    given.add_argument("--params", default="{}", help="JSON parameters (default {})")
    given.add_argument("--params-file", type=Path, metavar="FILE",
                       help="read the JSON parameters from FILE ('-': standard input), for parameters longer than a command line")
    p.add_argument("--id", help="request id (default: a fresh one)")
    p.add_argument("--env-file", type=Path, help="take the broker and credentials from this stack .env")
    p.add_argument("--timeout", type=_timeout, default=15.0, help="seconds to wait for the result, 0.1 to 3600 (default 15)")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    return p


MAX_TIMEOUT_S = 3600.0
IDENTIFIER = ROOM_PATTERN  # a room or device id is one topic level: no '/', '+' or '#'


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0.1 <= value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"{text}: give seconds from 0.1 to {MAX_TIMEOUT_S:g}")
    return value


def _topic_level(name: str, value: str) -> str:
    if not value or any(c in value for c in "/+#\0") or len(value) > 128:
        raise ValueError(f"--{name} {value!r}: one MQTT topic level (no '/', '+', '#'; at most 128 characters)")
    if (problem := first_control(value, one_line=True)) is not None:
        raise ValueError(f"--{name} {problem}: a device or action is sent in a topic and shown on terminals")
    return value


def broker_from(env_file: Path | None, environ: dict[str, str]) -> BrokerEndpoint:
    stack_env = read_env(env_file) if env_file else {}
    host = environ.get("MQTT_HOST") or stack_env.get("MQTT_BIND_ADDR") or "localhost"
    port = (environ.get("MQTT_PORT") or stack_env.get("MQTT_PORT") or "1883").strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"MQTT_PORT must be a port number from 1 to 65535, not {port!r}")
    port_number = int(port)
    return BrokerEndpoint(
        host=host,
        port=port_number,
        username=environ.get("MQTT_USERNAME") or stack_env.get("MQTT_USERNAME") or None,
        password=environ.get("MQTT_PASSWORD") or stack_env.get("MQTT_PASSWORD") or None,
    )


def _check_topics(topics: Topics) -> None:
    """The contract's topics are published to: no wildcard may be in one (paho raises on it), and
    the devices' topic takes {room} and {device} only ({nope} or {0} ended in exit 70)."""
    import string

    for name in ("dispatch", "result", "status", "devices"):
        value = getattr(topics, name)
        if "#" in value or "+" in value or not value:
            raise ValueError(f"CORE_TOPIC_{name.upper()} {value!r}: a topic to publish to has no wildcard ('#', '+')")
        if "\0" in value or len(value.encode("utf-8", "surrogatepass")) > 1024:
            raise ValueError(f"CORE_TOPIC_{name.upper()}: a topic has no NUL and at most 1024 bytes")
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(topics.devices) if f is not None]
        if any(f not in ("room", "device") or spec or conv for f, spec, conv in fields):
            raise ValueError
        topics.device("r", "d", "x")
    except (ValueError, KeyError, IndexError, AttributeError):
        raise ValueError(f"CORE_TOPIC_DEVICES {topics.devices!r}: its placeholders are {{room}} and {{device}} only "
                         "(write {{ and }} for braces)") from None


# A broker is named by address or host name (RFC 1123): nothing else reaches the resolver.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}\.?$){_LABEL}(?:\.{_LABEL})*\.?")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def check_inputs(broker: BrokerEndpoint, request_id: str | None) -> None:
    """Every value from the environment or a .env, checked before it is used (exit 2 with why)."""
    import ipaddress

    try:
        ipaddress.ip_address(broker.host)
    except ValueError:
        if not _HOST_NAME.fullmatch(broker.host):
            raise ValueError(f"MQTT_HOST / MQTT_BIND_ADDR {broker.host[:80]!r} is not an IP address or host name") from None
    for name, value in (("MQTT_USERNAME", broker.username), ("MQTT_PASSWORD", broker.password)):
        too_long = value is not None and len(value.encode("utf-8", "surrogatepass")) > 65535
        if value is not None and (first_control(value, one_line=True) is not None or too_long):
            raise ValueError(f"{name}: no control characters and at most 65535 bytes (MQTT's limit)")
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        raise ValueError("--id: 1 to 128 letters, digits, '.', '_', ':' or '-'")


def resolve(host: str, timeout_s: float) -> str | None:
    """The broker's address, looked up with a time limit (the resolver's own has none a script
    can set: a silent DNS server hung the script); None when it does not answer in time or at all."""
    import socket
    import threading

    found: list[str] = []

    def look() -> None:
        try:
            found.append(str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]))
        except (OSError, UnicodeError):
            pass

    thread = threading.Thread(target=look, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return found[0] if found else None


def print_event(event: FlowEvent) -> None:
    arrow = "->" if event.stage == "dispatch" else "<-"
    extra = ""
    if event.stage == "command" and event.detail.get("stack"):
        extra = f"  (from {event.detail['stack']})"
    if event.stage == "result":
        status = event.detail.get("status", "?")
        reason = event.detail.get("reason")
        extra = f"  {status}{': ' + reason if reason else ''}  (core {event.detail.get('stack', '?')})"
    print(f"  {arrow} {event.stage:<9} {event.topic:<40} +{event.at_ms:>7.1f} ms{extra}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Never a traceback: an internal error is a line, a masked file and exit 70. Nothing it
    prints carries a control character: its arguments, the .env's values and what the core
    answers are echoed (an --action of 'SET\\e]0;X\\a' once retitled the terminal)."""
    guard_standard_streams()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the script's last line of defence
        from runbook_tui.crash import report_crash
        from runbook_tui.secrets import SECRET_KEY, Masker

        secrets = [v for k, v in os.environ.items() if SECRET_KEY.search(k) and v]
        return report_crash(exc, Masker(secrets), program="core-dispatch.sh")


def _read_params(path: Path) -> str:
    """The --params-file's text (- for stdin): a regular file, or stdin, within PARAMS_CAP."""
    from runbook_tui.files import PARAMS_CAP, FileRefused, read_bounded, size_said

    if str(path) != "-":
        return read_bounded(path, PARAMS_CAP, "params file").decode("utf-8")  # not UTF-8: not valid JSON
    raw = sys.stdin.buffer.read(PARAMS_CAP + 1)  # never more than the cap, whatever feeds stdin
    if len(raw) > PARAMS_CAP:
        raise FileRefused(f"the params on stdin are over their cap of {size_said(PARAMS_CAP)}: not read", "-")
    return raw.decode("utf-8")


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.params_file is not None:
            source = "--params-file"
            text = _read_params(args.params_file)
        else:
            source, text = "--params", args.params
        params = json.loads(text)
    except OSError as exc:
        print(f"core-dispatch.sh: --params-file {args.params_file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, RecursionError) as exc:
        print(f"core-dispatch.sh: {source} is not valid JSON: {str(exc)[:200]}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if not ROOM_PATTERN.fullmatch(args.room):
            raise ValueError(f"--room {args.room!r} is not a room id (lower-case letters, digits, inner dashes)")
        _topic_level("device", args.device)
        _topic_level("action", args.action)
    except ValueError as exc:
        print(f"core-dispatch.sh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.env_file and not args.env_file.is_file():
        print(f"core-dispatch.sh: {args.env_file}: no such file", file=sys.stderr)
        return EXIT_USAGE
    try:
        broker = broker_from(args.env_file, dict(os.environ))
        topics = Topics.from_env(read_env(args.env_file) if args.env_file else dict(os.environ))
        _check_topics(topics)
        check_inputs(broker, args.id)
    except (ValueError, OSError) as exc:
        print(f"core-dispatch.sh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request = DispatchRequest(args.room, args.device, args.action, params, **({"id": args.id} if args.id else {}))
    if not args.json:
        who = f" as {broker.username}" if broker.username else ""
        print(f"dispatch {request.id} via {broker}{who}: {args.room} {args.device} {args.action}", flush=True)
    # Imported here: paho and dnspython are most of the start-up, not worth spending on a usage error.
    from runbook_tui.smoke_dispatch import DispatchOutcome, Verdict, dispatch_and_wait

    address = resolve(broker.host, min(5.0, args.timeout))
    if address is None:
        outcome = DispatchOutcome(Verdict.UNREACHABLE, f"broker {broker} unreachable: {broker.host} did not resolve", request)
    else:
        # The name, not the address found: paho tries each address a name has (localhost: ::1, then 127.0.0.1).
        outcome = dispatch_and_wait(broker, request, topics, args.timeout, on_event=None if args.json else print_event)
    if args.json:
        print(
            json.dumps(
                {
                    "id": request.id,
                    "verdict": outcome.verdict.name.lower(),
                    "reason": outcome.reason,
                    "ack_ms": outcome.latency_ms("ack"),
                    "complete_ms": outcome.latency_ms("complete"),
                    "events": [{"stage": e.stage, "topic": e.topic, "at_ms": e.at_ms} for e in outcome.events],
                }
            )
        )
    elif outcome.verdict is Verdict.COMPLETE:
        print(f"COMPLETE: ack {outcome.latency_ms('ack')} ms, complete {outcome.latency_ms('complete')} ms")
    else:
        print(f"{outcome.verdict.name.replace('_', ' ')}: {outcome.reason}", file=sys.stderr)
    return outcome.verdict.value


if __name__ == "__main__":
    raise SystemExit(main())
