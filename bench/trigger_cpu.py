"""What judging the non-normal procedures' triggers costs on the observation path.

    .venv/bin/python -m bench.trigger_cpu [--observations 3000]

The engine's tick on each observation (RunEngine.observe: closed-loop steps, lapses, alarms,
and now the triggers and the conditions that hold throughout) is timed in CPU seconds over the
same hand-built observations of a room at rest and during a promotion, with the promotion's
checklist as shipped and with its procedures taken out. No lab: the engine's one-shot look sees
nothing, so only the judging is measured. bench.observe_latency measures the same path end to
end, probes and screen included, against the lab.

Printed: microseconds of CPU per observation with and without the procedures, and the difference
in percent of the engine's tick. With --live ROOM (a lab room that is up; run it under the lab's
lock): the whole observation path as the console runs it, the RoomWatcher's probes (their child
processes included) composing observations for the engine, CPU seconds over --seconds with and
without the procedures.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _observations() -> list:
    from tests.observations import broker, dns, dual_control_room, quiet_room, room, stack, status

    on = status(online=True, dispatch_enabled=True, role="primary")
    off = status(online=True, dispatch_enabled=False, role="standby")
    at_rest = room([stack("primary", dispatch=True), stack("standby", dispatch=False)],
                   [broker("primary", on, controllers=(("sim1", True),)), broker("standby", off)], dns(("127.0.0.2",)))
    return [at_rest, quiet_room(), dual_control_room()]


def _engine(with_procedures: bool, runs: Path):
    from runbook_tui.checklist.loader import load_checklist
    from runbook_tui.checklist.variables import resolve_variables
    from runbook_tui.engine.run import RunConfig, RunEngine
    from runbook_tui.observe.model import RoomObservation

    class Unseen:
        def look(self, parts=None) -> RoomObservation:
            return RoomObservation("room1", "mqtt.room1.sentientengine.ai", ())

    checklist = load_checklist(ROOT / "checklists" / "promotion.yaml")
    if not with_procedures:
        checklist = dataclasses.replace(checklist, procedures=(), holds=())
    values = resolve_variables(checklist, {"room": "room1", "smoke_device": "sim1"}, runs).values
    name = "with" if with_procedures else "without"
    return RunEngine.start(checklist, values, Unseen(), runs / f"{name}.jsonl", RunConfig(runs))


def measure(observations: int) -> dict[str, float]:
    base = _observations()
    out = {}
    with tempfile.TemporaryDirectory(prefix="trigger-cpu-") as tmp:
        for name in ("without", "with", "without ", "with "):  # twice each, interleaved: warm caches alike
            engine = _engine(name.strip() == "with", Path(tmp))
            # A room that stays in one state for a while, then another (each episode once).
            stream = [dataclasses.replace(base[(i // 500) % len(base)], at=1000.0 + i * 0.5) for i in range(observations)]
            start = time.process_time()
            for obs in stream:
                engine.observe(obs)
            spent = time.process_time() - start
            engine.journal.close()
            out[name.strip()] = min(out.get(name.strip(), spent), spent)
    return {k: v / observations * 1e6 for k, v in out.items()}


def _cpu_s() -> float:
    """CPU seconds of this process (every thread) and of its live children (the probes' processes)."""
    import os

    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    children: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            children |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def measure_live(room: str, seconds: float) -> dict[str, tuple[float, int]]:
    """The whole observation path on a lab room (probes, watcher, the engine's tick): CPU seconds
    and observations, with and without the procedures, interleaved."""
    from runbook_tui.checklist.loader import load_checklist
    from runbook_tui.checklist.variables import resolve_variables
    from runbook_tui.engine.run import RunConfig, RunEngine
    from runbook_tui.live.watcher import RoomWatcher
    from runbook_tui.observe.observer import Observer
    from runbook_tui.observe.site import site_context
    from runbook_tui.settings import LAB_VARIABLES, lab_defaults

    settings = lab_defaults()
    out: dict[str, tuple[float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="trigger-cpu-") as tmp:
        for name in ("without", "with", "without ", "with "):
            checklist = load_checklist(ROOT / "checklists" / "promotion.yaml")
            if name.strip() == "without":
                checklist = dataclasses.replace(checklist, procedures=(), holds=())
            given = {"room": room} | {k: v for k, v in LAB_VARIABLES.items() if k in checklist.variables}
            values = resolve_variables(checklist, given, settings.stack_root).values
            site = site_context(values, settings.stack_root, settings.resolvers)
            engine = RunEngine.start(checklist, values, Observer(site), Path(tmp) / f"{len(out)}{name.strip()}.jsonl",
                                     RunConfig(settings.stack_root, lab=True))
            seen = [0]

            def take(obs, engine=engine, seen=seen) -> None:
                seen[0] += 1
                engine.observe(obs)

            watcher = RoomWatcher(site, on_observation=take)
            watcher.start()
            time.sleep(5)  # the probes started and settled
            before, count = _cpu_s(), seen[0]
            time.sleep(seconds)
            spent, count = _cpu_s() - before, seen[0] - count
            watcher.stop()
            engine.journal.close()
            key = name.strip()
            if key not in out or spent < out[key][0]:
                out[key] = (spent, count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--observations", type=int, default=3000)
    parser.add_argument("--live", metavar="ROOM", help="also the whole observation path on this lab room (it must be up)")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    per = measure(args.observations)
    print(f"engine tick per observation, CPU microseconds ({args.observations} observations, best of 2):")
    print(f"  without procedures: {per['without']:.0f}")
    print(f"  with procedures:    {per['with']:.0f}  (+{(per['with'] / per['without'] - 1) * 100:.1f}%)")
    if args.live:
        live = measure_live(args.live, args.seconds)
        print(f"the observation path on {args.live} (probes, watcher, engine), CPU over {args.seconds:g} s, best of 2:")
        for key in ("without", "with"):
            spent, count = live[key]
            print(f"  {key} procedures: {spent:.2f} s CPU, {count} observations, {spent / max(count, 1) * 1e3:.2f} ms each")
        print(f"  difference: {(live['with'][0] / live['without'][0] - 1) * 100:+.1f}% of the path's CPU")


if __name__ == "__main__":
    main()
