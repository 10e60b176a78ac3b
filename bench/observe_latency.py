"""From a change in the room to the checklist's tick, next to the time to the live panel.

    .venv/bin/python -m bench.observe_latency [--room room1] [--rounds 7]

Needs the training lab's room up (`runbook-tui lab up ROOM`; it is changed and left as it
was found: the primary's containers started, DNS pointing at the primary). The TUI runs
headless (Textual's test driver) with its real probes, as an operator's would. Each round:

- container stop: the primary's broker and database are stopped (not timed), then the clock
  starts and its core is stopped: step "Shut the primary down" shows it holds (done, or
  holds again); the panel: the Containers tab's primary core no longer running.
- container start: the clock starts and the primary's core is started again: the step shows
  "no longer holds"; the panel: the core running.
- DNS repoint: the clock starts and the lab's resolver is pointed at the standby (its hosts
  file rewritten, dnsmasq told by SIGHUP): step "Repoint ..." shows it holds; the panel: the
  DNS tab says standby. DNS back: the same, pointed at the primary.

Printed: median and max of each, in milliseconds, tick and panel side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


async def measure(room: str, rounds: int) -> dict[str, list[tuple[float, float]]]:
    import docker

    from runbook_tui.engine.run import StepState, condition_of
    from runbook_tui.lab.dns_server import DnsSettings
    from runbook_tui.lab.lab import Lab
    from runbook_tui.session import Session
    from runbook_tui.settings import lab_defaults
    from runbook_tui.ui.app import RunbookApp
    from runbook_tui.ui.live_view import LiveView

    settings = lab_defaults()
    with tempfile.TemporaryDirectory(prefix="observe-latency-") as runs:
        from dataclasses import replace

        settings = replace(settings, journal_dir=Path(runs))
        session = Session(settings, room, settings.checklist)
        lab_dns = Lab(settings.stack_root, lambda _m: None, DnsSettings(port=settings.resolvers[0][1])).dns
        addresses = session.context.addresses()
        broker_name = session.context.broker_name
        client = docker.from_env()
        project = session.context.project("primary")
        containers = {c.labels["com.docker.compose.service"]: c
                      for c in client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})}
        if set(containers) != {"mosquitto", "sentient-core", "db"}:
            raise SystemExit(f"{project}: not the lab's three containers ({', '.join(containers) or 'none'}); "
                             f"run: runbook-tui lab up {room}")
        app = RunbookApp(session, live=True, resume=False)
        results: dict[str, list[tuple[float, float]]] = {"container stop": [], "container start": [], "DNS repoint": [],
                                                          "DNS back": []}
        async with app.run_test(size=(120, 40)) as pilot:
            async def until(predicate, timeout: float = 20.0) -> float:
                deadline = time.monotonic() + timeout
                while not predicate():
                    if time.monotonic() > deadline:
                        from runbook_tui.rules.conditions import evaluate

                        obs = app.watcher.latest
                        seen = {name: str(evaluate(condition_of(engine.checklist.step(name)), obs))
                                for name in ("stop-primary", "dns-repoint")}
                        raise SystemExit(f"timed out waiting for the room's change to show; steps: "
                                         f"{ {k: engine.status(k).state.value for k in seen} }, lapsed: {sorted(engine.lapses)}, "
                                         f"judged now: {seen}")
                    await pilot.pause(0.005)
                return time.monotonic()

            async def both(change, tick, panel) -> tuple[float, float]:
                """Make the change (off the event loop, as the room changes by itself) and time both."""
                t0 = time.monotonic()
                acting = asyncio.get_running_loop().run_in_executor(None, change)
                ticked, shown = asyncio.create_task(until(tick)), asyncio.create_task(until(panel))
                result = ((await ticked) - t0) * 1000, ((await shown) - t0) * 1000
                await acting
                return result

            await until(lambda: app.engine is not None and app.watcher is not None and app.watcher.latest is not None)
            live = app.run_screen.query_one(LiveView)
            engine = app.engine

            def holds(step: str) -> bool:
                return engine.status(step).state is StepState.DONE and step not in engine.lapses

            def core_state() -> str:
                snap = live.stacks.get("primary")
                core = snap.service("sentient-core") if snap else None
                return core.state if core else "absent"

            def dns_says(role: str) -> bool:
                return f": {role}" in str(app.run_screen.query_one("#dns-note").render())

            try:
                for _ in range(rounds):
                    for service in ("mosquitto", "db"):
                        containers[service].stop(timeout=1)
                    await asyncio.sleep(1.0)
                    results["container stop"].append(await both(lambda: containers["sentient-core"].stop(timeout=0),
                                                                lambda: holds("stop-primary"), lambda: core_state() != "running"))
                    await asyncio.sleep(1.0)
                    results["container start"].append(await both(lambda: containers["sentient-core"].start(),
                                                                 lambda: "stop-primary" in engine.lapses,
                                                                 lambda: core_state() == "running"))
                    for service in ("db", "mosquitto"):
                        containers[service].start()
                    await asyncio.sleep(1.0)
                    results["DNS repoint"].append(await both(lambda: lab_dns.point(broker_name, addresses["standby"]),
                                                             lambda: holds("dns-repoint"), lambda: dns_says("standby")))
                    await asyncio.sleep(1.0)
                    results["DNS back"].append(await both(lambda: lab_dns.point(broker_name, addresses["primary"]),
                                                          lambda: "dns-repoint" in engine.lapses, lambda: dns_says("primary")))
                    await asyncio.sleep(1.0)
            finally:
                for c in containers.values():
                    c.reload()
                    if c.status != "running":
                        c.start()
                lab_dns.point(session.context.broker_name, addresses["primary"])
                await pilot.press("q")
        return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.observe_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--room", default="room1")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    os.chdir(ROOT)
    results = asyncio.run(measure(args.room, args.rounds))
    print(f"change in the room -> screen, {args.rounds} rounds, in ms (median / max):")
    print(f"  {'change':<16} {'checklist tick':>18} {'live panel':>18}")
    for name, pairs in results.items():
        ticks, panels = [t for t, _ in pairs], [p for _, p in pairs]
        print(f"  {name:<16} {statistics.median(ticks):>9.0f} / {max(ticks):<6.0f} "
              f"{statistics.median(panels):>9.0f} / {max(panels):<6.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
