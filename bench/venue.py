"""What the venue view costs per room: memory and CPU with 1, 5 and 20 configured rooms.

    .venv/bin/python -m bench.venue [--rooms 1,5,20] [--seconds 30] [--real room1,room2]

Each count runs in its own process: the venue view (headless, the real VenueWatcher and its
one-shot looks) over a site settings file with that many [rooms.*] tables. The rooms are
created with the runbook's own scripts/new-room-standby.sh in a scratch stack root, on
addresses where nothing listens: every look reads the files, asks Docker for both projects,
tries both brokers and asks the resolver, and all of them answer "not there" (the count is
what matters). --real adds rooms of this checkout's lab (up, with brokers and DNS) first.

Printed per count: looks per room in the window, CPU seconds and percent of one core over
the window (after a warm-up), and the resident memory at the end, with the figures of a
venue of one room beside them as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP_S = 5.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(settings_path: Path, seconds: float) -> None:
    """One venue view, headless, for WARMUP_S + seconds; prints its figures as JSON."""
    from runbook_tui.settings import load_settings
    from runbook_tui.ui.venue import VenueApp

    settings = load_settings(settings_path)
    app = VenueApp(settings, settings.venue_rooms())
    figures: dict = {}

    def start_window() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        figures["cpu0"], figures["t0"] = usage.ru_utime + usage.ru_stime, time.monotonic()
        figures["looks0"] = app.watcher.cycles if app.watcher else 0

    def end_window() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        figures["cpu"] = usage.ru_utime + usage.ru_stime - figures["cpu0"]
        figures["wall"] = time.monotonic() - figures["t0"]
        figures["cycles"] = (app.watcher.cycles if app.watcher else 0) - figures["looks0"]
        figures["rss_mb"] = rss_mb()
        figures["rooms_seen"] = len(app.rows)
        app.exit()

    async def window(_pilot) -> None:
        await asyncio.sleep(WARMUP_S)
        start_window()
        await asyncio.sleep(seconds)
        end_window()

    app.run(headless=True, size=(120, 40), auto_pilot=window)
    print(json.dumps(figures))


def make_site(home: Path, count: int, real: list[str]) -> Path:
    root = home / "stacks"
    (root / "infra").mkdir(parents=True)
    for part in ("room-template", "images"):
        subprocess.run(["cp", "-r", str(ROOT / "infra" / part), str(root / "infra" / part)], check=True)
    subprocess.run(["cp", "-r", str(ROOT / "scripts"), str(root / "scripts")], check=True)
    rooms = []
    for n in range(count - len(real)):
        room = f"bench{n + 1}"
        subprocess.run([str(root / "scripts" / "new-room-standby.sh"), room, "--primary-addr", f"127.0.20.{2 * n + 2}",
                        "--standby-addr", f"127.0.20.{2 * n + 3}", "--primary-local-port", str(31000 + 2 * n),
                        "--standby-local-port", str(31001 + 2 * n)], check=True, capture_output=True,
                       env={**os.environ, "BASE_IMAGE": "none", "RUNBOOK_TUI_PYTHON": sys.executable})
        rooms.append(room)
    tables = "".join(f"[rooms.{r}]\n" for r in rooms)
    real_tables = "".join(f'[rooms.{r}.variables]\nprimary_dir = "{ROOT}/infra/rooms/{r}-primary"\n'
                          f'standby_dir = "{ROOT}/infra/rooms/{r}-standby"\n' for r in real)
    path = home / "venue.toml"
    port = os.environ.get("RUNBOOK_LAB_DNS_PORT", "5353")
    path.write_text(f'stack_root = "{root}"\nlab = false\n[dns]\nresolvers = ["127.0.0.1:{port}"]\n\n{real_tables}{tables}')
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rooms", default="1,5,20")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--real", default="", help="lab rooms of this checkout to put first (up, e.g. room1)")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.seconds)
        return
    real = [r for r in args.real.split(",") if r]
    rows = []
    for count in (int(c) for c in args.rooms.split(",")):
        with tempfile.TemporaryDirectory() as home:
            settings = make_site(Path(home), count, real[:count])
            out = subprocess.run([sys.executable, "-m", "bench.venue", "--child", str(settings), "--seconds", str(args.seconds)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 120)
            if out.returncode != 0:
                sys.exit(f"venue of {count} rooms failed:\n{out.stderr[-3000:]}")
            rows.append((count, json.loads(out.stdout.strip().splitlines()[-1])))
    base = rows[0][1]
    print(f"venue view, {args.seconds:g} s window after {WARMUP_S:g} s warm-up, one look per room every "
          f"{__import__('runbook_tui.observe.venue', fromlist=['PERIOD_S']).PERIOD_S:g} s at most"
          + (f"; real lab rooms: {', '.join(real)}" if real else "; rooms unreachable"))
    print(f"{'rooms':>5} {'cycles':>6} {'CPU s':>7} {'CPU %':>6} {'x 1st':>6} {'RSS MB':>7} {'x 1st':>6}")
    for count, f in rows:
        print(f"{count:>5} {f['cycles']:>6} {f['cpu']:>7.2f} {100 * f['cpu'] / f['wall']:>6.1f} "
              f"{f['cpu'] / max(base['cpu'], 1e-9):>6.2f} {f['rss_mb']:>7.1f} {f['rss_mb'] / base['rss_mb']:>6.2f}")


if __name__ == "__main__":
    main()
