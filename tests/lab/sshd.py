"""An sshd of the test's own (Debian's openssh-server, installed by infra/host/setup.sh and never
started as a service), on a loopback port, through which an ssh:// Docker engine is reached as
a venue reaches its stacks' hosts: the Docker CLI's and docker-py's ssh transport, which runs
`docker system dial-stdio` on the far side.

The far side's engine is the one its key's `environment="DOCKER_HOST=..."` names (the lab's own
second engine where it runs). The client side is an `ssh` first on the PATH that adds this
sshd's client config: the operator's own ~/.ssh is never read or written.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


class TestSshd:
    __test__ = False  # a helper named Test...: pytest would try to collect it

    def __init__(self, directory: Path, port: int, engine_socket: str | None, forced_command: str | None = None) -> None:
        """forced_command: what the far side runs instead of the client's command (a hostile host's
        sshd prints what it likes, then runs $SSH_ORIGINAL_COMMAND)."""
        self.dir, self.port, self.engine_socket, self.forced_command = directory, port, engine_socket, forced_command
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def __enter__(self) -> TestSshd:
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        for key in ("host_key", "client_key"):
            if not (d / key).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
        options = [f'environment="DOCKER_HOST={self.engine_socket}"'] if self.engine_socket else []
        if self.forced_command:
            options.append('command="' + self.forced_command.replace('"', '\\"') + '"')
        (d / "authorized_keys").write_text(",".join(options) + (" " if options else "") + (d / "client_key.pub").read_text())
        (d / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nPermitUserEnvironment yes\n"
            f"SetEnv PATH={os.environ.get('PATH', '/usr/bin:/bin')}\n")
        (d / "ssh_config").write_text(
            f"Host 127.0.0.1\n  Port {self.port}\n  IdentityFile {d / 'client_key'}\n  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n")
        bin_dir = d / "bin"
        bin_dir.mkdir(exist_ok=True)
        wrapper = bin_dir / "ssh"
        wrapper.write_text(f"#!/bin/sh\nexec /usr/bin/ssh -F {d / 'ssh_config'} \"$@\"\n")
        wrapper.chmod(0o755)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory (its service makes it)
        self.process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while self.probe().returncode != 0:
            assert self.process.poll() is None, self.process.stderr.read().decode()
            assert time.monotonic() < deadline, "the test's sshd does not answer"
            time.sleep(0.2)
        return self

    def env(self) -> dict[str, str]:
        """The environment a client needs: the ssh wrapper first on the PATH."""
        return {**os.environ, "PATH": f"{self.dir / 'bin'}:{os.environ.get('PATH', '')}"}

    def probe(self) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", "root@127.0.0.1", "true"], env=self.env(), capture_output=True, timeout=10)

    def __exit__(self, *_exc) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
