"""The venue's rooms, looked at cheaply: a one-shot look per room, in turn, every few seconds.

A room that is open has its own RoomWatcher (Docker events, DNS every half second, every MQTT
message). A venue of twenty rooms must not mean forty traffic probes, so a room that is not
open is looked at the way a guard looks (`Observer.look`: the stacks' files, both Docker
projects, both brokers' retained status, every resolver) every `period_s`, a few rooms at a
time. Nothing stays connected between looks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from runbook_tui.observe.model import RoomObservation
from runbook_tui.observe.observer import ALL_PARTS, Observer
from runbook_tui.observe.site import SiteContext

PERIOD_S = 5.0  # a room not open is looked at again after this (or as soon as its last look ends)
WORKERS = 3  # rooms looked at at once: unreachable rooms take their timeouts in parallel


class VenueWatcher:
    def __init__(self, sites: dict[str, SiteContext], on_look: Callable[[str, RoomObservation | None, str], None],
                 period_s: float = PERIOD_S, workers: int = WORKERS) -> None:
        """on_look(room, observation, error) runs on a worker thread after each look; an error
        (a look that raised) is a state of that room, said in words, never a crash."""
        self.sites = dict(sites)
        self.on_look = on_look
        self.period_s = period_s
        self.workers = max(1, min(workers, len(sites) or 1))
        self.stopping = threading.Event()
        self._asked = threading.Event()
        self._thread: threading.Thread | None = None
        self.cycles = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="venue", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._asked.set()

    def look_now(self) -> None:
        """The operator asked for a fresh look: the next cycle starts without waiting."""
        self._asked.set()

    def _look(self, room: str) -> None:
        if self.stopping.is_set():
            return
        try:
            obs, error = Observer(self.sites[room]).look(ALL_PARTS), ""
        except Exception as exc:  # noqa: BLE001 - a room that cannot be looked at is a state
            obs, error = None, f"{exc.__class__.__name__}: {exc}"
        if not self.stopping.is_set():
            self.on_look(room, obs, error)

    def _run(self) -> None:
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="venue-look") as pool:
            while not self.stopping.is_set():
                started = time.monotonic()
                list(pool.map(self._look, list(self.sites)))
                self.cycles += 1
                self._asked.wait(max(0.0, self.period_s - (time.monotonic() - started)))
                self._asked.clear()
