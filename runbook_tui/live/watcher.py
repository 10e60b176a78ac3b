"""The live look: the long-lived probes of a room, composed into one RoomObservation.

The Docker probe follows the daemons' events, the DNS probe polls every resolver, the MQTT
probe follows both brokers, and the stacks' files are re-read on a short timer. Each time a
part changes, a new immutable observation is composed from the newest of every part and
handed to `on_observation`: the panels, the banner and the live ticks all read that one.
The raw parts also go to their own callbacks (the traffic log needs the messages).
Callbacks run on the probes' threads; the watcher's own lock keeps observations in order.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from runbook_tui.observe.files_look import look_files
from runbook_tui.observe.model import ROLES, BrokerView, DnsSnapshot, FilesView, RoomObservation, StackSnapshot
from runbook_tui.observe.site import SiteContext
from runbook_tui.probes.dns_probe import DnsProbe
from runbook_tui.probes.docker_probe import DockerProbe, DockerTarget
from runbook_tui.probes.mqtt_probe import MqttBatch, MqttProbe, MqttSnapshot
from runbook_tui.probes.mqtt_process import MqttProbeProcess

FILES_POLL_S = 0.5


def broker_views(snapshot: MqttSnapshot) -> tuple[BrokerView, ...]:
    """What the MQTT probe knows of each broker, as the rules read a broker."""
    cores = dict(snapshot.core_status)
    views = []
    for b in snapshot.brokers:
        if b.connected:
            state = "ok"
        elif (error := b.error or "").startswith(("unreachable", "refused")):
            state = error.split(":", 1)[0]
        else:
            state = "connecting"  # not read yet, reconnecting, or its probe process restarting: not known
        controllers = tuple((d, up) for role, d, up in snapshot.controllers if role == b.role)
        detail = "" if b.connected else (b.error or "").removeprefix(f"{state}:").strip()
        views.append(BrokerView(b.role, b.endpoint, state, detail,
                                cores.get(b.role) if b.connected else None, controllers, snapshot.at))
    return tuple(views)


class RoomWatcher:
    def __init__(self, site: SiteContext, *, dns_interval_s: float = 0.5, dns_lifetime_s: float = 1.5,
                 mqtt_topics: tuple[str, ...] = ("#",), mqtt_in_process: bool = False,
                 on_observation: Callable[[RoomObservation], None] | None = None,
                 on_stack: Callable[[StackSnapshot], None] | None = None,
                 on_dns: Callable[[DnsSnapshot], None] | None = None,
                 on_mqtt: Callable[[MqttBatch], None] | None = None,
                 files_poll_s: float = FILES_POLL_S) -> None:
        self.site = site
        self.on_observation = on_observation
        self.on_stack, self.on_dns, self.on_mqtt = on_stack, on_dns, on_mqtt
        self.files_poll_s = files_poll_s
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()  # start and stop, one at a time
        self._stacks: dict[str, StackSnapshot] = {}
        self._dns: DnsSnapshot | None = None
        self._mqtt: MqttSnapshot | None = None
        self._files: FilesView | None = None
        self.latest: RoomObservation | None = None
        self.stopping = threading.Event()
        targets = [DockerTarget(role, site.project(role), site.env_file(role), site.docker_host(role)) for role in ROLES]
        self.docker = DockerProbe(targets, self._stack_arrived)
        self.dns = DnsProbe(site.broker_name, site.resolvers, site.addresses, interval_s=dns_interval_s,
                            lifetime_s=dns_lifetime_s, on_snapshot=self._dns_arrived)
        self._mqtt_kind = MqttProbe if mqtt_in_process else MqttProbeProcess
        self._mqtt_topics = mqtt_topics
        self._mqtt_generation = 0
        self.mqtt, self._mqtt_brokers = self._new_mqtt_probe()
        self._files_thread: threading.Thread | None = None

    def _new_mqtt_probe(self):
        """A probe of the brokers the stacks' .env files name now (address, port, credentials,
        topics), with what it was built from; its batches carry its generation, so a replaced
        probe's last batches are dropped."""
        brokers = (self.site.brokers(), self.site.topics())
        self._mqtt_generation += 1
        probe = self._mqtt_kind(brokers[0], topics=self._mqtt_topics, contract=brokers[1], room=self.site.room,
                                on_batch=functools.partial(self._mqtt_arrived, generation=self._mqtt_generation))
        return probe, brokers

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Reads the stacks' files first (they may be slow to read: the TUI calls this off its
        event loop), then starts the probes. A watcher stopped before or while it starts never
        starts its probes. The look is outside the turn start and stop take, so stopping (q)
        never waits for it."""
        if self.stopping.is_set():
            return
        files = look_files(self.site)
        with self._lifecycle:
            if self.stopping.is_set():
                return
            self._files = files
            for probe in (self.docker, self.dns, self.mqtt):
                probe.start()
            self._files_thread = threading.Thread(target=self._watch_files, name="room-files", daemon=True)
            self._files_thread.start()

    def stop(self) -> None:
        self.stopping.set()  # before the turn: a first look at the files under way starts nothing after it
        with self._lifecycle:
            if self._files_thread is not None:
                self._files_thread.join(timeout=2)  # first: it may be replacing the MQTT probe
            for probe in (self.mqtt, self.dns, self.docker):
                try:
                    probe.stop()
                except Exception:  # noqa: BLE001 - stopping must always go on to the next probe
                    pass

    # ---- parts arriving (probe threads) --------------------------------------------------
    def _stack_arrived(self, snapshot: StackSnapshot) -> None:
        with self._lock:
            self._stacks[snapshot.role] = snapshot
        self._deliver(self.on_stack, snapshot)
        self._compose()

    def _dns_arrived(self, snapshot: DnsSnapshot) -> None:
        with self._lock:
            self._dns = snapshot
        self._deliver(self.on_dns, snapshot)
        self._compose()

    def _mqtt_arrived(self, batch: MqttBatch, generation: int) -> None:
        with self._lock:
            if generation != self._mqtt_generation:
                return  # from a probe of brokers the .env files no longer name
            self._mqtt = batch.snapshot
        self._deliver(self.on_mqtt, batch)
        self._compose()

    def _watch_files(self) -> None:
        while not self.stopping.wait(self.files_poll_s):
            files = look_files(self.site)
            with self._lock:
                changed = self._files is None or (files.stacks != self._files.stacks)
                self._files = files
            if changed:
                self._compose()
            self._follow_brokers()

    def _follow_brokers(self) -> None:
        """The brokers are where the .env files say now. A console opened before the stacks
        existed (the promotion's step 1 creates them) or before an .env edit of a broker's
        address, port or credentials would otherwise watch the defaults (127.0.0.1:1883, no
        user) for the whole run: another stack's broker, or none, never the room's."""
        if (self.site.brokers(), self.site.topics()) == self._mqtt_brokers or self.stopping.is_set():
            return
        with self._lock:
            probe, brokers = self._new_mqtt_probe()
            old, self.mqtt, self._mqtt_brokers = self.mqtt, probe, brokers
            self._mqtt = None  # what the old probe saw is not of these brokers
        probe.start()
        try:
            old.stop()
        except Exception:  # noqa: BLE001 - the old probe's failure to stop does not stop the watch
            pass
        self._compose()

    # ---- composing -----------------------------------------------------------------------
    def observation(self) -> RoomObservation:
        """The newest observation (composed now if none was yet)."""
        with self._lock:
            return self.latest or self._compose_locked()

    def _compose(self) -> None:
        with self._lock:
            obs = self._compose_locked()
            # Delivered under the lock, so observations reach the subscriber in order.
            self._deliver(self.on_observation, obs)

    def _compose_locked(self) -> RoomObservation:
        mqtt = self._mqtt
        obs = RoomObservation(
            room=self.site.room, broker_name=self.site.broker_name, expected=self.site.expected_addresses,
            stacks=tuple(self._stacks[r] for r in ROLES if r in self._stacks), dns=self._dns,
            brokers=broker_views(mqtt) if mqtt is not None else (), files=self._files,
            commands=mqtt.last_commands if mqtt is not None else (), at=time.time(), monotonic=time.monotonic())
        self.latest = obs
        return obs

    @staticmethod
    def _deliver(callback, value) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:  # noqa: BLE001 - a subscriber's failure is not the probes'
            pass
