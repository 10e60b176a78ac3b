"""The lab's own Docker engine: a second dockerd beside the machine's, for a room on two hosts.

A room whose primary and standby live on two hosts is had for real on one machine with two
engines. The lab starts a dockerd of its own under <stack_root>/.lab/engine/: its own socket,
data root, exec root and pidfile, its own (empty) daemon configuration so the machine's
/etc/docker/daemon.json cannot change it, a default bridge interface of its own, no iptables
rules (published ports go through docker-proxy, so the machine's firewall is never touched) and
an address pool the machine's engine does not use.

Its default bridge is an interface the lab creates (`rbl` and a hash of its socket), never
`--bridge none`: a dockerd told "none" deletes the machine's docker0 as it starts, and every
container of the machine's engine on the default network is cut off (and cannot start again)
until that engine restarts. The lab's stacks never use the default bridge (compose gives each
project a network of its own); the interface only keeps the engine off docker0. Started again on
its data root, dockerd still deletes docker0 (whatever --bridge says): lab/machine_bridge.py puts
it back as it was. Stopping it takes its containers with it, like a host that
dies; starting it again restarts those whose policy says so, like a host that powers back on.

Without iptables rules of its own, its bridges' traffic still meets the machine's FORWARD chain
(bridged packets pass through iptables where br_netfilter is loaded), whose policy the machine's
engine sets to DROP: a stack's core could not reach its own broker and database. So while it
runs, one rule in DOCKER-USER (the chain Docker leaves to the machine's owner) accepts traffic
between addresses of the lab engine's pool, and nothing else; it carries the engine's socket as
its comment and is deleted when the engine stops.

It is the only engine the lab ever stops or restarts. Its pid is read from its own pidfile and
trusted only while that process is a dockerd serving this lab's socket: a recycled pid, or the
machine's own dockerd, is never signalled.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from runbook_tui.lab import machine_bridge as machine_bridges
from runbook_tui.lab.errors import LabError
from runbook_tui.lab.readiness import wait_for

# Docker's default pools are 172.17.0.0/16-172.31.0.0/16 and 192.168.0.0/16 (the machine's
# engine takes its networks there); the lab's engine takes its own from a range neither the
# machine's engine nor a venue's usual 10.0.x VLANs use, so no route is shared.
ADDRESS_POOL = "base=10.199.0.0/16,size=24"
POOL_NETWORK = "10.199.0.0/16"
START_TIMEOUT_S = 60.0
# dockerd gives its containers 15 s to stop on TERM (its --shutdown-timeout), then exits.
STOP_TIMEOUT_S = 40.0
ENV_VAR = "DOCKER_HOST"


class EngineError(LabError):
    """The lab's engine did not start or stop; the message says why and where its log is."""


def docker_env(host: str | None) -> dict[str, str]:
    """This process's environment with DOCKER_HOST naming HOST (None: as it is, the machine's
    engine). A Docker context would otherwise win over the default socket, never over DOCKER_HOST."""
    env = dict(os.environ)
    if host is not None:
        env[ENV_VAR] = host
        env.pop("DOCKER_CONTEXT", None)
    return env


@dataclass(frozen=True)
class LabEngine:
    state_dir: Path
    """The lab's state directory (<stack_root>/.lab); the engine lives in its engine/ folder."""

    @property
    def root(self) -> Path:
        return self.state_dir / "engine"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        """The engine's Docker host URL: DOCKER_HOST for the CLI, `[docker] standby` for the settings."""
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.root / "docker.pid"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def bridge(self) -> str:
        """The engine's own default bridge interface (15 characters at most, as Linux wants)."""
        return "rbl" + hashlib.sha1(str(self.socket).encode()).hexdigest()[:10]

    def argv(self) -> list[str]:
        return [
            "dockerd", "--host", self.url, "--data-root", str(self.data_root), "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.pidfile), "--config-file", str(self.root / "daemon.json"),
            "--bridge", self.bridge, "--iptables=false", "--ip-masq=false", "--default-address-pool", ADDRESS_POOL,
        ]

    def pid(self) -> int | None:
        """The engine's pid if it runs and is this lab's: a dockerd whose command line serves this socket."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        args = [a.decode(errors="replace") for a in cmdline]
        if state == "Z" or not args or Path(args[0]).name != "dockerd":
            return None
        if "--host" not in args or args.index("--host") + 1 >= len(args) or args[args.index("--host") + 1] != self.url:
            return None
        return pid

    def answers(self) -> bool:
        try:
            info = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                  env=docker_env(self.url), timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return info.returncode == 0

    def start(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Start the engine unless it runs; return once `docker info` answers on its socket (what was done)."""
        t0 = time.monotonic()
        pid = self.pid()
        if pid is not None:
            self.allow_forwarding()
            if not wait_for(self.answers, timeout_s, 0.2):
                raise EngineError(f"the lab's Docker engine (pid {pid}) does not answer on {self.socket}; "
                                  f"see {self.log_path}")
            return f"already running (pid {pid})"
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "daemon.json").write_text("{}\n")
        # A pidfile left by an engine that died would make dockerd refuse to start.
        self.pidfile.unlink(missing_ok=True)
        env = docker_env(None)
        env.pop(ENV_VAR, None)
        env["PATH"] = f"{env.get('PATH', '')}:/usr/sbin:/usr/bin:/sbin:/bin"  # dockerd finds containerd, runc, docker-proxy
        self.allow_forwarding()
        self._add_bridge()
        machine_bridge = machine_bridges.note()  # dockerd may delete it as it starts: see lab/machine_bridge.py
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True, env=env)
        while time.monotonic() - t0 < timeout_s:
            if proc.poll() is not None:
                raise EngineError(f"the lab's Docker engine exited ({proc.returncode}) as it started: "
                                  f"{_tail(self.log_path)} (see {self.log_path})")
            if self.pid() is not None and self.answers():
                put_back = machine_bridges.put_back(machine_bridge)
                return f"started (pid {proc.pid}, {time.monotonic() - t0:.1f}s)" + (f"; {put_back}" if put_back else "")
            time.sleep(0.1)
        raise EngineError(f"the lab's Docker engine did not answer on {self.socket} within {timeout_s:.0f}s; "
                          f"see {self.log_path}")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """Stop the engine (its containers stop with it) if this lab's runs; return the pid it had.
        EngineError if it is still running after timeout_s."""
        pid = self.pid()
        if pid is None:
            self.revoke_forwarding()  # left by an engine that died
            self._delete_bridge()
            return None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return pid
        if not wait_for(lambda: self.pid() is None or _reap(pid), timeout_s, 0.1):
            raise EngineError(f"the lab's Docker engine (pid {pid}) did not stop within {timeout_s:.0f}s; "
                              f"see {self.log_path}")
        self.revoke_forwarding()
        self._delete_bridge()
        return pid

    # ---- its own default bridge ------------------------------------------------------------
    def _add_bridge(self) -> None:
        if self.has_bridge():
            return
        for argv in (["ip", "link", "add", self.bridge, "type", "bridge"], ["ip", "link", "set", self.bridge, "up"]):
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode != 0:
                raise EngineError(f"could not create the lab engine's bridge ({' '.join(argv)}): {done.stderr.strip()}")

    def _delete_bridge(self) -> None:
        if self.has_bridge():
            subprocess.run(["ip", "link", "delete", self.bridge, "type", "bridge"], capture_output=True)

    def has_bridge(self) -> bool:
        return Path("/sys/class/net", self.bridge).exists()

    # ---- the one forwarding rule ---------------------------------------------------------
    def _rule(self) -> list[str] | None:
        """The rule's chain and match, or None where the machine's FORWARD chain drops nothing."""
        if shutil.which("iptables") is None:
            return None
        chain = "DOCKER-USER"
        if subprocess.run(["iptables", "-w", "-S", chain], capture_output=True).returncode != 0:
            policy = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True).stdout
            if "-P FORWARD DROP" not in policy:
                return None
            chain = "FORWARD"
        return [chain, "-s", POOL_NETWORK, "-d", POOL_NETWORK, "-m", "comment", "--comment",
                f"runbook-tui lab engine {self.socket}"[:255], "-j", "ACCEPT"]

    def allow_forwarding(self) -> None:
        rule = self._rule()
        if rule is None or subprocess.run(["iptables", "-w", "-C", *rule], capture_output=True).returncode == 0:
            return
        done = subprocess.run(["iptables", "-w", "-I", *rule], capture_output=True, text=True)
        if done.returncode != 0:
            raise EngineError(f"could not let the lab's engine's containers reach each other "
                              f"(iptables -I {' '.join(rule)}): {done.stderr.strip()}")

    def revoke_forwarding(self) -> None:
        rule = self._rule()
        while rule is not None and subprocess.run(["iptables", "-w", "-D", *rule], capture_output=True).returncode == 0:
            pass  # every copy of this engine's own rule, and no other

    def forwarding_allowed(self) -> bool:
        rule = self._rule()
        return rule is not None and subprocess.run(["iptables", "-w", "-C", *rule], capture_output=True).returncode == 0

    def mounted(self) -> list[str]:
        """Mount points under the engine's folder (a stopped engine leaves none)."""
        try:
            mounts = Path("/proc/mounts").read_text().splitlines()
        except OSError:
            return []
        root = str(self.root.resolve()) + "/"
        return [m.split()[1] for m in mounts if len(m.split()) > 1 and m.split()[1].startswith(root)]


def _reap(pid: int) -> bool:
    """Collect the engine's exit status when this process started it (a test, `lab up` in-process)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return False


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "no log"
