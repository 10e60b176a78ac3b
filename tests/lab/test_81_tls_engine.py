"""A tcp:// engine with TLS for real: a dockerd of the test's own listening on a loopback port with
--tlsverify, reached by the tool's looks and by a step's commands with the Docker CLI's own TLS
settings (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), as a venue gives `[docker] standby = "tcp://..."`.
Seen: the looks built a plain client for any URL, so a TLS engine was "unreachable" to them
while the runbook's commands reached it.

The engine has a bridge interface of its own, no iptables rules and its own data root: it creates no network and
runs no container, and it is stopped by the test that started it (and only it)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine, StepState
from runbook_tui.observe.docker_look import look_stack
from tests.conftest import make_stack_root
from tests.observations import NoLook

PORT = 23760
URL = f"tcp://127.0.0.1:{PORT}"
CHECKLIST = """\
checklist: {id: tls-engine, name: An engine over TLS, revision: "t1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Act
    steps:
      - {id: where, title: Say which engine the standby's commands reach, type: command, stack: standby,
         command: "docker info 2>/dev/null | sed -n 's/^ *Docker Root Dir: //p'"}
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(d: Path) -> tuple[Path, Path]:
    """A CA, the engine's certificate for 127.0.0.1 and a client's: (the engine's folder, the
    client's folder as DOCKER_CERT_PATH wants it: ca.pem, cert.pem, key.pem)."""
    server, client = d / "server", d / "client"
    server.mkdir()
    client.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=runbook test CA",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)
    for name, folder, usage in (("server", server, "serverAuth"), ("client", client, "clientAuth")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(folder / "key.pem"),
                 "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "1", "-extfile", f"{name}.ext", "-out", str(folder / "cert.pem"), cwd=d)
        shutil.copy(d / "ca.pem", folder / "ca.pem")
    return server, client


@pytest.fixture(scope="module")
def tls_engine():
    # A short path: the engine's containerd puts sockets under its exec root (108-byte limit).
    d = Path(tempfile.mkdtemp(prefix="rb-tls-", dir="/tmp"))
    server, client = _certificates(d)
    (d / "daemon.json").write_text("{}\n")
    # A default bridge of its own: `--bridge none` would delete the machine's docker0.
    bridge = "rbt" + d.name[-8:].replace("_", "").lower()
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    argv = ["dockerd", "-H", f"unix://{d}/docker.sock", "-H", URL, "--tlsverify",
            "--tlscacert", str(server / "ca.pem"), "--tlscert", str(server / "cert.pem"), "--tlskey", str(server / "key.pem"),
            "--data-root", str(d / "data"), "--exec-root", str(d / "exec"), "--pidfile", str(d / "docker.pid"),
            "--config-file", str(d / "daemon.json"), "--bridge", bridge, "--iptables=false", "--ip-masq=false"]
    with open(d / "dockerd.log", "wb") as log:
        engine = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "--host", f"unix://{d}/docker.sock", "version"],
                             capture_output=True).returncode != 0:
            assert engine.poll() is None, (d / "dockerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the test's TLS engine did not answer within 60 s"
            time.sleep(0.2)
        yield d, client
    finally:
        engine.terminate()
        engine.wait(60)
        subprocess.run(["ip", "link", "delete", bridge, "type", "bridge"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def test_a_tls_engine_is_looked_at_and_acted_on_with_the_clis_tls_settings(tls_engine, tmp_path: Path, monkeypatch):
    d, client = tls_engine
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(client))
    # The product's one look, over TLS.
    look = look_stack("standby", "tlsroom-standby", {}, URL)
    assert look.connected, look.error
    assert look.services == () and look.engine == URL
    # A step on the standby's stack runs on its engine, with the same TLS settings.
    root = make_stack_root(tmp_path / "stacks")
    (tmp_path / "c.yaml").write_text(CHECKLIST)
    checklist = load_checklist(tmp_path / "c.yaml")
    values = resolve_variables(checklist, {"room": "tlsroom"}, root).values
    engine = RunEngine.start(checklist, values, NoLook(), tmp_path / "run.jsonl",
                             RunConfig(root, lab=False, docker_hosts={"standby": URL}))
    status = asyncio.run(engine.run_step("where", confirmed=True))
    engine.journal.close()
    assert status.state is StepState.DONE, status
    records = read_journal(tmp_path / "run.jsonl").records
    assert next(r for r in records if r["kind"] == "command_started")["engine"] == f"the standby's engine {URL}"
    assert next(r for r in records if r["kind"] == "command_finished")["output"] == [str(d / "data")]


def test_a_tls_engine_without_the_clients_certificate_is_unreachable_as_a_state(tls_engine, monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    plain = look_stack("standby", "tlsroom-standby", {}, URL)  # no TLS: the engine refuses the plain client
    assert not plain.connected and plain.error and plain.engine == URL, plain
    _d, client = tls_engine
    stranger = tmp_path / "stranger"  # a client certificate of another CA: the engine refuses it
    stranger.mkdir()
    _certificates(stranger)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(stranger / "client"))
    refused = look_stack("standby", "tlsroom-standby", {}, URL)
    assert not refused.connected and refused.error, refused
