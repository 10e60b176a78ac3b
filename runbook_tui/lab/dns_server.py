"""The lab's DNS server: dnsmasq answering mqtt.<room>.sentientengine.ai from a hosts file.

On site the name lives on the UDM Pro, which serves local records with dnsmasq too; in the
lab, repointing rewrites the hosts file and sends SIGHUP, and the new answer is served at once.
"""

from __future__ import annotations

import getpass
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from runbook_tui.files import write_whole
from runbook_tui.lab.errors import LabError
from runbook_tui.lab.processes import ProcessTable
from runbook_tui.lab.readiness import resolve_a, wait_for
from runbook_tui.stacks import DEFAULT_DOMAIN

PROCESS_NAME = "dnsmasq"


@dataclass(frozen=True)
class DnsSettings:
    listen: str = "127.0.0.1"
    port: int = 5353
    ttl_s: int = 5
    domain: str = DEFAULT_DOMAIN


class LabDns:
    def __init__(self, state_dir: Path, processes: ProcessTable, settings: DnsSettings = DnsSettings()) -> None:
        self.hosts_file = state_dir / "dns" / "hosts"
        self.processes = processes
        self.settings = settings

    def running(self) -> bool:
        return self.processes.pid(PROCESS_NAME) is not None

    def records(self) -> dict[str, str]:
        """name -> address, as served."""
        if not self.hosts_file.exists():
            return {}
        records = {}
        for line in self.hosts_file.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 2:
                records[parts[1]] = parts[0]
        return records

    def _write(self, records: dict[str, str]) -> None:
        self.hosts_file.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{addr} {name}\n" for name, addr in sorted(records.items()))
        write_whole(self.hosts_file, body, mode=0o644)  # dnsmasq rereads it after dropping privileges
        self.processes.signal(PROCESS_NAME, signal.SIGHUP)

    def point(self, name: str, address: str) -> None:
        records = self.records()
        records[name] = address
        self._write(records)

    def remove(self, name: str) -> None:
        records = self.records()
        if records.pop(name, None) is not None:
            self._write(records)

    def start(self) -> None:
        if self.running():
            return
        binary = shutil.which("dnsmasq")
        if binary is None:
            raise LabError("dnsmasq is not installed (apt-get install dnsmasq-base)")
        if not self.hosts_file.exists():
            self._write({})
        s = self.settings
        argv = [
            binary, "--keep-in-foreground", "--log-facility=-",
            f"--port={s.port}", f"--listen-address={s.listen}", "--bind-interfaces",
            "--no-resolv", "--no-hosts", f"--addn-hosts={self.hosts_file}",
            f"--local-ttl={s.ttl_s}",
            # Names of the domain that are not in the file get NXDOMAIN, not REFUSED.
            f"--local=/{s.domain}/", "--pid-file=",
            # dnsmasq would drop to `nobody`, who may not reach a hosts file under a private
            # stack root; keep the lab user's identity (port 5353 needs no privilege).
            f"--user={getpass.getuser()}",
        ]
        self.processes.start(PROCESS_NAME, argv, marker=f"--addn-hosts={self.hosts_file}")
        # Until dnsmasq has installed its handlers, a SIGHUP (a repoint) would kill it:
        # return only once it answers.
        probe = f"lab-probe.{s.domain}"
        if not wait_for(lambda: resolve_a(probe, s.listen, s.port, 0.3) == "NXDOMAIN" or not self.running(), 10, 0.1) \
                or not self.running():
            log = self.processes.log_path(PROCESS_NAME)
            tail = log.read_text().strip().splitlines()[-3:] if log.exists() else []
            self.processes.stop(PROCESS_NAME)
            raise LabError(f"dnsmasq did not start on {s.listen}:{s.port}: {' '.join(tail) or 'no answer'}")

    def stop(self) -> bool:
        return self.processes.stop(PROCESS_NAME)
