"""Faults for training drills, injected into a lab room (and healed) the way they happen on site.

Each fault changes the real lab, never the tool's view of it, on the engine its stack lives on: a core that really crash-loops,
a broker that is really dead, a password file that is really stale. The trainee meets it
through the live panels and the checklist, and recovers with the runbook's own commands;
`heal` puts the room back for the next drill.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from runbook_tui.engine.envedit import EnvSnapshot, apply_edit
from runbook_tui.lab import docker_cli
from runbook_tui.lab.lab import DEFAULT_DEVICE, Lab, LabError
from runbook_tui.stacks import broker_hostname, fault_log


@dataclass(frozen=True)
class Fault:
    name: str
    summary: str
    recovery: str  # the runbook's way out, as the trainee should find it
    inject: Callable[[Lab, str], str]
    heal: Callable[[Lab, str], str]
    # The checklist the drill opens: the work in which a trainee meets this fault on site. A
    # drifted standby is found while keeping it current (runbook 5); a promotion would go
    # through without ever looking.
    checklist: str = "promotion.yaml"
    # The stack the scenario needs on the lab's own engine (the one engine the lab may stop):
    # a host that dies is had for real only where stopping its engine harms nothing else.
    on_lab_engine: str | None = None
    # The steps of its checklist this fault is known to fail: their first failure is the fault
    # showing itself (the report does not count it as the trainee's mistake).
    symptoms: tuple[str, ...] = ()


def _set_env(lab: Lab, room: str, role: str, changes: dict[str, str]) -> None:
    stack = lab.stacks(room)[role]
    apply_edit(EnvSnapshot.read(stack.env_file), changes)


def _recreate(lab: Lab, room: str, role: str, service: str) -> None:
    lab.compose(room, role, "up", "-d", "--force-recreate", service)


def _container(lab: Lab, room: str, role: str, service: str) -> str:
    return f"{lab.stacks(room)[role].name}-{service}-1"


_PLACED = {"primary": "--primary-on-lab-engine", "standby": "--two-engines"}  # `lab reset`'s words for it


def engine_shared(lab: Lab, room: str) -> str | None:
    """Why ROOM's host cannot die here (None: it can): the lab's engine also holds another room's
    stacks, and stopping it would stop them too. The drill asks before starting the room over."""
    others = [f"{other}-{role}" for other in sorted(lab.lab_rooms()) if other != room for role in ("primary", "standby")
              if lab.docker_host(other, role) == lab.engine.url]
    if not others:
        return None
    return (f"the lab's engine also holds {', '.join(others)}: the host's death would take them down too. Tear "
            f"those rooms down first (runbook-tui lab down ROOM) or start them over on the machine's engine "
            f"(runbook-tui lab reset ROOM, without RUNBOOK_LAB_TWO_ENGINES)")


def _placed(lab: Lab, room: str, role: str, scenario: str) -> None:
    """ROOM's ROLE stack must live on the lab's own engine, the one engine the lab ever stops."""
    if lab.docker_host(room, role) != lab.engine.url:
        raise LabError(f"{room}-{role} is on {lab.engine_name(lab.docker_host(room, role))}, and the lab stops no "
                       f"engine but its own: start the room over with it there (runbook-tui lab reset {room} "
                       f"{_PLACED[role]}), or run the drill (runbook-tui drill {room} --scenario {scenario}), which does")


# ---- the faults ------------------------------------------------------------------------------

def _flap(lab: Lab, room: str) -> str:
    _set_env(lab, room, "primary", {"CORE_FAULT": "crashloop"})
    _recreate(lab, room, "primary", "sentient-core")
    return "the primary core now exits a few seconds after each start; its restart policy brings it back"


def _unflap(lab: Lab, room: str) -> str:
    _set_env(lab, room, "primary", {"CORE_FAULT": ""})
    if lab.compose(room, "primary", "ps", "-q", "sentient-core", check=False).stdout.strip():
        _recreate(lab, room, "primary", "sentient-core")
    return "CORE_FAULT cleared in the primary .env"


def _kill_broker(lab: Lab, room: str) -> str:
    docker_cli.docker("kill", _container(lab, room, "primary", "mosquitto"), host=lab.docker_host(room, "primary"), check=True)
    return "the primary broker was killed (it stays down: a killed container is not restarted)"


def _start_broker(lab: Lab, room: str) -> str:
    # `up -d`, not `docker start`: after a promotion drill the primary may have been taken down.
    lab.compose(room, "primary", "up", "-d")
    return "the primary stack was brought up again"


def _stale_passwd(lab: Lab, room: str) -> str:
    stack = lab.stacks(room)["standby"]
    passwd = stack.directory / "mosquitto" / "passwd"
    user = stack.env().get("MQTT_USERNAME") or "sentient"
    old = secrets.token_urlsafe(18)  # a password nobody has any more: the file predates a change
    done = subprocess.run(["mosquitto_passwd", "-c", str(passwd), user], input=f"{old}\n{old}\n", capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise LabError(f"mosquitto_passwd failed: {done.stderr.strip()}")
    passwd.chmod(0o600)
    _recreate(lab, room, "standby", "mosquitto")
    return "the standby broker's password file is out of date: the room's credentials are refused there"


def _fresh_passwd(lab: Lab, room: str) -> str:
    stack = lab.stacks(room)["standby"]
    lab.run_script("mosquitto-make-passwd.sh", str(stack.env_file))
    _recreate(lab, room, "standby", "mosquitto")
    return "the standby's password file regenerated from its .env and the broker recreated"


def _silent_controller(lab: Lab, room: str) -> str:
    lab.processes.stop(lab.controller_name(room))
    lab.start_controller(room, lab.stacks(room)["primary"], extra_args=["--never-ack"])
    return f"controller {DEFAULT_DEVICE} now receives commands but never acks them"


def _normal_controller(lab: Lab, room: str) -> str:
    return lab.power_cycle_controller(room)


def _drift(lab: Lab, room: str) -> str:
    _set_env(lab, room, "standby", {"CORE_VERSION": "7.9.0", "CORE_ACK_TIMEOUT_S": "1"})
    _recreate(lab, room, "standby", "sentient-core")
    return "the standby drifted: another core version and ack timeout than the primary"


def _undrift(lab: Lab, room: str) -> str:
    primary = lab.stacks(room)["primary"].env()
    _set_env(lab, room, "standby", {"CORE_VERSION": primary.get("CORE_VERSION", ""),
                                    "CORE_ACK_TIMEOUT_S": primary.get("CORE_ACK_TIMEOUT_S", "3")})
    _recreate(lab, room, "standby", "sentient-core")
    return "the standby's .env aligned with the primary's again"


def _split_horizon(lab: Lab, room: str) -> str:
    dns = lab.second_resolver()
    dns.start()
    dns.point(broker_hostname(room, lab.dns_settings.domain), lab.stacks(room)["primary"].broker().host)
    second = f"{lab.dns_settings.listen}:{lab.dns_settings.port + 1}"
    return (f"a second resolver on {second} keeps answering the primary: repointing one resolver is not enough "
            f"(each is repointed on its own: runbook-tui lab dns point {room} ROLE --resolver {second})")


def _one_horizon(lab: Lab, room: str) -> str:
    dns = lab.second_resolver()
    dns.remove(broker_hostname(room, lab.dns_settings.domain))
    if not dns.records():
        dns.stop()
    return "the second resolver stopped"


def _lose_primary_host(lab: Lab, room: str) -> str:
    _placed(lab, room, "primary", "primary-host-lost")
    if (shared := engine_shared(lab, room)) is not None or lab.docker_host(room, "standby") == lab.engine.url:
        raise LabError(shared or f"{room}-standby is on the lab's engine too: the standby would die with the primary")
    pid = lab.engine.stop()  # SIGTERM to the lab's own dockerd: its containers stop with it
    if pid is None:
        return "the primary's host was already down (the lab's engine was not running)"
    return (f"the primary's host lost power: the lab's engine (pid {pid}) stopped with {room}-primary's containers; "
            f"neither its engine nor its broker answers")


def _power_primary_host(lab: Lab, room: str) -> str:
    _placed(lab, room, "primary", "primary-host-lost")
    how = lab.engine.start()
    # The host's dockerd restarts what its restart policy says (unless-stopped: whatever had not
    # been stopped by hand when the power went), with the configuration it had then.
    ps = lab.compose(room, "primary", "ps", "--format", "{{.Service}}={{.State}}", check=False)
    running = " ".join(sorted(ps.stdout.split())) or "no containers"
    return f"the primary's host powered on (the lab's engine {how}); {room}-primary there: {running}"


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("flapping-primary", "the primary core crash-loops (dual-control risk)",
          "shut the primary down (runbook 3.1) before enabling dispatch on the standby", _flap, _unflap),
    Fault("primary-broker-dead", "the primary's broker is dead; controllers lose their broker",
          "promote: the standby's broker takes over once mqtt.<room> is repointed", _kill_broker, _start_broker),
    Fault("standby-passwd-stale", "the standby broker's password file is out of date",
          "scripts/mosquitto-make-passwd.sh on the standby .env, then recreate its broker (runbook 5)",
          _stale_passwd, _fresh_passwd, symptoms=("recreate-core",)),
    Fault("resolvers-disagree", "a second resolver still answers the primary after the repoint",
          "repoint the name on every resolver the room uses", _split_horizon, _one_horizon),
    Fault("controller-never-acks", "a controller receives commands but never acks",
          "the smoke test fails with 'no ack': have the controller power-cycled at the room "
          "(in the lab: runbook-tui lab power-cycle ROOM), then run the smoke test again",
          _silent_controller, _normal_controller, symptoms=("smoke-test",)),
    Fault("standby-drift", "the standby drifted from the primary (core version and config)",
          "align the standby's .env with the primary's and recreate its core (runbook 5)", _drift, _undrift,
          "standby-current.yaml"),
    Fault("primary-host-lost", "the primary's host dies (its engine and containers stop); later it powers on",
          "confirm the fence at the room (host off or unplugged), then promote; when it powers on and its old "
          "core dispatches, dual control: shut the primary down on its own engine",
          _lose_primary_host, _power_primary_host, on_lab_engine="primary"),
)}


def inject(lab: Lab, room: str, name: str) -> str:
    if name not in FAULTS:
        raise LabError(f"no fault {name!r}; faults: {', '.join(FAULTS)}")
    if room not in lab.lab_rooms():
        raise LabError(f"{room} is not up in the lab: run 'runbook-tui lab up {room}' first")
    effect = FAULTS[name].inject(lab, room)
    log_fault(lab, room, name, effect, healed=False)
    return effect


def heal(lab: Lab, room: str, name: str) -> str:
    if name not in FAULTS:
        raise LabError(f"no fault {name!r}; faults: {', '.join(FAULTS)}")
    effect = FAULTS[name].heal(lab, room)
    log_fault(lab, room, name, effect, healed=True)
    return effect


def log_fault(lab: Lab, room: str, name: str, effect: str, healed: bool) -> None:
    """Every fault injected or healed, from the app's F or from `lab fault` in another terminal,
    goes to the room's fault log; the room's open run (its console the journal's one writer)
    reads it and journals it, so the report never blames a trainer's fault on the trainee."""
    import json
    import os
    import time

    path = fault_log(lab.stack_root, room)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"ts": round(time.time(), 3), "fault": name, "effect": effect, "healed": healed,
                       "by": os.environ.get("USER", "trainer")}) + "\n"
    with open(path, "a") as out:
        out.write(line)
