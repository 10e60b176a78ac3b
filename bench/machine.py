"""This machine's speed at the moment: a reference loop to print beside any timing.

The 2-core machines the benches run on drift from second to second (the same loop took 1.27 s
of CPU on a quiet machine and up to 2.4 s on a busy or slower one), so a figure means little
without the machine's speed at the time. The loop is plain Python, no project code, in the
interpreter the bench runs in: Debian's Python 3.11 (what infra/host/setup.sh makes .venv from)
takes about 1.0 s on a quiet machine, a pyenv build of 3.11.7 without its optimizations 1.27 s.
"""

from __future__ import annotations

import subprocess
import sys

LOOP = "s = 0\nfor i in range(20_000_000):\n    s += i\n"


def reference_seconds() -> float:
    """CPU seconds a fresh interpreter takes to add up 20 million integers one by one."""
    out = subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\n" + LOOP +
                          "print(time.process_time() - t)"], capture_output=True, text=True, check=True)
    return float(out.stdout)


def describe(before: float, after: float) -> str:
    import os

    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return (f"reference loop (20M additions, plain Python {sys.version.split()[0]}, {base}): {before:.2f} s before, "
            f"{after:.2f} s after; on a quiet machine about 1.0 s with Debian's Python 3.11, 1.27 s with a pyenv build")
