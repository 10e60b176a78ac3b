"""The DNS probe: the room's broker name asked of every configured resolver, on a timer.

Each poll asks all resolvers at once (every query bounded by `lifetime_s`), classifies each
answer against the stacks' broker addresses, and flags resolvers that disagree (split
horizon gone wrong). The next poll starts only when the last one has ended: no overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class ResolverAnswer:
    resolver: str  # ADDRESS:PORT
    classification: str  # primary / standby / unknown address / NXDOMAIN / timeout / error
    addresses: tuple[str, ...]
    ttl: int | None
    rtt_ms: float | None
    detail: str = ""


@dataclass(frozen=True)
class DnsSnapshot:
    name: str
    answers: tuple[ResolverAnswer, ...]
    disagreement: bool
    classification: str  # the common classification, or "disagreement"
    at: float
    poll: int


def classify(addresses: tuple[str, ...], known: dict[str, str]) -> str:
    roles = {role for role, addr in known.items() for a in addresses if a == addr}
    if len(roles) == 1 and len(addresses) == 1:
        return roles.pop()
    if len(roles) > 1:
        return "both stacks"
    return "unknown address"


def ask(name: str, server: str, port: int, lifetime_s: float, known: dict[str, str]) -> ResolverAnswer:
    # dnspython is imported on the probe's thread, not at start-up (a tenth of a second).
    import dns.exception
    import dns.resolver

    label = f"{server}:{port}"
    started = time.monotonic()
    try:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [server]  # raises ValueError for a name: resolvers are addresses
        resolver.port = port
        resolver.lifetime = lifetime_s
        resolver.timeout = lifetime_s
        answer = resolver.resolve(name, "A")
    except dns.resolver.NXDOMAIN:
        return ResolverAnswer(label, "NXDOMAIN", (), None, round((time.monotonic() - started) * 1000, 1))
    except dns.exception.Timeout:
        return ResolverAnswer(label, "timeout", (), None, None, f"no answer within {lifetime_s:g}s")
    except Exception as exc:  # noqa: BLE001 - every failure is an answer, the probe thread lives on
        return ResolverAnswer(label, "error", (), None, None, f"{exc.__class__.__name__}: {exc}"[:200])
    rtt = round((time.monotonic() - started) * 1000, 1)
    addresses = tuple(sorted(r.to_text() for r in answer))
    return ResolverAnswer(label, classify(addresses, known), addresses, answer.rrset.ttl if answer.rrset else None, rtt)


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
        futures = [self._pool.submit(ask, self.name, host, port, self.lifetime_s, known) for host, port in self.resolvers]
        answers = tuple(f.result() for f in futures)
        kinds = {(a.classification, a.addresses) for a in answers}
        disagreement = len(kinds) > 1
        classification = "disagreement" if disagreement else (answers[0].classification if answers else "no resolvers")
        return DnsSnapshot(self.name, answers, disagreement, classification, time.time(), poll)

    def _loop(self) -> None:
        poll = 0
        while not self.stopping.is_set():
            poll += 1
            started = time.monotonic()
            snapshot = self.poll_once(poll)
            self.latest = snapshot
            if self.on_snapshot is not None:
                try:
                    self.on_snapshot(snapshot)
                except Exception:  # noqa: BLE001 - a subscriber's failure is not the probe's
                    pass
            self.stopping.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
