"""The one-shot look: a fresh RoomObservation of the parts a judgement needs, taken now.

A guard takes one at the moment of acting, a closed-loop step while it waits; the parts are
looked at in parallel, each bounded in time. Judging is the rules' (`runbook_tui.rules`),
which sit above this layer: nothing here judges.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

from runbook_tui.observe.dns_look import ask_all
from runbook_tui.observe.docker_look import look_stack
from runbook_tui.observe.files_look import look_files
from runbook_tui.observe.model import ROLES, BrokerView, DnsSnapshot, RoomObservation, StackSnapshot
from runbook_tui.observe.mqtt_look import look_broker
from runbook_tui.observe.site import SiteContext

ALL_PARTS = frozenset({"files", "dns", *(f"docker:{r}" for r in ROLES), *(f"broker:{r}" for r in ROLES)})
BROKER_LOOK_S = 2.0


class Observer:
    def __init__(self, site: SiteContext) -> None:
        self.site = site

    def look(self, parts: frozenset[str] = ALL_PARTS) -> RoomObservation:
        site = self.site
        files = look_files(site)  # the stacks' .env tell where everything else is
        envs = {s.role: s.env_dict for s in files.stacks}
        stacks: list[Future[StackSnapshot]] = []  # in the order of ROLES
        brokers: list[Future[BrokerView]] = []
        dns: Future[DnsSnapshot] | None = None
        with ThreadPoolExecutor(max_workers=5, thread_name_prefix="look") as pool:
            for role in ROLES:
                if f"docker:{role}" in parts:
                    stacks.append(pool.submit(look_stack, role, site.project(role, envs[role]), envs[role],
                                              site.docker_host(role)))
                if f"broker:{role}" in parts:
                    brokers.append(pool.submit(look_broker, role, site.broker(role, envs[role]),
                                               site.topics(role), site.room, BROKER_LOOK_S))
            if "dns" in parts:
                known = {r: a for r, a in site.addresses().items()}
                dns = pool.submit(ask_all, site.broker_name, site.resolvers, site.dns_lifetime_s, known)
        return RoomObservation(
            room=site.room, broker_name=site.broker_name, expected=site.expected_addresses,
            stacks=tuple(f.result() for f in stacks),
            dns=dns.result() if dns is not None else None,
            brokers=tuple(f.result() for f in brokers),
            files=files, at=time.time(), monotonic=time.monotonic())
