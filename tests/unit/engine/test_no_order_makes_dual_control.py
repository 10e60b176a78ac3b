"""No order of plain runs of the runbook's steps makes two cores dispatch.

A model of the room (each stack's .env flags, whether its core runs and with which flag, where
the broker name points) stands in for the room; the real engine runs every step of the
promotion, failback and keeping-the-standby-current checklists in orders hypothesis draws,
with the real guards judged on observations built from the model. A plain run is one with the
room id typed and confirmed, never "despite the guard" and never an override. Each command's
effect on the model is read from the command itself (compose up, a core recreated, down), so a
new step that starts a core is modelled without naming it here, and a command the model does
not know fails the test instead of being ignored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.checklist.model import StepType, substitute
from runbook_tui.checklist.variables import resolve_variables
from runbook_tui.engine.executors import Executor
from runbook_tui.engine.run import EngineRefusal, GuardRefused, RunConfig, RunEngine
from runbook_tui.envfile import is_true
from runbook_tui.observe.model import BrokerView, FilesView, RoomObservation, StackFiles
from runbook_tui.observe.status import parse_core_status
from runbook_tui.settings import LAB_VARIABLES
from tests.depth import cases
from tests.observations import ADDRESSES, dns, stack

REPO = Path(__file__).resolve().parents[3]
ROOM = "room1"
CHECKLISTS = ("promotion", "failback", "standby-current")


@dataclass
class Side:
    env: dict[str, str]
    core: bool = True  # the core's container runs
    flag: bool = False  # started with CORE_DISPATCH_ENABLED=true
    others: bool = True  # mosquitto and db run

    def dispatching(self) -> bool:
        return self.core and self.flag

    def start_core(self) -> None:
        # compose reads the .env when it (re)creates the container
        self.core, self.flag, self.others = True, is_true(self.env.get("CORE_DISPATCH_ENABLED")), True


@dataclass
class Room:
    sides: dict[str, Side]
    name_on: str = "primary"
    log: list[str] = field(default_factory=list)

    def observe(self) -> RoomObservation:
        stacks, brokers = [], []
        for role, side in self.sides.items():
            snap = stack(role, core="running" if side.core else "exited", dispatch=side.flag,
                         others="running" if side.others else "exited")
            stacks.append(snap)
            if not side.others:
                brokers.append(BrokerView(role, f"{ADDRESSES[role]}:1883", "unreachable", "refused", None, (), time.time()))
                continue
            said = {"online": side.core, "dispatch_enabled": side.dispatching(), "room": ROOM, "role": role,
                    "stack": f"{ROOM}-{role}", "critical_armed": False}
            core = parse_core_status(repr(said).replace("'", '"').replace("True", "true").replace("False", "false").encode())
            brokers.append(BrokerView(role, f"{ADDRESSES[role]}:1883", "ok", "", core, (("sim1", True),), time.time()))
        files = FilesView(tuple(StackFiles(role, f"infra/rooms/{ROOM}-{role}", True, True, True, True,
                                           tuple(sorted({**side.env, "MQTT_BIND_ADDR": ADDRESSES[role]}.items())))
                                for role, side in self.sides.items()), time.time())
        return RoomObservation(ROOM, f"mqtt.{ROOM}.sentientengine.ai", tuple(ADDRESSES.items()), tuple(stacks),
                               dns((ADDRESSES[self.name_on],)), tuple(brokers), files, (), time.time(), time.monotonic())

    def dual(self) -> bool:
        return all(side.dispatching() for side in self.sides.values())


class Looks:
    def __init__(self, room: Room) -> None:
        self.room = room

    def look(self, parts=None) -> RoomObservation:
        return self.room.observe()


COMPOSE = re.compile(r"^\(cd infra/rooms/(?P<room>[a-z0-9-]+)-(?P<role>primary|standby) && docker compose --env-file \.env "
                     r"(?P<what>up -d --build|up -d|up -d --force-recreate sentient-core|up -d --force-recreate mosquitto|"
                     r"down|restart mosquitto)\)$")
NO_CORE_EFFECT = re.compile(r"^scripts/(new-room-standby|mosquitto-make-passwd|backup-room-db|restore-room-db|copy-back-room-db)\.sh ")


def apply(room: Room, engine: RunEngine, step_id: str) -> None:
    """What a step does to the room, read from what it would run."""
    step = engine.checklist.step(step_id)
    if step.type is StepType.ENV_EDIT:
        role = "primary" if "-primary/" in substitute(step.file or "", engine.values) else "standby"
        env = room.sides[role].env
        if any(env.get(k) != substitute(v, engine.values) for k, v in step.require):
            return  # the engine's edit refuses: nothing written
        if step.align_with:
            return  # copies shared keys only: the dispatch flags are per stack
        env.update({k: substitute(v, engine.values) for k, v in step.set_values})
    elif step.type is StepType.COMMAND and step.site_command == "fence_command":
        return  # cuts a host off (power or network): it starts no core
    elif step.type is StepType.COMMAND:
        command = substitute(step.command or "", engine.values, shell=True)
        if NO_CORE_EFFECT.match(command):
            return
        m = COMPOSE.match(command)
        assert m is not None, f"{step_id}: the model does not know what {command!r} does to the cores"
        side, what = room.sides[m["role"]], m["what"]
        if what in ("up -d --build", "up -d", "up -d --force-recreate sentient-core"):
            side.start_core()
        elif what == "down":
            side.core = side.flag = side.others = False
    elif step.type is StepType.WAIT and step.lab_command:
        room.name_on = "primary" if step.lab_command.endswith(" primary") else "standby"


class ModelExecutor(Executor):
    """A step's action on the room's model (the engine's executors are its seam for how a step acts)."""

    def __init__(self, engine: RunEngine, room: Room, checklist_name: str) -> None:
        super().__init__(engine)
        self.room, self.checklist_name = room, checklist_name

    async def perform(self, step):
        apply(self.room, self.engine, step.id)
        self.room.log.append(f"{self.checklist_name}:{step.id}")
        return True, "", []


# Loaded once: a checklist is immutable (frozen dataclasses), and loading the three took two thirds
# of each drawn order's time. The engines are new for each order.
LOADED = {name: load_checklist(REPO / "checklists" / f"{name}.yaml") for name in CHECKLISTS}


def engines(tmp_path: Path, room: Room) -> dict[str, RunEngine]:
    out = {}
    for name in CHECKLISTS:
        checklist = LOADED[name]
        given = {k: v for k, v in ({"room": ROOM} | LAB_VARIABLES).items() if k in checklist.variables}
        values = resolve_variables(checklist, given, tmp_path).values
        engine = RunEngine.start(checklist, values, Looks(room), tmp_path / f"{name}-{time.monotonic_ns()}.jsonl",
                                 # a fence command, so its step is run too, not skipped at start
                                 RunConfig(tmp_path, lab=True, settle_s=0, wait_poll_s=0, fence_command=("true",)))

        # Every step type's executor is the model's: nothing runs, nothing is written.
        model = ModelExecutor(engine, room, name)
        engine.executors = {step_type: model for step_type in engine.executors}
        out[name] = engine
    return out


ALL_STEPS = [(name, step.id) for name in CHECKLISTS
             for step in LOADED[name].steps()
             if step.type in (StepType.COMMAND, StepType.ENV_EDIT, StepType.WAIT)]


def start(kind: str) -> Room:
    armed = {"CORE_DISPATCH_ENABLED": "true", "CORE_CRITICAL_ARMED": "false"}
    quiet = {"CORE_DISPATCH_ENABLED": "false", "CORE_CRITICAL_ARMED": "false"}
    if kind == "before promotion":
        return Room({"primary": Side(dict(armed), flag=True), "standby": Side(dict(quiet))})
    if kind == "primary lost":  # its host powered off: everything of it gone, its .env as it was
        return Room({"primary": Side(dict(armed), core=False, others=False), "standby": Side(dict(quiet))})
    # promoted: the standby active, the primary down and disarmed, the name on the standby
    return Room({"primary": Side(dict(quiet), core=False, others=False), "standby": Side(dict(armed), flag=True)},
                name_on="standby")


def test_the_model_covers_every_acting_step():
    # A step that acts but is neither an .env edit nor a command the model reads would be ignored.
    assert len(ALL_STEPS) >= 30
    room = start("before promotion")
    for name, step_id in ALL_STEPS:
        apply(room, engines_cache(room)[name], step_id)


_CACHE: dict[int, dict[str, RunEngine]] = {}


def engines_cache(room: Room) -> dict[str, RunEngine]:
    import tempfile

    if id(room) not in _CACHE:
        _CACHE[id(room)] = engines(Path(tempfile.mkdtemp()), room)
    return _CACHE[id(room)]


@settings(max_examples=cases(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["before promotion", "primary lost", "promoted"]),
       order=st.lists(st.sampled_from(ALL_STEPS), min_size=1, max_size=25))
def test_no_order_of_plain_runs_makes_two_cores_dispatch(tmp_path_factory, kind, order):
    room = start(kind)
    assert not room.dual()
    runs = engines(tmp_path_factory.mktemp("model"), room)
    for name, step_id in order:
        engine = runs[name]
        try:
            asyncio.run(engine.run_step(step_id, confirmed=True, typed_room=ROOM))
        except (GuardRefused, EngineRefusal):
            continue
        assert not room.dual(), f"dual control after {room.log} from {kind!r}: " + repr(
            {r: dataclasses.asdict(s) for r, s in room.sides.items()})
    for engine in runs.values():
        engine.journal.close()


def test_the_model_finds_dual_control_when_a_guard_is_missing(tmp_path):
    """The check can fail: without its guard, "Bring up the primary" after a promotion starts a
    second dispatching core (the order an operator really ran)."""
    room = start("promoted")
    room.sides["primary"].env["CORE_DISPATCH_ENABLED"] = "true"  # edited back by hand
    runs = engines(tmp_path, room)
    engine = runs["promotion"]
    step = engine.checklist.step("up-primary")
    engine.checklist = dataclasses.replace(engine.checklist, sections=tuple(
        dataclasses.replace(s, steps=tuple(dataclasses.replace(x, guards=()) if x.id == step.id else x for x in s.steps))
        for s in engine.checklist.sections))
    asyncio.run(engine.run_step("up-primary", confirmed=True, typed_room=ROOM))
    assert room.dual()
    # With its guard (the checklist as shipped), the same run is refused.
    room = start("promoted")
    room.sides["primary"].env["CORE_DISPATCH_ENABLED"] = "true"
    shipped = engines(tmp_path / "shipped", room)["promotion"]
    try:
        asyncio.run(shipped.run_step("up-primary", confirmed=True, typed_room=ROOM))
    except GuardRefused as refused:
        assert [f.condition for f in refused.failures] == ["primary_start_safe"]
    assert not room.dual()
