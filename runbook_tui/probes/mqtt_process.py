"""The MQTT probe in a child process of its own, for the TUI.

paho parses each message in Python (about 45 µs of CPU a message here), holding the GIL of
whatever process runs it; in the TUI's own process a 10,000 messages/s flood made keypresses
wait for it. The child runs the very same MqttProbe and sends its batches over a pipe, so the
TUI only unpickles what it shows: the newest messages of each batch (payloads already cut to
their head by the probe), while counts, rates, core status and dispatch flows are computed in
the child on every message.

If the child dies, the brokers show as "probe process exited" and a new child is started;
that is a state on the screen, never an exception in the app.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from runbook_tui.mqtt_contract import BrokerEndpoint, Topics
from runbook_tui.probes.mqtt_probe import BrokerState, MqttBatch, MqttProbe, MqttSnapshot

FLUSH_S = 0.25
MESSAGES_PER_BATCH = 100  # 400 lines a second is more than anyone reads; the rest is counted, not shown


def _trim(batch: MqttBatch) -> MqttBatch:
    messages = batch.messages[-MESSAGES_PER_BATCH:]
    dropped = batch.dropped + len(batch.messages) - len(messages)
    return MqttBatch(messages, dropped, batch.snapshot)


def _child_main() -> int:
    """`python -m runbook_tui.probes.mqtt_process`: the configuration arrives on stdin, batches
    leave on stdout; "stop" or the end of stdin (the TUI quit, or died: the pipe closes with
    it) stops the probe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the TUI, which stops us through stdin
    out = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # a stray print must not corrupt the batch stream
    control = Connection(os.dup(0), writable=False)
    brokers, options = control.recv()
    gone = threading.Event()

    def send(batch: MqttBatch) -> None:
        try:
            out.send(_trim(batch))
        except (BrokenPipeError, EOFError, OSError):
            gone.set()  # the TUI went away

    probe = MqttProbe(brokers, on_batch=send, **options)
    probe.start()
    try:
        while not gone.is_set():
            if control.poll(0.5):
                control.recv()  # anything, or EOF, means stop
                break
    except (EOFError, OSError):
        pass
    finally:
        probe.stop()
    return 0


class MqttProbeProcess:
    """MqttProbe's start/stop/snapshot/on_batch, with the probe itself in a child process."""

    def __init__(self, brokers: dict[str, BrokerEndpoint], *, topics: tuple[str, ...] = ("#",),
                 contract: Topics = Topics(), room: str = "+", on_batch: Callable[[MqttBatch], None] | None = None,
                 restart_s: float = 1.0) -> None:
        self.brokers = brokers
        # Four batches a second: each one redraws the panel's tables, which costs the TUI more
        # than the messages themselves; a quarter second is still "now" to an operator.
        self.options = {"topics": topics, "contract": contract, "room": room, "flush_s": FLUSH_S}
        self.on_batch = on_batch
        self.restart_s = restart_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._latest = MqttSnapshot(tuple(BrokerState(role, str(e), False, "starting the probe", 0, 0, None)
                                          for role, e in brokers.items()), (), (), (), None, 0, time.time())
        self._process: subprocess.Popen | None = None
        self._control: Connection | None = None
        self._last_stderr = ""
        self._reader: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._reader = threading.Thread(target=self._run, name="mqtt-probe-process", daemon=True)
        self._reader.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._control is not None:
            try:
                self._control.send("stop")
            except OSError:
                pass  # the child is gone already
        if self._reader is not None:
            self._reader.join(timeout=10)

    def snapshot(self) -> MqttSnapshot:
        with self._lock:
            return self._latest

    # ---- the child's lifecycle -------------------------------------------------------------
    def _spawn(self) -> tuple[subprocess.Popen, Connection, Connection]:
        # A plain child process (not multiprocessing): nothing of the TUI's process is copied
        # into it or re-imported, and its stderr never reaches the TUI's terminal.
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        self._last_stderr = ""
        child = subprocess.Popen([sys.executable, "-m", "runbook_tui.probes.mqtt_process"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
        control = Connection(os.dup(child.stdin.fileno()), readable=False)
        receive = Connection(os.dup(child.stdout.fileno()), writable=False)
        child.stdin.close()
        child.stdout.close()
        self._stderr_tail(child)
        control.send((self.brokers, self.options))  # the credentials go through the pipe, never argv
        return child, control, receive

    def _stderr_tail(self, child: subprocess.Popen) -> None:
        def drain() -> None:
            for raw in child.stderr:
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    self._last_stderr = line[-200:]
            child.stderr.close()
        threading.Thread(target=drain, name="mqtt-probe-stderr", daemon=True).start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                child, control, receive = self._spawn()
            except Exception as exc:  # noqa: BLE001 - no child (resources, a broken install): a state, retried
                self._deliver(self._dead(f"probe process could not start ({exc.__class__.__name__}: {exc}); retrying"))
                self._stopping.wait(max(self.restart_s, 5.0))
                continue
            self._process, self._control = child, control
            if self._stopping.is_set():  # stop() came while the child was starting
                control.send("stop")
            try:
                while True:
                    batch = receive.recv()
                    with self._lock:
                        self._latest = batch.snapshot
                    self._deliver(batch)
            except (EOFError, OSError, pickle.UnpicklingError):
                pass
            finally:
                receive.close()
            control.close()  # if the child still runs, this is its signal to stop
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)
            if self._stopping.is_set():
                break
            self.restarts += 1
            detail = f": {self._last_stderr}" if self._last_stderr else ""
            self._deliver(self._dead(f"probe process exited (code {child.returncode}{detail}); restarting"))
            self._stopping.wait(self.restart_s)

    def _dead(self, why: str) -> MqttBatch:
        with self._lock:
            old = self._latest
            brokers = tuple(dataclasses.replace(b, connected=False, error=why) for b in old.brokers)
            # What the cores last said is no longer known; the flows seen so far still are.
            self._latest = dataclasses.replace(old, brokers=brokers, core_status=(), alarm=None, at=time.time())
            return MqttBatch((), 0, self._latest)

    def _deliver(self, batch: MqttBatch) -> None:
        if self.on_batch is None:
            return
        try:
            self.on_batch(batch)
        except Exception:  # noqa: BLE001 - a subscriber's failure must not end the probe
            pass


if __name__ == "__main__":
    raise SystemExit(_child_main())
