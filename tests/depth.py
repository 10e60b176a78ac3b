"""How many cases the randomized tests (fuzzers, hypothesis) draw.

A developer's fast tiers draw a quarter of the cases, so that the loop stays short on a 2-core
machine; the test command (infra/host/test.sh, which CI runs) sets RUNBOOK_TEST_DEPTH=full and
draws them all. The loops on a fixed seed draw the same first cases either way; hypothesis keeps
the failures it found in its database and tries them first next time.
"""

from __future__ import annotations

import os

FULL = os.environ.get("RUNBOOK_TEST_DEPTH", "") == "full"


def cases(full: int) -> int:
    """The number of cases to draw of a search whose full size is `full`."""
    return full if FULL else max(20, full // 4)
