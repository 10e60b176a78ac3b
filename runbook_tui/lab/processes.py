"""Long-lived lab processes (dnsmasq, simulated controllers) tracked by pid files.

They outlive the `runbook-tui lab up` that started them, like the services they stand in
for. A pid file alone is not trusted: the process's command line must still carry the
marker it was started with, so a recycled pid is never signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


class ProcessTable:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _pidfile(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"

    def log_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """The pid of `name` if it is running and still the process we started."""
        try:
            pid_text, marker = self._pidfile(name).read_text().split("\n", 1)
            pid = int(pid_text)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError):
            return None
        if state == "Z" or marker.strip() not in cmdline:
            return None
        return pid

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.state_dir.glob("*.pid"))

    def start(self, name: str, argv: list[str], marker: str, env: dict[str, str] | None = None) -> int:
        """Start argv detached (own session, so a closed terminal does not end it)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(name), "ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, close_fds=True,
            )
        self._pidfile(name).write_text(f"{proc.pid}\n{marker}\n")
        return proc.pid

    def stop(self, name: str, grace_s: float = 5.0) -> bool:
        """TERM, then KILL after grace_s. True if a process was running."""
        pid = self.pid(name)
        was_running = pid is not None
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace_s
            while self.pid(name) is not None and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.05)
            if self.pid(name) is not None:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                time.sleep(0.1)
            _reap(pid)
        self._pidfile(name).unlink(missing_ok=True)
        return was_running

    def signal(self, name: str, signum: int) -> bool:
        pid = self.pid(name)
        if pid is None:
            return False
        os.kill(pid, signum)
        return True


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (in tests), so it does not linger."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
