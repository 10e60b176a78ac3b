"""An ssh:// engine for real: a stack looked at and acted on through an sshd of the test's own,
as a venue whose stacks live on other hosts gives them (`[docker] standby = "ssh://..."`).
Seen: readiness with such a setting said "Install paramiko package"."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import RunConfig, RunEngine, StepState
from runbook_tui.observe.docker_look import look_stack
from runbook_tui.settings import lab_defaults
from tests.lab.sshd import TestSshd
from tests.observations import NoLook

CHECKLIST = """\
checklist: {id: ssh-engine, name: An engine over ssh, revision: "s1"}
variables:
  room: {description: The room.}
sections:
  - id: s1
    title: Act
    steps:
      - {id: count, title: Count the standby's containers, type: command, stack: standby,
         command: "docker ps --filter label=com.docker.compose.project={{room}}-standby -q | wc -l"}
"""



def test_an_ssh_engine_is_looked_at_and_acted_on_through_the_ssh_transport(lab, tmp_path: Path, monkeypatch):
    standby_engine = lab_defaults().for_room("room1").docker_hosts.get("standby")  # the lab's own engine, where it runs it
    env = lab.stack_env("room1-standby")
    local = look_stack("standby", "room1-standby", env, standby_engine)
    assert local.connected and local.services, local
    with TestSshd(tmp_path / "sshd", 2299, standby_engine) as sshd:
        monkeypatch.setenv("PATH", sshd.env()["PATH"])
        # The product's one look (the probes and the guards take it) through the ssh transport.
        over_ssh = look_stack("standby", "room1-standby", env, sshd.url)
        assert over_ssh.connected, over_ssh.error
        assert [(s.service, s.state, s.flags) for s in over_ssh.services] == \
            [(s.service, s.state, s.flags) for s in local.services]
        # The Docker CLI the runbook's commands use, over the same transport.
        cli = subprocess.run(["docker", "--host", sshd.url, "ps", "-q", "--filter",
                              "label=com.docker.compose.project=room1-standby"], capture_output=True, text=True,
                             env=sshd.env(), timeout=60)
        assert cli.returncode == 0 and len(cli.stdout.split()) == len(local.services), cli.stderr
        # A step on the standby's stack runs on its engine: the settings' ssh:// URL.
        (tmp_path / "c.yaml").write_text(CHECKLIST)
        checklist = load_checklist(tmp_path / "c.yaml")
        values = resolve_variables(checklist, {"room": "room1"}, lab.root).values
        engine = RunEngine.start(checklist, values, NoLook(), tmp_path / "run.jsonl",
                                 RunConfig(lab.root, lab=True, docker_hosts={"standby": sshd.url}))
        status = asyncio.run(engine.run_step("count", confirmed=True))
        assert status.state is StepState.DONE, status
        engine.journal.close()
    records = read_journal(tmp_path / "run.jsonl").records
    started = next(r for r in records if r["kind"] == "command_started")
    assert started["engine"] == f"the standby's engine {sshd.url}"
    finished = next(r for r in records if r["kind"] == "command_finished")
    assert finished["output"] == [str(len(local.services))]


# A look in a process of its own whose error output is a pipe standing for the console's terminal:
# what reaches it is what the operator's screen would show.
LOOK = """\
import sys
from runbook_tui.observe.docker_look import look_stack
snap = look_stack("standby", "room1-standby", {}, sys.argv[1])
print(repr((snap.connected, snap.error, len(snap.services))))
"""


def test_a_hostile_or_lost_ssh_hosts_words_never_reach_the_consoles_terminal(tmp_path: Path):
    """Seen: docker-py's ssh process wrote to the console's terminal: 459 lines of "ssh: connect to
    host ... Connection refused" over the TUI's panes while the host was down, and a host whose
    sshd printed an OSC title and ESC[2J retitled the console's window and cleared its screen."""
    hostile = "printf '\\033]0;PWN-SSH\\007\\033[2J' >&2; exec $SSH_ORIGINAL_COMMAND"
    with TestSshd(tmp_path / "sshd", 2298, None, forced_command=hostile) as sshd:  # the machine's engine
        env = sshd.env()
        up = subprocess.run([sys.executable, "-c", LOOK, sshd.url], capture_output=True, env=env, timeout=60)
        assert up.returncode == 0, up.stderr
        connected, error, _services = ast.literal_eval(up.stdout.decode())
        assert connected, error  # the host answers: its hostile words are not the look's
        assert b"PWN" not in up.stderr and b"\x1b" not in up.stderr, up.stderr
    # The host gone: the look says ssh's reason, sanitised, and nothing reaches the terminal.
    down = subprocess.run([sys.executable, "-c", LOOK, sshd.url], capture_output=True, env=env, timeout=60)
    assert down.returncode == 0, down.stderr
    connected, error, _services = ast.literal_eval(down.stdout.decode())
    assert not connected and "Connection refused" in error and error.startswith("ssh: "), error
    assert down.stderr == b"", down.stderr
    # No ssh of the look outlives it.
    left = subprocess.run(["pgrep", "-f", f"ssh -o BatchMode=yes -l root -p {sshd.port}"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
