"""The training lab: `runbook-tui lab up|reset|down|status|fault|dns point`.

`up` builds what is missing and brings a room to the state the runbook starts from: both
stacks running (primary dispatching, standby not), mqtt.<room> answered with the primary's
address by a real DNS server, and a simulated controller connected through that name.
Every step is idempotent, so `up` on a running lab only checks it. `down` removes every
container, network, volume and process the lab started.

The lab runs a Docker engine of its own beside the machine's (`lab/engine.py`). With
RUNBOOK_LAB_TWO_ENGINES=1 (or `lab up --two-engines`) a room brought up places its standby
there, as on a venue whose standby has a host of its own: the lab records where each stack
lives (.lab/rooms.json, `docker_hosts`), every lab command on a stack runs with DOCKER_HOST set
to that stack's engine, and the lab's settings (settings.lab_defaults) name it as the room's
`[docker] standby`, which the product's looks read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runbook_tui.engine.journal import abandon_unfinished
from runbook_tui.envfile import is_true
from runbook_tui.lab import docker_cli
from runbook_tui.lab.base_image import ensure_base_image
from runbook_tui.lab.dns_server import DnsSettings, LabDns
from runbook_tui.lab.engine import EngineError, LabEngine
from runbook_tui.lab.errors import LabError
from runbook_tui.lab.processes import ProcessTable
from runbook_tui.lab.readiness import read_retained, resolve_a, wait_for
from runbook_tui.stacks import ROLES, Stack, broker_hostname, default_rooms_dir, default_runs_dir, fault_log, room_stacks

DEFAULT_DEVICE = "sim1"
# Compose output worth showing as progress: build steps and container/network/volume changes.
_PROGRESS_LINE = re.compile(r"^(#\d+ \[[^\]]+\] (FROM|RUN|COPY)|\s*(Container|Network|Volume)\b)")
TWO_ENGINES_VAR = "RUNBOOK_LAB_TWO_ENGINES"


def two_engines_wanted() -> bool:
    """Whether rooms brought up from now on place their standby on the lab's own engine."""
    return os.environ.get(TWO_ENGINES_VAR, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Lab:
    stack_root: Path
    report: Callable[[str], None] = print
    dns_settings: DnsSettings = field(default_factory=DnsSettings)
    verbose: bool = False
    two_engines: bool = field(default_factory=two_engines_wanted)
    """Rooms brought up now place their standby on the lab's own engine."""
    lab_engine_role: str = "standby"
    """Which stack goes on the lab's engine with two engines: the primary, for a host that dies
    (stopping the lab's engine is the host losing power)."""

    def __post_init__(self) -> None:
        self.stack_root = self.stack_root.resolve()
        self.rooms_dir = default_rooms_dir(self.stack_root)
        self.state_dir = self.stack_root / ".lab"
        self.processes = ProcessTable(self.state_dir)
        self.dns = LabDns(self.state_dir, self.processes, self.dns_settings)
        self.engine = LabEngine(self.state_dir)

    # ---- bookkeeping -------------------------------------------------------------------
    @property
    def _registry(self) -> Path:
        return self.state_dir / "rooms.json"

    def lab_rooms(self) -> dict[str, dict]:
        """Rooms this lab brought up: room -> {"created": bool, "docker_hosts": {role: Docker host URL}}
        (a role not in docker_hosts lives on the machine's engine). settings.lab_defaults reads it."""
        try:
            return json.loads(self._registry.read_text())
        except (OSError, ValueError):
            return {}

    def _register(self, room: str, created: bool, docker_hosts: dict[str, str], complete: bool) -> None:
        """Record ROOM before its stacks are started (`down` then finds what a failed `up` left, on its
        engines) and again, complete, once they are up."""
        rooms = self.lab_rooms()
        rooms[room] = {"created": rooms.get(room, {}).get("created", False) or created, "docker_hosts": docker_hosts,
                       "complete": complete}
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._registry.write_text(json.dumps(rooms, indent=1))

    def _unregister(self, room: str) -> None:
        rooms = self.lab_rooms()
        if rooms.pop(room, None) is not None:
            self._registry.write_text(json.dumps(rooms, indent=1))

    def stacks(self, room: str) -> dict[str, Stack]:
        return room_stacks(self.rooms_dir, room)

    def docker_host(self, room: str, role: str) -> str | None:
        """The engine ROLE's stack of ROOM lives on (None: the machine's)."""
        hosts = self.lab_rooms().get(room, {}).get("docker_hosts") or {}
        return hosts.get(role) if isinstance(hosts, dict) else None

    def engine_name(self, host: str | None) -> str:
        return "the machine's engine" if host is None else ("the lab's engine" if host == self.engine.url else host)

    def compose(self, room: str, role: str, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        """`docker compose` on ROLE's stack of ROOM, on the engine that stack lives on."""
        return docker_cli.compose(self.stacks(room)[role].directory, *args, host=self.docker_host(room, role), **kwargs)

    def run_script(self, name: str, *args: str, env: dict[str, str] | None = None) -> str:
        """Run scripts/NAME of the stack root with ARGS (and ENV added) and return its output; LabError if it fails."""
        script = self.stack_root / "scripts" / name
        # The scripts parse .env with this interpreter's python-dotenv.
        path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        run_env = {**os.environ, "STACK_ROOT": str(self.stack_root), "PATH": path, **(env or {})}
        done = subprocess.run([str(script), *args], cwd=self.stack_root, capture_output=True, text=True, env=run_env)
        if done.returncode != 0:
            raise LabError(f"scripts/{name} {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def controller_name(self, room: str, device: str = DEFAULT_DEVICE) -> str:
        return f"controller-{room}-{device}"

    def controller_state(self, room: str, device: str = DEFAULT_DEVICE) -> dict:
        try:
            return json.loads((self.state_dir / f"{self.controller_name(room, device)}.json").read_text())
        except (OSError, ValueError):
            return {}

    # ---- up ----------------------------------------------------------------------------
    def up(self, room: str) -> None:
        started = time.monotonic()
        steps = 6

        def step(n: int, what: str) -> float:
            self.report(f"[{n}/{steps}] {what}")
            return time.monotonic()

        def done(t0: float, what: str) -> None:
            self.report(f"      {what} ({time.monotonic() - t0:.1f}s)")

        t = step(1, "Docker engines")
        try:
            machine = docker_cli.check_docker()
        except docker_cli.DockerUnavailable as exc:
            raise LabError(str(exc)) from None
        try:
            own = self.engine.start()
        except EngineError as exc:
            raise LabError(str(exc)) from None
        done(t, f"the machine's: {machine}; the lab's own at {self.engine.url}: {own}")

        t = step(2, "base image")
        try:
            base, how = ensure_base_image(lambda m: self.report(f"      {m}"))
        except RuntimeError as exc:
            raise LabError(f"no base image: {exc}") from None
        done(t, f"{base}: {how}")

        t = step(3, f"room directories for {room}")
        stacks = self.stacks(room)
        present = [s.exists() for s in stacks.values()]
        record = self.lab_rooms().get(room)
        # A room whose `up` failed part-way is brought up again, where it was placed.
        already_up = record is not None and record.get("complete", True)
        created = False
        if all(present):
            done(t, f"{stacks['primary'].directory.parent} has {room}-primary and {room}-standby")
        elif any(present):
            raise LabError(f"only one stack of {room} exists in {self.rooms_dir}; fix or remove it first")
        else:
            self.run_script("new-room-standby.sh", room, env={"BASE_IMAGE": base})
            created = True
            done(t, f"created {room}-primary and {room}-standby in {self.rooms_dir}")
        for stack in stacks.values():
            if not (stack.directory / "mosquitto" / "passwd").is_file():
                self.run_script("mosquitto-make-passwd.sh", str(stack.env_file))
                self.report(f"      wrote the broker password file of {stack.name}")

        if already_up:
            # A drill or a promotion may have stopped the primary or enabled the standby:
            # starting a stack again could create dual control. Only look.
            t = step(4, "stacks (already brought up by the lab: checked, not started)")
            for role, stack in stacks.items():
                ps = self.compose(room, role, "ps", "--format", "{{.Service}}={{.State}}", check=False)
                self.report(f"      {stack.name} on {self.engine_name(self.docker_host(room, role))}: "
                            f"{' '.join(sorted(ps.stdout.split())) or 'no containers (left as it is)'}")
            done(t, f"'runbook-tui lab reset {room}' starts the room over")
        else:
            t = time.monotonic()
            if record is not None:
                hosts = dict(record.get("docker_hosts") or {})
            else:
                hosts = {self.lab_engine_role: self.engine.url} if self.two_engines else {}
            self._register(room, created=created, docker_hosts=hosts, complete=False)
            self._bring_up(room, stacks, hosts)
            self._register(room, created=created, docker_hosts=hosts, complete=True)
            done(t, ", ".join(f"{s.name} up on {self.engine_name(hosts.get(role))} "
                              f"(dispatch {'on' if s.dispatch_enabled_in_env() else 'off'})" for role, s in stacks.items()))
        self._dns_and_controller(room, stacks, step, done, mid_run=already_up)
        self.report(f"lab up: {room} ready in {time.monotonic() - started:.1f}s")

    def reset(self, room: str) -> None:
        """Start a room over: tear it down with its directories, then bring it up fresh."""
        if room in self.lab_rooms():
            leftovers = self.down([room], purge=True)
            if leftovers:
                raise LabError(f"{room} could not be torn down: still present: {', '.join(leftovers)}")
        self.up(room)

    def _bring_up(self, room: str, stacks: dict[str, Stack], hosts: Mapping[str, str | None]) -> None:
        self.report("[4/6] stacks (the first run builds the images: a few minutes)")
        enabled = [s.name for s in stacks.values() if s.dispatch_enabled_in_env()]
        if len(enabled) > 1:
            raise LabError(f"both stacks of {room} have CORE_DISPATCH_ENABLED=true in .env: starting both would be "
                           f"dual control. Set it false on the standby first.")
        # A stack for the lab's engine has its images built on the machine's (where the build
        # cache is, and a network: the lab's engine has no default bridge for a build to use)
        # and copied over, while the machine's stacks come up.
        elsewhere = {role: host for role, host in hosts.items() if host is not None}
        copies: dict[str, threading.Thread] = {}
        failures: dict[str, str] = {}
        for role, host in elsewhere.items():
            copies[role] = threading.Thread(target=self._images_to, args=(stacks[role], host, failures), daemon=True)
            copies[role].start()
        try:
            for role, stack in stacks.items():
                if role in elsewhere:
                    continue
                self.report(f"      {stack.name}: docker compose --env-file .env up -d --build")
                docker_cli.compose(stack.directory, "--progress", "plain", "up", "-d", "--build", on_line=self._compose_line)
            for role, copy in copies.items():
                copy.join()
                if role in failures:
                    raise LabError(failures[role])
                stack = stacks[role]
                self.report(f"      {stack.name} on {self.engine_name(elsewhere[role])}: docker compose --env-file .env up -d")
                docker_cli.compose(stack.directory, "--progress", "plain", "up", "-d", on_line=self._compose_line,
                                   host=elsewhere[role])
        except RuntimeError as exc:
            raise LabError(str(exc)) from None
        for stack in stacks.values():
            broker = stack.broker()
            status_topic = stack.topics().status
            if not wait_for(lambda b=broker, s=status_topic: (read_retained(b, s) or {}).get("online") is True, 90):
                raise LabError(f"{stack.name}: sentient-core did not come online on {broker} within 90s "
                               f"(see: cd {stack.directory} && docker compose --env-file .env logs sentient-core)")

    def _dns_and_controller(self, room: str, stacks: dict[str, Stack], step, done, mid_run: bool = False) -> None:
        t = step(5, "DNS server")
        name = broker_hostname(room, self.dns_settings.domain)
        try:
            self.dns.start()
        except RuntimeError as exc:
            raise LabError(str(exc)) from None
        if name not in self.dns.records():
            self.dns.point(name, stacks["primary"].broker().host)
        s = self.dns_settings
        answered = wait_for(lambda: resolve_a(name, s.listen, s.port) == self.dns.records()[name], 10)
        if not answered:
            raise LabError(f"dnsmasq on {s.listen}:{s.port} does not answer {name}; see {self.processes.log_path('dnsmasq')}")
        address = self.dns.records()[name]
        done(t, f"dnsmasq on {s.listen}:{s.port}: {name} -> {address} ({self._which_stack(room, address)})")

        t = step(6, f"simulated controller {DEFAULT_DEVICE}")
        self.start_controller(room, stacks["primary"])
        if not wait_for(lambda: self.controller_state(room).get("connected") is True, 10 if mid_run else 30):
            state = self.controller_state(room)
            if mid_run:
                # Mid-promotion the name may point at a broker the runbook has just stopped: that is
                # the room's state, not a lab failure. The controller keeps retrying on its own.
                done(t, f"{DEFAULT_DEVICE} not connected yet ({state.get('last_error') or 'no state yet'}); it keeps "
                        f"retrying through {name}")
                return
            raise LabError(f"controller {DEFAULT_DEVICE} did not connect: {state.get('last_error') or 'no state yet'}; "
                           f"see {self.processes.log_path(self.controller_name(room))}")
        done(t, f"{DEFAULT_DEVICE} connected to {self.controller_state(room).get('broker')} through {name}")

    def _images_to(self, stack: Stack, host: str, failures: dict[str, str]) -> None:
        """Build STACK's images on the machine's engine and copy them to HOST (failures[role] says why not)."""
        try:
            t0 = time.monotonic()
            docker_cli.compose(stack.directory, "--progress", "plain", "build", on_line=self._compose_line)
            images = docker_cli.compose(stack.directory, "config", "--images").stdout.split()
            copied = docker_cli.copy_images(images, host)
            self.report(f"      {stack.name}: images built and "
                        + (f"copied to {self.engine_name(host)} with docker save | docker load: {', '.join(copied)}"
                           if copied else f"already on {self.engine_name(host)}") + f" ({time.monotonic() - t0:.1f}s)")
        except RuntimeError as exc:
            failures[stack.role] = str(exc)

    def _compose_line(self, line: str) -> None:
        if self.verbose or _PROGRESS_LINE.search(line):
            self.report(f"        {line.strip()[:110]}")

    def _which_stack(self, room: str, address: str) -> str:
        for role, stack in self.stacks(room).items():
            if stack.exists() and stack.broker().host == address:
                return role
        return "unknown address"

    def start_controller(self, room: str, stack: Stack, device: str = DEFAULT_DEVICE,
                         extra_args: list[str] | None = None) -> None:
        """Start the room's simulated controller DEVICE, connecting through mqtt.<room> with STACK's broker port,
        topics and credentials; EXTRA_ARGS go to runbook_tui.lab.controller (e.g. --never-ack). Does nothing if it
        is already running."""
        name = self.controller_name(room, device)
        if self.processes.pid(name) is not None:
            return
        env = stack.env()
        s = self.dns_settings
        argv = [
            sys.executable, "-m", "runbook_tui.lab.controller", "--room", room, "--device", device,
            "--domain", s.domain, "--resolver", f"{s.listen}:{s.port}", "--port", env.get("MQTT_PORT") or "1883",
            "--devices-topic", stack.topics().devices,
            "--state-file", str(self.state_dir / f"{name}.json"), *(extra_args or []),
        ]
        child_env = {**os.environ, "SIM_MQTT_USERNAME": env.get("MQTT_USERNAME", ""),
                     "SIM_MQTT_PASSWORD": env.get("MQTT_PASSWORD", "")}
        (self.state_dir / f"{name}.json").unlink(missing_ok=True)
        self.processes.start(name, argv, marker=f"--state-file {self.state_dir / f'{name}.json'}", env=child_env)

    def power_cycle_controller(self, room: str, device: str = DEFAULT_DEVICE) -> str:
        """What the person at the room does to a controller that has stopped answering: off and on
        again. It comes back as the room's controllers do, reaching the broker through mqtt.<room>."""
        if room not in self.lab_rooms():
            raise LabError(f"{room} is not up in the lab: run 'runbook-tui lab up {room}' first")
        self.processes.stop(self.controller_name(room, device))
        self.start_controller(room, self.stacks(room)["primary"], device)
        return f"controller {device} of {room} power-cycled: it reconnects through {broker_hostname(room, self.dns_settings.domain)}"

    # ---- down --------------------------------------------------------------------------
    def down(self, rooms: list[str] | None = None, purge: bool = False) -> list[str]:
        """Tear rooms down (all lab rooms by default). Returns what is left behind (empty: clean)."""
        registry = self.lab_rooms()
        unknown = [room for room in rooms or () if room not in registry]
        if unknown:
            # Never `down -v` a stack the lab did not bring up: it may be an operator's own.
            raise LabError(f"not a lab room: {', '.join(unknown)} (lab rooms: {', '.join(sorted(registry)) or 'none'})")
        try:
            docker_cli.check_docker()
        except docker_cli.DockerUnavailable as exc:
            raise LabError(f"cannot tear down: {exc}") from None
        targets = rooms or sorted(registry)
        leftovers: list[str] = []
        # A stack on the lab's engine is torn down there; a stopped engine (a host that died) is
        # started for it, its containers being kept in its data root until then.
        needs_engine = any(self.docker_host(room, role) for room in targets for role in ROLES) \
            or (not rooms and self.engine.data_root.is_dir())
        engines: list[str | None] = [None]
        if needs_engine:
            try:
                if self.engine.pid() is None:
                    self.report(f"the lab's engine: {self.engine.start()}, to tear its stacks down")
                engines.append(self.engine.url)
            except EngineError as exc:
                leftovers.append(f"the lab's engine's stacks ({exc})")
        for room in targets:
            room_leftovers: list[str] = []
            for role, stack in self.stacks(room).items():
                host = self.docker_host(room, role)
                if stack.exists() and host in engines:
                    self.report(f"{stack.name} on {self.engine_name(host)}: docker compose --env-file .env down -v --remove-orphans")
                    result = docker_cli.compose(stack.directory, "down", "-v", "--remove-orphans", "--timeout", "5",
                                                check=False, host=host)
                    if result.returncode != 0:
                        room_leftovers.append(f"{stack.name} (compose down failed: {result.stderr.strip()[-200:]})")
                elif stack.exists():
                    room_leftovers.append(f"{stack.name} (its engine {host} cannot be reached)")
                for engine in engines:  # on either engine: a stack may have been started on the wrong one
                    where = "" if engine is None else " on the lab's engine"
                    for kind, names in docker_cli.project_resources(stack.name, engine).items():
                        room_leftovers += [f"{kind[:-1]} {n}{where}" for n in names]
            leftovers += room_leftovers
            for name in self.processes.names():
                if name.startswith(f"controller-{room}-"):
                    self.processes.stop(name)
                    (self.state_dir / f"{name}.json").unlink(missing_ok=True)
                    self.report(f"stopped {name}")
            self.dns.remove(broker_hostname(room, self.dns_settings.domain))
            room_leftovers += self._room_extras_down(room)
            if room_leftovers:
                continue  # keep the room registered and its directories: they are still in use
            if purge and registry.get(room, {}).get("created"):
                for stack in self.stacks(room).values():
                    shutil.rmtree(stack.directory, ignore_errors=True)
                self.report(f"removed the room directories of {room}")
                # A run of a room that no longer exists is not offered for resuming later, when a
                # room of the same name is built again; its journal and report stay.
                abandoned, busy = abandon_unfinished(default_runs_dir(self.stack_root), room,
                                                     f"the lab room {room} was purged (lab down --purge)")
                for path in abandoned:
                    self.report(f"closed the unfinished run {path.name}: its room is gone")
                for path in busy:
                    self.report(f"left {path.name} as is: a runbook-tui still has it open")
            self._unregister(room)
        if not self.lab_rooms():
            if self.dns.stop():
                self.report("stopped dnsmasq")
            # A drill's second resolver (runbook_tui.lab.faults) lives beside the first.
            if ProcessTable(self.state_dir / "dns2").stop("dnsmasq"):
                self.report("stopped the second resolver")
            if self.engine.url in engines:
                leftovers += self._stop_engine()
        return leftovers

    def _room_extras_down(self, room: str) -> list[str]:
        """What a room has running beside its stacks and controllers: its floor view (its own
        process, outliving the console) and its name on a drill's second resolver (stopped once
        it answers for no room). Its faults end with it. Returns what could not be stopped."""
        from runbook_tui.engine import floor

        left: list[str] = []
        runs = default_runs_dir(self.stack_root)
        if floor.close(runs, room):
            self.report(f"closed the floor view of {room}")
        if (still := floor.serving(runs, room)) is not None:
            left.append(f"the floor view of {room} (pid {still.pid})")
        second = self.second_resolver()
        second.remove(broker_hostname(room, self.dns_settings.domain))
        if second.running() and not second.records():
            second.stop()
            self.report("stopped the second resolver")
        if second.running() and broker_hostname(room, self.dns_settings.domain) in second.records():
            left.append(f"the second resolver's record of {room}")
        self._log_room_down(room)
        return left

    def _log_room_down(self, room: str) -> None:
        """A line in the room's fault log: the faults before it went with the room (lab status)."""
        path = fault_log(self.stack_root, room)
        if path.exists():
            with open(path, "a") as out:
                out.write(json.dumps({"ts": round(time.time(), 3), "room_down": True}) + "\n")

    def faults_in(self, room: str) -> dict[str, float]:
        """Fault -> when it was injected, for the faults in ROOM now (from its fault log: injected,
        not healed since, not before the room was last torn down). The trainer's view of a drill."""
        active: dict[str, float] = {}
        try:
            lines = fault_log(self.stack_root, room).read_text().splitlines()
        except OSError:
            return active
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            if entry.get("room_down"):
                active.clear()
            elif isinstance(entry.get("fault"), str):
                if entry.get("healed"):
                    active.pop(entry["fault"], None)
                else:
                    active[entry["fault"]] = float(entry.get("ts") or 0)
        return active

    def _stop_engine(self) -> list[str]:
        """Empty the lab's own engine (everything on it is the lab's: what a failed `up` left) and stop it."""
        host = self.engine.url
        removed: list[str] = []
        for kind, listing, remove in (
            ("container", ["ps", "-aq"], ["rm", "-f", "-v"]),
            ("volume", ["volume", "ls", "-q"], ["volume", "rm", "-f"]),
            ("network", ["network", "ls", "--filter", "type=custom", "-q"], ["network", "rm"]),
        ):
            found = docker_cli.docker(*listing, host=host).stdout.split()
            if found:
                gone = docker_cli.docker(*remove, *found, host=host)
                removed.append(f"{len(found)} {kind}(s)" + ("" if gone.returncode == 0 else f" ({gone.stderr.strip()[-200:]})"))
        if removed:
            self.report(f"removed from the lab's engine what no lab room owned: {', '.join(removed)}")
        try:
            pid = self.engine.stop()
        except EngineError as exc:
            return [str(exc)]
        if pid is not None:
            self.report(f"stopped the lab's Docker engine (pid {pid}); its images stay in {self.engine.data_root}")
        return []

    # ---- status and DNS ------------------------------------------------------------------
    def second_resolver(self) -> LabDns:
        """The other VLAN's resolver (a drill's split horizon), one port above the lab's."""
        s = self.dns_settings
        return LabDns(self.state_dir / "dns2", ProcessTable(self.state_dir / "dns2"), DnsSettings(s.listen, s.port + 1, s.ttl_s, s.domain))

    def resolvers(self) -> dict[str, LabDns]:
        """ADDRESS:PORT -> the lab's DNS servers that run (the second only while a drill has it up)."""
        out = {f"{self.dns_settings.listen}:{self.dns_settings.port}": self.dns}
        second = self.second_resolver()
        if second.running():
            out[f"{second.settings.listen}:{second.settings.port}"] = second
        return out

    def status(self) -> list[str]:
        lines = []
        s = self.dns_settings
        dns_state = f"dnsmasq on {s.listen}:{s.port}" if self.dns.running() else "dnsmasq not running"
        pid = self.engine.pid()
        engine_state = (f"the lab's Docker engine at {self.engine.url} (pid {pid})" if pid is not None
                        else "the lab's Docker engine not running")
        rooms = sorted(self.lab_rooms())
        if not rooms:
            return [f"no lab rooms ({dns_state}; {engine_state})"]
        lines += [dns_state, engine_state]
        for room in rooms:
            lines.append(f"{room}:")
            for role, stack in self.stacks(room).items():
                if not stack.exists():
                    lines.append(f"  {stack.name}: missing ({stack.directory})")
                    continue
                host = self.docker_host(room, role)
                ps = self.compose(room, role, "ps", "-a", "--format", "{{.Service}}={{.State}}", check=False)
                if ps.returncode != 0:
                    services = f"unknown ({self.engine_name(host)} does not answer)"
                else:
                    services = " ".join(sorted(ps.stdout.split())) or "no containers"
                env = stack.env()
                flags = f"dispatch {'on' if is_true(env.get('CORE_DISPATCH_ENABLED')) else 'off'} in .env"
                lines.append(f"  {stack.name} ({stack.broker().host}): {services}; {flags}; on {self.engine_name(host)}")
            name = broker_hostname(room, s.domain)
            if not self.dns.running():
                lines.append(f"  {name} -> no DNS server")
            for label, server in self.resolvers().items():  # every resolver the room's controllers may ask
                # A drill's second resolver is said under the room whose name it answers only.
                if server.running() and (server is self.dns or name in server.records()):
                    answer = resolve_a(name, server.settings.listen, server.settings.port)
                    lines.append(f"  {name} -> {answer} ({self._which_stack(room, answer)}) at resolver {label}")
            ctl = self.controller_state(room)
            alive = self.processes.pid(self.controller_name(room)) is not None
            if not alive:
                lines.append(f"  controller {DEFAULT_DEVICE}: not running")
            elif ctl.get("connected"):
                lines.append(f"  controller {DEFAULT_DEVICE}: connected to {ctl.get('broker')} "
                             f"({self._which_stack(room, ctl.get('broker') or '')}), {ctl.get('completes', 0)} commands completed")
            else:
                lines.append(f"  controller {DEFAULT_DEVICE}: not connected ({ctl.get('last_error') or 'starting'})")
            # The trainer's view of a drill, blind or not: which faults are in the room.
            faults = self.faults_in(room)
            lines.append("  faults in: " + (", ".join(f"{name} (since {time.strftime('%H:%M:%S', time.localtime(ts))})"
                                                      for name, ts in faults.items()) or "none"))
        return lines

    def dns_point(self, room: str, role: str, resolver: str | None = None) -> str:
        """Point the room's broker name at ROLE's broker on the lab's resolver, or on RESOLVER
        (ADDRESS:PORT, as `lab status` lists them): each resolver is repointed on its own, as
        each VLAN's is on site."""
        if role not in ROLES:
            raise LabError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        stack = self.stacks(room)[role]
        if not stack.exists():
            raise LabError(f"no stack {stack.name} in {self.rooms_dir}")
        if not self.dns.running():
            raise LabError("the lab's DNS server is not running; run 'runbook-tui lab up' first")
        servers = self.resolvers()
        label = resolver or next(iter(servers))
        if label not in servers:
            raise LabError(f"no lab resolver {label} (running: {', '.join(servers)})")
        name = broker_hostname(room, self.dns_settings.domain)
        address = stack.broker().host
        servers[label].point(name, address)
        return f"{name} -> {address} ({role}) at resolver {label}"
