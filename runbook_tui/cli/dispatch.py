"""scripts/core-dispatch.sh: send one dispatch and print its flow (runbook 3.4).

The broker comes from MQTT_HOST, MQTT_PORT, MQTT_USERNAME and MQTT_PASSWORD, as in the
runbook, or from a stack's .env with --env-file (its MQTT_BIND_ADDR, MQTT_PORT and
credentials); the environment wins where both are given. The password is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from runbook_tui.envfile import read_env
from runbook_tui.mqtt_contract import BrokerEndpoint, DispatchRequest, Topics
from runbook_tui.smoke_dispatch import FlowEvent, Verdict, dispatch_and_wait

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 without a traceback
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
    p.add_argument("--params", default="{}", help="JSON parameters (default {})")
    p.add_argument("--id", help="request id (default: a fresh one)")
    p.add_argument("--env-file", type=Path, help="take the broker and credentials from this stack .env")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the result (default 15)")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    return p


def broker_from(env_file: Path | None, environ: dict[str, str]) -> BrokerEndpoint:
    stack_env = read_env(env_file) if env_file else {}
    host = environ.get("MQTT_HOST") or stack_env.get("MQTT_BIND_ADDR") or "localhost"
    port = environ.get("MQTT_PORT") or stack_env.get("MQTT_PORT") or "1883"
    try:
        port_number = int(port)
    except ValueError:
        raise ValueError(f"MQTT_PORT must be a number, not {port!r}") from None
    return BrokerEndpoint(
        host=host,
        port=port_number,
        username=environ.get("MQTT_USERNAME") or stack_env.get("MQTT_USERNAME") or None,
        password=environ.get("MQTT_PASSWORD") or stack_env.get("MQTT_PASSWORD") or None,
    )


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
    args = build_parser().parse_args(argv)
    try:
        params = json.loads(args.params)
    except ValueError as exc:
        print(f"core-dispatch.sh: --params is not valid JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.env_file and not args.env_file.is_file():
        print(f"core-dispatch.sh: {args.env_file}: no such file", file=sys.stderr)
        return EXIT_USAGE
    try:
        broker = broker_from(args.env_file, dict(os.environ))
        topics = Topics.from_env(read_env(args.env_file) if args.env_file else dict(os.environ))
    except (ValueError, OSError) as exc:
        print(f"core-dispatch.sh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request = DispatchRequest(args.room, args.device, args.action, params, **({"id": args.id} if args.id else {}))
    if not args.json:
        who = f" as {broker.username}" if broker.username else ""
        print(f"dispatch {request.id} via {broker}{who}: {args.room} {args.device} {args.action}", flush=True)
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
