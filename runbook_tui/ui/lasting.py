"""What an open run holds to its end, kept out of the garbage collector's scans.

Python's oldest generation was collected every few seconds in an MQTT flood, scanning all of
it: 116-176 ms each, the worst keypress latencies (bench.tui). What the app holds from the
open run to its end (modules, widgets, the checklist, the engine) is frozen out of those
scans; objects made later are collected as before. The app gives the frozen ones back when
it ends (a venue opens one room's app after another in one process). Not under a test driver
(headless) unless asked: many apps in one process would keep one another's cycles.
"""

from __future__ import annotations

import gc


class Frozen:
    def __init__(self) -> None:
        self.frozen = False

    def freeze(self) -> None:
        gc.collect()
        gc.freeze()
        self.frozen = True

    def unfreeze(self) -> None:
        if self.frozen:
            gc.unfreeze()
            self.frozen = False
