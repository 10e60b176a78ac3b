"""The one-shot look: a fresh RoomObservation of the parts a judgement needs, taken now.

A guard takes one at the moment of acting, a closed-loop step while it waits; the parts are
looked at in parallel, each bounded in time. Judging is the rules' (`runbook_tui.rules`),
which sit above this layer: nothing here judges.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from runbook_tui.observe.dns_look import ask_all
from runbook_tui.observe.docker_look import look_stack
from runbook_tui.observe.files_look import look_files
from runbook_tui.observe.model import ROLES, RoomObservation
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
        jobs = {}
        with ThreadPoolExecutor(max_workers=5, thread_name_prefix="look") as pool:
            for role in ROLES:
                if f"docker:{role}" in parts:
                    jobs[f"docker:{role}"] = pool.submit(look_stack, role, site.project(role, envs[role]), envs[role],
                                                         site.docker_host(role))
                if f"broker:{role}" in parts:
                    jobs[f"broker:{role}"] = pool.submit(look_broker, role, site.broker(role, envs[role]),
                                                         site.topics(role), site.room, BROKER_LOOK_S)
            if "dns" in parts:
                known = {r: a for r, a in site.addresses().items()}
                jobs["dns"] = pool.submit(ask_all, site.broker_name, site.resolvers, site.dns_lifetime_s, known)
            done = {k: f.result() for k, f in jobs.items()}
        return RoomObservation(
            room=site.room, broker_name=site.broker_name, expected=site.expected_addresses,
            stacks=tuple(done[f"docker:{r}"] for r in ROLES if f"docker:{r}" in done),
            dns=done.get("dns"),
            brokers=tuple(done[f"broker:{r}"] for r in ROLES if f"broker:{r}" in done),
            files=files, at=time.time(), monotonic=time.monotonic())
