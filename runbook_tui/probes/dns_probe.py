"""The DNS probe: the room's broker name asked of every configured resolver, on a timer.

Each poll asks all resolvers at once through the one DNS query (observe.dns_look), bounded by
`lifetime_s`; the next poll starts only when the last one has ended: no overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from runbook_tui.observe.dns_look import ask_all
from runbook_tui.observe.model import DnsSnapshot


class DnsProbe:
    def __init__(self, name: str, resolvers: tuple[tuple[str, int], ...], known: Callable[[], dict[str, str]],
                 *, interval_s: float = 2.0, lifetime_s: float = 1.5,
                 on_snapshot: Callable[[DnsSnapshot], None] | None = None) -> None:
        self.name = name
        self.resolvers = resolvers
        self.known = known  # re-read every poll: the stacks' .env may change during a run
        self.interval_s = interval_s
        self.lifetime_s = lifetime_s
        self.on_snapshot = on_snapshot
        self.latest: DnsSnapshot | None = None
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(resolvers)), thread_name_prefix="dns-probe")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dns-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lifetime_s + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def poll_once(self, poll: int = 0) -> DnsSnapshot:
        try:
            known = self.known()
        except Exception:  # noqa: BLE001 - an unreadable .env leaves every address unknown
            known = {}
        return ask_all(self.name, self.resolvers, self.lifetime_s, known, self._pool, poll)

    def _loop(self) -> None:
        poll = 0
        while not self.stopping.is_set():
            poll += 1
            started = time.monotonic()
            try:
                snapshot = self.poll_once(poll)
            except RuntimeError:  # the pool was shut down under us (the process is ending): stop quietly
                return
            self.latest = snapshot
            if self.on_snapshot is not None:
                try:
                    self.on_snapshot(snapshot)
                except Exception:  # noqa: BLE001 - a subscriber's failure is not the probe's
                    pass
            self.stopping.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
