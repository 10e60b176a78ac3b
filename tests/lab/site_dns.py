"""A DNS server of a site's own (dnsmasq, as a venue's UDM Pro runs), not the lab's: it answers
a room's broker name from a hosts file the test rewrites."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path


class SiteDns:
    def __init__(self, directory: Path, port: int, name: str, listen: str = "127.0.0.1") -> None:
        self.hosts = directory / f"site-hosts-{port}"
        self.port, self.name, self.listen = port, name, listen
        self.process: subprocess.Popen | None = None

    def answer(self, *addresses: str) -> None:
        self.hosts.write_text("".join(f"{a} {self.name}\n" for a in addresses))
        self.hosts.chmod(0o644)
        if self.process is not None:
            self.process.send_signal(signal.SIGHUP)  # dnsmasq rereads its hosts file at once

    def __enter__(self) -> SiteDns:
        if not self.hosts.exists():
            self.answer()
        self.process = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", f"--port={self.port}", f"--listen-address={self.listen}", "--bind-interfaces",
             "--no-resolv", "--no-hosts", f"--addn-hosts={self.hosts}", "--local-ttl=1", "--pid-file=", "--user=root"],
            stderr=subprocess.PIPE)
        time.sleep(0.3)
        assert self.process.poll() is None, self.process.stderr.read().decode()
        return self

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        self.process.wait(5)
