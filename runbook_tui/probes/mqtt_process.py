"""The MQTT probe in child processes of their own, one per broker, for the TUI.

paho parses each message in Python (about 50-70 µs of CPU a message here), holding the GIL of
whatever process runs it. In the TUI's own process a 10,000 messages/s flood was more than the
probe could take, so the broker dropped the rest (counts and flows went wrong) while the
screen waited for the GIL. Each child runs the very same MqttProbe for one broker and sends
its batches over a pipe: the newest messages of each batch (payloads already cut to their
head by the probe), while counts, rates, core status and dispatch flows are computed in the
child on every message. One child per broker, so that two brokers' floods are parsed on two
cores at once: with both in one process, one core was the limit for the pair. The parent
merges the children's snapshots: flows by request id, cores' and controllers' statuses and
device commands; the dual-control alarm is judged from them on the room's observation
(runbook_tui.rules.room), the one thing no child can see alone.

Failure is a state, never an exception in the app: a child that dies, stops answering or
cannot start shows as "probe process ..." on its broker and is replaced, with backoff; the
other broker's child carries on.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from runbook_tui.mqtt_contract import BrokerEndpoint, Topics
from runbook_tui.probes.flows import merge_flows
from runbook_tui.probes.mqtt_probe import BrokerState, MqttBatch, MqttProbe, MqttSnapshot

# Four batches a second: each redraws the panel, which costs the TUI more than the messages
# themselves; a quarter second is still "now" to an operator.
FLUSH_S = 0.25
MESSAGES_PER_BATCH = 100  # 400 lines a second is more than anyone reads; the rest is counted, not shown
SILENT_S = 3.0  # no batch for this long (one is due every FLUSH_S): the child is stuck
STOP_GRACE_S = 3.0


def _for_the_pipe(batch: MqttBatch) -> MqttBatch:
    # Statuses are already read into plain CoreStatus values (observe.status): they pickle.
    messages = batch.messages[-MESSAGES_PER_BATCH:]
    return MqttBatch(messages, batch.dropped + len(batch.messages) - len(messages), batch.snapshot)


# ---- the child ---------------------------------------------------------------------------------

def _child_main(out_fd: int) -> int:
    """`python -P -m runbook_tui.probes.mqtt_process OUT_FD`: the configuration arrives on stdin,
    batches leave on OUT_FD (a pipe of their own: nothing else can write into it); "stop" or
    the end of stdin (the TUI quit, or died and its end of the pipe closed) stops the probe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the TUI, which stops us through stdin
    out = Connection(out_fd, readable=False)
    control = Connection(os.dup(0), writable=False)
    brokers, options = control.recv()
    gone = threading.Event()

    def send(batch: MqttBatch) -> None:
        try:
            out.send(_for_the_pipe(batch))
        except (BrokenPipeError, EOFError, OSError):
            gone.set()  # the TUI went away
        except Exception:  # noqa: BLE001 - a batch that cannot be pickled: send its counts without the messages
            out.send(MqttBatch((), batch.dropped + len(batch.messages), dataclasses.replace(batch.snapshot, flows=())))

    probe = MqttProbe(brokers, on_batch=send, raw_flows=True, **options)  # the parent merges both brokers' flows
    probe.start()
    try:
        while not gone.is_set():
            if control.poll(0.5):
                control.recv()  # anything, or EOF, means stop
                break
    except (EOFError, OSError):
        pass
    # paho's loop_stop waits for a connect in progress without a bound; the TUI will not.
    deadline = threading.Timer(STOP_GRACE_S - 0.5, os._exit, (0,))
    deadline.daemon = True
    deadline.start()
    probe.stop()
    return 0


# ---- the TUI's side ----------------------------------------------------------------------------

@dataclasses.dataclass
class _Child:
    process: subprocess.Popen[bytes]
    control: Connection
    receive: Connection
    stderr_lines: list[str]
    stderr_reader: threading.Thread


class _BrokerChild:
    """One broker's MqttProbe in a child process: started, followed, replaced when it fails.
    Its batches go to `on_batch` with this broker's snapshot only."""

    def __init__(self, brokers: dict[str, BrokerEndpoint], options: dict, on_batch: Callable[[MqttBatch], None],
                 restart_s: float) -> None:
        self.brokers = brokers
        self.options = options
        self.on_batch = on_batch
        self.restart_s = restart_s
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # the latest snapshot, and the child's control pipe
        self._latest = MqttSnapshot(tuple(BrokerState(role, str(e), False, "starting the probe", 0, 0, None)
                                          for role, e in brokers.items()), (), (), (), 0, time.time())
        self._child: _Child | None = None
        self._carried: dict[str, int] = {}  # messages counted by children that have died, per broker
        self._carried_topics: dict[tuple[str, str], int] = {}  # the same, per (broker, topic)
        self._carried_dropped: dict[str, int] = {}  # the brokers' drops those children had heard of
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.process.pid if child is not None else None

    def start(self) -> None:
        self._reader = threading.Thread(target=self._run, name=f"mqtt-probe-process-{'+'.join(self.brokers)}", daemon=True)
        self._reader.start()

    def ask_to_stop(self) -> None:
        self._stopping.set()
        self._tell_child_to_stop()

    def stop(self) -> None:
        """Bounded: asks the child to stop, then kills it if it has not within a few seconds."""
        self.ask_to_stop()
        child = self._child
        if child is not None:
            try:
                child.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.process.kill()
        if self._reader is not None:
            self._reader.join(timeout=STOP_GRACE_S + 2)

    def snapshot(self) -> MqttSnapshot:
        with self._lock:
            return self._latest

    # ---- the child's lifecycle -------------------------------------------------------------
    def _tell_child_to_stop(self) -> None:
        with self._lock:
            child = self._child
            if child is not None and not child.control.closed:
                try:
                    child.control.send("stop")
                except (OSError, ValueError):
                    pass  # the child is gone already

    def _command(self) -> tuple[list[str], dict[str, str]]:
        # -P: the child must not import a runbook_tui (or a json.py) from the operator's current
        # directory; it imports what the TUI imported.
        env = dict(os.environ)
        package_root = Path(__file__).resolve().parents[2]
        if package_root.name not in ("site-packages", "dist-packages"):  # a source checkout, maybe not installed
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), os.environ.get("PYTHONPATH")) if p)
        return [sys.executable, "-P", "-m", "runbook_tui.probes.mqtt_process"], env

    def _spawn(self) -> _Child:
        argv, env = self._command()
        read_fd, write_fd = os.pipe()
        process = None
        try:
            process = subprocess.Popen([*argv, str(write_fd)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, env=env, pass_fds=(write_fd,), start_new_session=True)
            os.close(write_fd)  # the child holds it; EOF on read_fd then means the child is gone
            write_fd = -1
            assert process.stdin is not None and process.stderr is not None  # both are pipes (above)
            control = Connection(os.dup(process.stdin.fileno()), readable=False)
            process.stdin.close()
            receive = Connection(read_fd, writable=False)
            read_fd = -1
            lines: list[str] = []

            def drain(stream=process.stderr) -> None:
                for raw in stream:
                    if raw.strip():
                        lines[:] = [*lines[-4:], raw.decode("utf-8", "replace").strip()[-200:]]
                stream.close()

            reader = threading.Thread(target=drain, name="mqtt-probe-stderr", daemon=True)
            reader.start()
            control.send((self.brokers, self.options))  # the credentials go through the pipe, never argv
            return _Child(process, control, receive, lines, reader)
        except BaseException:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
            if process is not None:
                process.kill()
                process.wait()
            raise

    def _run(self) -> None:
        backoff = self.restart_s
        while not self._stopping.is_set():
            try:
                child = self._spawn()
            except Exception as exc:  # noqa: BLE001 - no child (resources, a broken install): a state, retried
                self._deliver(self._dead(f"probe process could not start ({exc.__class__.__name__}: {exc}); retrying"))
                self._stopping.wait(max(backoff, 5.0))
                continue
            with self._lock:
                self._child = child
            if self._stopping.is_set():  # stop() came while the child was starting
                self._tell_child_to_stop()
            why, healthy = self._follow(child)
            if why is not None and child.process.poll() is None:
                child.process.kill()  # stuck: no grace for a child that stopped answering
            self._end(child)
            if self._stopping.is_set():
                break
            self.restarts += 1
            tail = child.stderr_lines[-1] if child.stderr_lines else ""
            code = child.process.returncode
            self._deliver(self._dead(f"probe process {why or f'exited (code {code})'}{': ' + tail if tail else ''}; "
                                     f"restart {self.restarts}"))
            backoff = self.restart_s if healthy else min(backoff * 2, 30.0)
            self._stopping.wait(backoff)

    def _follow(self, child: _Child) -> tuple[str | None, bool]:
        """Pass the child's batches on until it ends. Returns what went wrong (None: it exited)
        and whether it had run long enough to call it healthy (for the restart backoff)."""
        started = time.monotonic()
        try:
            while True:
                if not child.receive.poll(SILENT_S):
                    if self._stopping.is_set():
                        return None, True
                    return f"did not answer for {SILENT_S:.0f} s", False
                batch = child.receive.recv()
                with self._lock:
                    batch = self._carry_counts(batch)
                    self._latest = batch.snapshot
                self._deliver(batch)
        except (EOFError, OSError):
            return None, time.monotonic() - started > 30
        except Exception as exc:  # noqa: BLE001 - e.g. a batch from another version of the code: restart
            return f"sent what could not be read ({exc.__class__.__name__})", False

    def _end(self, child: _Child) -> None:
        with self._lock:
            try:
                child.control.close()  # if the child still runs, this is its signal to stop
            except OSError:
                pass
        child.receive.close()
        try:
            child.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
        child.stderr_reader.join(timeout=1)

    def _carry_counts(self, batch: MqttBatch) -> MqttBatch:
        # A new child counts from 0; the panel's totals go on from what the dead one had counted
        # (what arrived while no child listened is not in them).
        if not any(self._carried.values()) and not any(self._carried_dropped.values()):
            return batch
        brokers = tuple(dataclasses.replace(b, received=b.received + self._carried.get(b.role, 0),
                                            broker_dropped=b.broker_dropped + self._carried_dropped.get(b.role, 0))
                        for b in batch.snapshot.brokers)
        counts = {(broker, topic): (count, rate) for broker, topic, count, rate in batch.snapshot.topic_counts}
        for key, carried in self._carried_topics.items():
            count, rate = counts.get(key, (0, 0.0))
            counts[key] = (count + carried, rate)  # a topic quiet since the restart keeps its count
        topics = tuple((broker, topic, count, rate) for (broker, topic), (count, rate) in sorted(counts.items()))
        return MqttBatch(batch.messages, batch.dropped, dataclasses.replace(batch.snapshot, brokers=brokers, topic_counts=topics))

    def _dead(self, why: str) -> MqttBatch:
        with self._lock:
            old = self._latest
            self._carried = {b.role: b.received for b in old.brokers}
            self._carried_dropped = {b.role: b.broker_dropped for b in old.brokers}
            self._carried_topics = {(broker, topic): count for broker, topic, count, _rate in old.topic_counts}
            brokers = tuple(dataclasses.replace(b, connected=False, error=why) for b in old.brokers)
            # What its core and controllers said is no longer known: the rules see "not readable".
            self._latest = dataclasses.replace(old, brokers=brokers, core_status=(), last_commands=(), controllers=(),
                                               at=time.time())
            return MqttBatch((), 0, self._latest)

    def _deliver(self, batch: MqttBatch) -> None:
        try:
            self.on_batch(batch)
        except Exception:  # noqa: BLE001 - a subscriber's failure must not end the probe
            pass


class MqttProbeProcess:
    """MqttProbe's start/stop/snapshot/on_batch, with a child process per broker."""

    def __init__(self, brokers: dict[str, BrokerEndpoint], *, topics: tuple[str, ...] = ("#",),
                 contract: Topics = Topics(), room: str = "+", on_batch: Callable[[MqttBatch], None] | None = None,
                 restart_s: float = 1.0) -> None:
        options = {"topics": topics, "contract": contract, "room": room, "flush_s": FLUSH_S}
        self.on_batch = on_batch
        self.children = {role: _BrokerChild({role: endpoint}, options, functools.partial(self._arrived, role), restart_s)
                         for role, endpoint in brokers.items()}
        self._lock = threading.Lock()  # the parts, the merged snapshot, the messages not yet delivered
        self._parts = {role: child.snapshot() for role, child in self.children.items()}
        self._latest = self._merge()
        # The children's batches are delivered as one, FLUSH_S apart: each batch redraws the
        # panel, and twice the batches cost the TUI twice the CPU the children need in a flood.
        self._pending: list = []
        self._pending_dropped = 0
        self._fresh = False
        self._stopping = threading.Event()
        self._deliverer: threading.Thread | None = None

    @property
    def pids(self) -> dict[str, int | None]:
        return {role: child.pid for role, child in self.children.items()}

    @property
    def restarts(self) -> int:
        return sum(child.restarts for child in self.children.values())

    def start(self) -> None:
        for child in self.children.values():
            child.start()
        self._deliverer = threading.Thread(target=self._deliver_loop, name="mqtt-probe-merge", daemon=True)
        self._deliverer.start()

    def stop(self) -> None:
        """Bounded: the children are asked to stop together, then waited for."""
        for child in self.children.values():
            child.ask_to_stop()
        for child in self.children.values():
            child.stop()
        self._stopping.set()
        if self._deliverer is not None:
            self._deliverer.join(timeout=2)

    def snapshot(self) -> MqttSnapshot:
        with self._lock:
            return self._latest

    def _arrived(self, role: str, batch: MqttBatch) -> None:
        with self._lock:
            self._parts[role] = batch.snapshot
            self._latest = self._merge()
            self._pending.extend(batch.messages)
            self._pending_dropped += batch.dropped
            extra = len(self._pending) - MESSAGES_PER_BATCH
            if extra > 0:  # the newest are shown; the rest were counted, and are said to be
                del self._pending[:extra]
                self._pending_dropped += extra
            self._fresh = True

    def _deliver_loop(self) -> None:
        while not self._stopping.wait(FLUSH_S):
            with self._lock:
                if not self._fresh:
                    continue
                messages = tuple(sorted(self._pending, key=lambda m: m.at))
                batch = MqttBatch(messages, self._pending_dropped, self._latest)
                self._pending, self._pending_dropped, self._fresh = [], 0, False
            if self.on_batch is not None:
                try:
                    self.on_batch(batch)
                except Exception:  # noqa: BLE001 - a subscriber's failure must not end the probe
                    pass

    def _merge(self) -> MqttSnapshot:
        parts = [self._parts[role] for role in self.children]
        return MqttSnapshot(tuple(b for p in parts for b in p.brokers),
                            tuple(sorted((c for p in parts for c in p.topic_counts), key=lambda c: -c[2])[:200]),
                            tuple(sorted(cs for p in parts for cs in p.core_status)), merge_flows([p.flows for p in parts]),
                            sum(p.callback_errors for p in parts), max(p.at for p in parts),
                            tuple(sorted(lc for p in parts for lc in p.last_commands)),
                            tuple(sorted(c for p in parts for c in p.controllers)))


if __name__ == "__main__":
    raise SystemExit(_child_main(int(sys.argv[1])))
