"""This machine's speed at the moment: a reference loop to print beside any timing.

The 2-core machines the benches run on drift from second to second (the same loop took 1.27 s
of CPU on a quiet machine and up to 2.4 s on a busy or slower one), so a figure means little
without the machine's speed at the time. The loop is plain Python, no project code.
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
    return f"reference loop (20M additions, plain Python): {before:.2f} s before, {after:.2f} s after; 1.27 s on a quiet machine"
