"""The one DNS query: the room's broker name asked of one resolver, every A record kept.

Used by the one-shot look, the long-lived DNS probe and the lab's readiness checks, with the
resolvers and the lifetime from the site (`observe.site`). Answers are sanitised: a DNS
answer is text from outside.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from runbook_tui.observe.model import DnsSnapshot, ResolverAnswer, classify
from runbook_tui.observe.payloads import safe_text


def ask(name: str, server: str, port: int, lifetime_s: float, known: dict[str, str]) -> ResolverAnswer:
    # dnspython is imported on the caller's thread, not at start-up (a tenth of a second).
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
    except Exception as exc:  # noqa: BLE001 - every failure is an answer
        return ResolverAnswer(label, "error", (), None, None, safe_text(f"{exc.__class__.__name__}: {exc}", 200))
    rtt = round((time.monotonic() - started) * 1000, 1)
    addresses = tuple(sorted(safe_text(r.to_text(), 64) for r in answer))
    return ResolverAnswer(label, classify(addresses, known), addresses, answer.rrset.ttl if answer.rrset else None, rtt)


def ask_all(name: str, resolvers: tuple[tuple[str, int], ...], lifetime_s: float, known: dict[str, str],
            pool: ThreadPoolExecutor | None = None, poll: int = 0) -> DnsSnapshot:
    """Every resolver asked at once (each bounded by lifetime_s), and whether they agree."""
    own = pool is None
    pool = pool or ThreadPoolExecutor(max_workers=max(1, len(resolvers)), thread_name_prefix="dns-look")
    try:
        futures = [pool.submit(ask, name, host, port, lifetime_s, known) for host, port in resolvers]
        answers = tuple(f.result() for f in futures)
    finally:
        if own:
            pool.shutdown(wait=False)
    kinds = {(a.classification, a.addresses) for a in answers}
    disagreement = len(kinds) > 1
    classification = "disagreement" if disagreement else (answers[0].classification if answers else "no resolvers")
    return DnsSnapshot(name, answers, disagreement, classification, time.time(), poll)
