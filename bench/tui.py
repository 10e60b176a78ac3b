"""TUI benchmarks: first frame, keypress latency under an MQTT flood, memory after a soak.

    .venv/bin/python -m bench.tui [--runs 11] [--rate 10000] [--keys 200] [--soak-seconds 600]

1. Time to the first full frame, median of --runs fresh processes each, for runbook-tui and
   for a minimal Textual app (one Static), as a ratio. Measured from just before the process
   is spawned to the first refresh after mount (imports included: that is what an operator
   waits for). runbook-tui is opened as the command line opens it (a SessionOpener, probes
   live); its time to the frame with the checklist opened and its states drawn is printed too.
   The two are started in turn; the ratios of each pair (median, quartiles) are printed too.
2. Keypress-to-screen latency (p50, p99) while two local Mosquitto brokers carry --rate
   messages per second in total, which the app's MQTT probe subscribes to: a key is posted,
   and the time is taken when the checklist cursor has moved and the next frame is drawn.
   Measured with the probe as the app runs it (a child process per broker) and, as the baseline, with
   the probe in the TUI's own process; the ratio compares the two.
3. The process's RSS after --soak-seconds of that flood (and at its start), the app's way.

The app runs headless (Textual's test driver) on a scratch stack root whose two stacks point
at the local brokers; Docker and DNS are not needed (their panels show them unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe, reference_seconds

ROOT = Path(__file__).resolve().parents[1]
PORTS = (18841, 18842)

FIRST_FRAME = r"""
import sys, time
kind, root = sys.argv[1], sys.argv[2]
if kind == "minimal":
    from textual.app import App
    from textual.widgets import Static
    class Probe(App):
        def compose(self):
            yield Static("hello")
        def on_mount(self):
            self.call_after_refresh(self.done)
        def done(self):
            print(time.time(), flush=True)
            self.exit()
    app = Probe()
else:
    # As the command line opens it: the settings, then the app with a SessionOpener; the
    # checklist, the engine and the probes load after the first frame.
    from pathlib import Path
    from runbook_tui.session import SessionOpener
    from runbook_tui.settings import Settings
    from runbook_tui.ui.app import RunbookApp
    class Probe(RunbookApp):
        def on_mount(self):  # Textual calls RunbookApp.on_mount after this one (each class's handler)
            self.call_after_refresh(self.first)  # the minimal app's moment; before the app's own work after it
        def first(self):
            print(time.time(), flush=True)
        def run_shown(self):  # the run's screen is up, its checklist loaded and its states drawn
            super().run_shown()
            self.call_after_refresh(self.done)
        def done(self):
            print(time.time(), flush=True)  # the checklist loaded, its states drawn, the probes starting
            self.exit()
    settings = Settings(stack_root=Path(root), resolvers=(("127.0.0.1", 15399),), journal_dir=Path(root) / "runs", lab=False)
    app = Probe(SessionOpener(settings, "room1", Path(sys.argv[3])), live=True, resume=False)
app.run(headless=True, size=(120, 40))
"""

PUBLISHER = r"""
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
c = mqtt.Client(CallbackAPIVersion.VERSION2)
c.connect("127.0.0.1", port)
c.loop_start()
sent, start = 0, time.monotonic()
per_slice = max(1, rate // 100)
while time.monotonic() - start < seconds:
    for _ in range(per_slice):
        c.publish("flood/%d" % (sent % 50), b'{"n": %d}' % sent, qos=0)
        sent += 1
    delay = start + sent / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
c.disconnect()
"""


def stack_root(tmp: Path) -> Path:
    """A scratch checkout whose room1 stacks point at the local, anonymous brokers."""
    root = tmp / "stack"
    for role, port in zip(("primary", "standby"), PORTS, strict=True):
        d = root / "infra" / "rooms" / f"room1-{role}"
        d.mkdir(parents=True)
        (d / ".env").write_text(f"ROOM_ID=room1\nSTACK_ROLE={role}\nMQTT_BIND_ADDR=127.0.0.1\nMQTT_PORT={port}\n"
                                "CORE_DISPATCH_ENABLED=false\n")
        (d / "compose.yaml").write_text("services: {}\n")
    return root


def first_frames(runs: int, root: Path) -> dict[str, list[float]]:
    """Seconds from spawning to the first frame, per app; and for runbook-tui, to the frame with
    the checklist's states drawn ("runbook-tui checklist")."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    checklist = str(ROOT / "checklists" / "promotion.yaml")
    times: dict[str, list[float]] = {"minimal": [], "runbook-tui": [], "runbook-tui checklist": []}
    for _ in range(runs):
        for kind in ("minimal", "runbook-tui"):  # interleaved, so both see the same machine
            start = time.time()
            out = subprocess.run([sys.executable, "-c", FIRST_FRAME, kind, str(root), checklist], env=env,
                                 capture_output=True, text=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError(f"{kind} failed: {out.stderr[-500:]}")
            stamps = [float(line) for line in out.stdout.split()]
            times[kind].append(stamps[0] - start)
            if kind == "runbook-tui":
                times["runbook-tui checklist"].append(stamps[1] - start)
    return times


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def flood_run(root: Path, keys: int, soak_s: float, in_process: bool = False) -> tuple[list[float], float, float, int, float]:
    from textual import events

    from runbook_tui.session import Session
    from runbook_tui.settings import Settings
    from runbook_tui.ui.app import RunbookApp
    from runbook_tui.ui.checklist_view import ChecklistView

    settings = Settings(stack_root=root, resolvers=(("127.0.0.1", 15399),), journal_dir=root / "runs", lab=False)
    session = Session(settings, "room1", ROOT / "checklists" / "promotion.yaml")
    session.mqtt_in_process = in_process
    app = RunbookApp(session, live=True, resume=False, freeze_gc=True)  # as on a terminal (the driver here is headless)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        while app.engine is None or not app.probes:
            await pilot.pause(0.1)
        await asyncio.sleep(2.0)  # the flood reaches the probe and the traffic log
        tree = app.run_screen.query_one(ChecklistView)
        loop = asyncio.get_running_loop()
        def received_now() -> int:
            return sum(b.received for b in app.watcher.mqtt.snapshot().brokers)

        keys_from, keys_count = time.monotonic(), received_now()
        for i in range(keys):
            key = "down" if i % 20 < 10 else "up"
            before = tree.cursor_line
            t0 = time.perf_counter()
            app.post_message(events.Key(key, None))
            while tree.cursor_line == before:
                await asyncio.sleep(0)
            drawn: asyncio.Future[float] = loop.create_future()
            app.call_after_refresh(lambda f=drawn: f.done() or f.set_result(time.perf_counter()))
            latencies.append((await drawn - t0) * 1000)
            await asyncio.sleep(0.02)
        children = [pid for pid in getattr(app.watcher.mqtt, "pids", {}).values() if pid]  # the probe's children count too

        def rss() -> float:
            return rss_mb() + sum(rss_mb(pid) for pid in children)

        keys_rate = (received_now() - keys_count) / (time.monotonic() - keys_from)
        rss_start = rss()
        deadline = time.monotonic() + soak_s
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
        rss_end = rss()
        received = received_now()
        states = "; ".join(f"{b.role} {'connected' if b.connected else b.error}" for b in app.watcher.mqtt.snapshot().brokers)
        print(f"  the probe's brokers at the end ({'in-process' if in_process else 'child per broker'}): {states}", flush=True)
        await pilot.press("q")
    return latencies, rss_start, rss_end, received, keys_rate


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.tui", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=11, help="first-frame runs per app (default 11)")
    p.add_argument("--rate", type=int, default=10000, help="MQTT messages per second during the key test (default 10000)")
    p.add_argument("--keys", type=int, default=200, help="keypresses measured (default 200)")
    p.add_argument("--soak-seconds", type=float, default=600, help="flood time before the RSS reading (default 600)")
    p.add_argument("--quick", action="store_true",
                   help="a check in under two minutes: 5 first-frame runs, 100 keys, no soak (overrides the three above)")
    args = p.parse_args(argv)
    reference_before = reference_seconds()
    if args.quick:
        args.runs, args.keys, args.soak_seconds = 5, 100, 0.0
    if shutil.which("mosquitto") is None:
        print("mosquitto is not installed: run 'bash infra/host/setup.sh'", file=sys.stderr)
        return 2
    # The bytecode an installed package has (infra/host/setup.sh compiles it too): without it,
    # an editable install where PYTHONDONTWRITEBYTECODE is set compiles the app at every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "runbook_tui")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        root = stack_root(Path(tmp))
        frames = first_frames(args.runs, root)
        minimal, ours = statistics.median(frames["minimal"]), statistics.median(frames["runbook-tui"])
        ready = statistics.median(frames["runbook-tui checklist"])
        print(f"first full frame (median of {args.runs}): minimal Textual app {minimal * 1000:.0f} ms, "
              f"runbook-tui {ours * 1000:.0f} ms, ratio {ours / minimal:.2f}x")
        # This machine's speed drifts from second to second (two copies of the same code, started
        # in turn 11 times each, measured 1.59x and 1.77x): each runbook-tui start against the
        # minimal one just before it, as well.
        pairs = sorted(t / m for t, m in zip(frames["runbook-tui"], frames["minimal"], strict=True))
        print(f"  each start against the minimal app's just before it: median {statistics.median(pairs):.2f}x, "
              f"quartiles {pairs[len(pairs) // 4]:.2f}-{pairs[(3 * len(pairs)) // 4]:.2f}x")
        print(f"  runbook-tui with the checklist opened and its states drawn: {ready * 1000:.0f} ms "
              f"({ready / minimal:.2f}x the minimal app's first frame)")
        procs = []
        try:
            for port in PORTS:
                conf = Path(tmp) / f"{port}.conf"
                conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n")
                procs.append(subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
            seconds = 60 + args.soak_seconds + 2 * args.keys * 0.2  # the baseline's keys, then the app's
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            procs += [subprocess.Popen([sys.executable, "-c", PUBLISHER, str(port), str(args.rate // 2), str(seconds)], env=env)
                      for port in PORTS]
            print(f"flooding both brokers with {args.rate} messages/s; {args.keys} keypresses, then a "
                  f"{args.soak_seconds:g} s soak ...", flush=True)
            baseline, _s, _e, _r, base_rate = asyncio.run(flood_run(root, args.keys, 0, in_process=True))
            latencies, rss_start, rss_end, received, rate = asyncio.run(flood_run(root, args.keys, args.soak_seconds))
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(f"keypress to screen during the flood, probe in a child process per broker (the app's way): p50 {pct(latencies, 50):.1f} ms, "
          f"p99 {pct(latencies, 99):.1f} ms (max {max(latencies):.1f} ms, {len(latencies)} keys; "
          f"the probe took in {rate:.0f} messages/s meanwhile)")
    print(f"  baseline, probe in the TUI's process: p50 {pct(baseline, 50):.1f} ms, p99 {pct(baseline, 99):.1f} ms "
          f"(max {max(baseline):.1f} ms; the probe took in {base_rate:.0f} messages/s: the broker drops what a slow "
          f"subscriber cannot take)")
    print(f"  ratio child/in-process: p50 {pct(latencies, 50) / pct(baseline, 50):.2f}x, "
          f"p99 {pct(latencies, 99) / pct(baseline, 99):.2f}x")
    print(f"RSS (TUI and probe processes): {rss_start:.0f} MB after the keys, {rss_end:.0f} MB after {args.soak_seconds:g} s of flood "
          f"({rss_end / rss_start:.3f}x; {received} messages received by the probe)")
    print(describe(reference_before, reference_seconds()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
