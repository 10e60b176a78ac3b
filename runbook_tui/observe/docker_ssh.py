"""An ssh:// Docker engine as the Docker CLI reaches it (the `ssh` command, the operator's own ssh
config, agent and keys), with the ssh process kept off the console's terminal.

docker-py starts `ssh ... docker system dial-stdio` with the console's terminal as its standard
error and controlling terminal. So each failed look printed ssh's words over the TUI's screen
(seen: "ssh: connect to host ... Connection refused" 459 times across the panes), a hostile
host's bytes reached the terminal raw (its sshd's forced command retitled the console's window
and cleared its screen), and a host-key or password question would read the operator's keys.

Here the ssh process runs in a session of its own (no controlling terminal: it cannot ask),
with BatchMode (it fails instead of asking), and its error output goes to a file this process
reads: the look says ssh's last words as its reason, through the sanitiser like any text from
outside. docker-py's socket class is replaced by this one for the process (the library offers no
seam for the command it runs); everything else of its ssh transport is as it ships.

Its own module so that docker-py is imported on the probe's thread, never by the first frame.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from typing import IO, Any

from docker.transport import sshconn

LAST_WORDS_LIMIT = 2000
_last_words: dict[str, str] = {}  # "user@host:port" -> what ssh said last on its error output
_lock = threading.Lock()


class _QuietSSHSocket(sshconn.SSHSocket):
    _errors: IO[bytes] | None = None  # ssh's error output, from connect on

    # docker-py's connect takes no address (its socket is a process): its stubs say the same.
    def connect(self, **kwargs: Any) -> None:  # type: ignore[override]
        args = ["ssh", "-o", "BatchMode=yes"]
        if self.user:
            args += ["-l", self.user]
        if self.port:
            args += ["-p", self.port]
        args += ["--", self.host, "docker system dial-stdio"]
        env = dict(os.environ)
        env.pop("LD_LIBRARY_PATH", None)  # as docker-py does
        env.pop("SSL_CERT_FILE", None)
        self._errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._errors, start_new_session=True)
        with _lock:
            _sockets[self._key()] = self

    def _key(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}{':' + self.port if self.port else ''}"

    def words(self) -> str:
        errors = self._errors
        if errors is None or errors.closed:
            return ""
        try:
            size = errors.seek(0, os.SEEK_END)
            errors.seek(max(0, size - LAST_WORDS_LIMIT))
            return errors.read().decode("utf-8", errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        words = self.words()
        if words:
            with _lock:
                _last_words[self._key()] = words
        proc = self.proc
        super().close()
        if proc is not None:
            try:
                proc.wait(timeout=2)  # reaped: no `ssh` (nor its far side's dial-stdio) outlives the look
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=2)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        if self._errors is not None:
            self._errors.close()


_sockets: dict[str, _QuietSSHSocket] = {}
sshconn.SSHSocket = _QuietSSHSocket  # type: ignore[misc]  # replaced for the process, on purpose: see above


def ssh_words(docker_host: str) -> str:
    """What ssh last said on its error output for this engine ("ssh: connect to host p1 port 22:
    Connection refused"), raw: the caller sanitises it. Empty when it said nothing."""
    key = docker_host.removeprefix("ssh://").rstrip("/")
    with _lock:
        live = _sockets.get(key)
        said = live.words() if live is not None else ""
        return said or _last_words.get(key, "")
