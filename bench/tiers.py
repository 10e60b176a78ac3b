"""The fast test tiers' time, beside the machine's speed.

    .venv/bin/python -m bench.tiers [--workers 5]

Runs the unit and UI tiers as infra/host/test.sh does (`pytest -m "unit or ui" -n 5`) and prints
the wall time, the CPU the tests took (all workers), and the reference loop before and after
(bench/machine.py). The goal is under 60 s; the CPU figure says how much of the wall time is
work a 2-core machine cannot overlap.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.machine import describe, reference_seconds

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.tiers", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=5, help="pytest-xdist workers (default 5, as test.sh)")
    p.add_argument("extra", nargs="*", help="more pytest arguments")
    args = p.parse_args(argv)
    before = reference_seconds()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "pytest", "-m", "unit or ui", "-n", str(args.workers), *args.extra, "-q",
                          "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = reference_seconds()
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "(no output)"
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(f"unit + UI tiers, {args.workers} workers: {wall:.1f} s wall, {cpu:.1f} s CPU ({summary})")
    print(describe(before, after))
    if out.returncode != 0:
        print(out.stdout[-3000:], out.stderr[-2000:], sep="\n", file=sys.stderr)
    return out.returncode


if __name__ == "__main__":
    raise SystemExit(main())
