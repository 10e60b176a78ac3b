"""The pure rules, fed by hand-built and generated observations (no Docker, no broker, no DNS).

What a core publishes on its status topic is text from whoever can publish there: it is
read strictly (runbook_tui.observe.status), and whatever it says, the dual-control rule
(runbook_tui.rules.room) neither raises nor clears an alarm on a status that does not read.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook_tui.checklist.conditions import CONDITIONS
from runbook_tui.observe.model import (
    ROLES,
    BrokerView,
    CoreStatus,
    DnsSnapshot,
    FilesView,
    ResolverAnswer,
    RoomObservation,
    ServiceState,
    StackSnapshot,
    classify,
)
from runbook_tui.observe.status import RAW_LIMIT, parse_core_status
from runbook_tui.rules.conditions import RULES, evaluate
from runbook_tui.rules.outcome import AlarmSpan, run_outcome
from runbook_tui.rules.room import (
    COMMAND_WINDOW_S,
    CORE,
    Alarm,
    alarms,
    core_is_live,
    dns_points_to,
    docker_dispatching,
    dual_control,
    is_live,
)
from tests.observations import ADDRESSES, broker, dns, files, room, service, stack, status

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALL_STATES = ("running", "restarting", "paused", "exited", "dead", "created", "removing")
LIVE_STATES = ("running", "restarting", "paused")  # runs code now, or will again by itself
STOPPED_STATES = ("exited", "dead", "created", "removing")
BROKER_STATES = ("ok", "unreachable", "refused", "no answer", "connecting")
OTHER_ADDRESS = "10.9.9.9"


def no_control(text: str) -> bool:
    """No C0/C1 control character at all (tab and newline included: these texts are one line)."""
    return not any(unicodedata.category(c) == "Cc" for c in text)


def readable_by_contract(value: object) -> bool:
    """The status contract, stated apart from the parser: a JSON object, `online` a real
    boolean, `dispatch_enabled` one too when online, `critical_armed` absent/null or boolean."""
    if not isinstance(value, dict) or not isinstance(value.get("online"), bool):
        return False
    if value["online"] and not isinstance(value.get("dispatch_enabled"), bool):
        return False
    return value.get("critical_armed") is None or isinstance(value.get("critical_armed"), bool)


# ---- generated inputs ---------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-2, 2) | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from(["true", "false", "True", "1", "0", "", "yes", "\x1b[2J", "on\nline"]) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=10)
status_keys = st.sampled_from(["online", "dispatch_enabled", "critical_armed", "role", "room", "stack", "version"])
status_like = st.dictionaries(status_keys, scalars | st.lists(scalars, max_size=2) | st.dictionaries(status_keys, scalars, max_size=2),
                              max_size=7)
well_formed = st.fixed_dictionaries({"online": st.booleans(), "dispatch_enabled": st.booleans(),
                                     "room": st.sampled_from(["room1", "room1", "atlas"])},
                                    optional={"critical_armed": st.none() | st.booleans(), "role": st.sampled_from(ROLES),
                                              "stack": st.sampled_from(["room1-primary", "room1-standby", "atlas-primary"]),
                                              "version": st.sampled_from(["8.0.0", 8])})


def dumped(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN, Infinity: JSON Python's json reads back


# Anything a publisher could retain on the status topic.
payloads = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(dumped),
    status_like.map(dumped),
    well_formed.map(dumped),
)
unreadable_payloads = payloads.filter(lambda p: not parse_core_status(p).readable)
cores = st.none() | payloads.map(parse_core_status)


@st.composite
def stacks(draw, role: str, core_states=st.none() | st.sampled_from(ALL_STATES)) -> StackSnapshot:
    connected = draw(st.booleans())
    services = [ServiceState(name, f"room1-{role}-{name}-1", state, None, 0, "", "img", ())
                for name, state in draw(st.lists(st.tuples(st.sampled_from(["db", "mosquitto"]), st.sampled_from(ALL_STATES)),
                                                 max_size=2, unique_by=lambda s: s[0]))]
    core_state = draw(core_states)
    if core_state is not None:
        flags = draw(st.lists(st.tuples(st.sampled_from(["CORE_DISPATCH_ENABLED", "CORE_CRITICAL_ARMED"]), st.booleans()), max_size=3))
        services.append(ServiceState(CORE, f"room1-{role}-core-1", core_state, None, 0, "", "img", tuple(flags)))
    volumes = draw(st.sampled_from([(), (f"room1-{role}_db",)]))
    return StackSnapshot(role, f"room1-{role}", connected, None if connected else "ConnectionError: no daemon",
                         tuple(sorted(services, key=lambda s: s.service)), (), (), 0.0, 0, (), volumes)


@st.composite
def brokers(draw, role: str, core_statuses=cores, states=st.sampled_from(BROKER_STATES)) -> BrokerView:
    controllers = draw(st.lists(st.tuples(st.sampled_from(["door", "lights"]), st.none() | st.booleans()), max_size=2))
    return BrokerView(role, f"{ADDRESSES[role]}:1883", draw(states), "", draw(core_statuses), tuple(controllers), 0.0)


resolver_answers = st.one_of(
    st.lists(st.sampled_from([ADDRESSES["primary"], ADDRESSES["standby"], OTHER_ADDRESS]), min_size=1, max_size=3, unique=True)
    .map(lambda a: tuple(sorted(a))),
    st.sampled_from(["timeout", "NXDOMAIN", "error"]),
)


def dns_snapshot(answers: list) -> DnsSnapshot:
    rows = tuple(ResolverAnswer(f"127.0.0.1:{5353 + i}", classify(a, ADDRESSES), a, 5, 1.0) if isinstance(a, tuple)
                 else ResolverAnswer(f"127.0.0.1:{5353 + i}", a, (), None, None, "failed")
                 for i, a in enumerate(answers))
    kinds = {(r.classification, r.addresses) for r in rows}
    return DnsSnapshot("mqtt.room1.sentientengine.ai", rows, len(kinds) > 1,
                       "disagreement" if len(kinds) > 1 else (rows[0].classification if rows else "no resolvers"), 0.0)


@st.composite
def files_views(draw) -> FilesView:
    base = files(draw(st.booleans()))
    return FilesView(tuple(dataclasses.replace(s, exists=draw(st.booleans()), has_compose=draw(st.booleans()),
                                               has_env=draw(st.booleans()), passwd_present=draw(st.booleans()))
                           for s in base.stacks), 0.0)


@st.composite
def observations(draw, stack_of=stacks, broker_of=brokers, with_commands: bool = True) -> RoomObservation:
    parts_stacks = [s for r in ROLES if (s := draw(st.none() | stack_of(r))) is not None]
    parts_brokers = [b for r in ROLES if (b := draw(st.none() | broker_of(r))) is not None]
    commands = draw(st.lists(st.tuples(st.sampled_from(ROLES), st.floats(60.0, 101.0)), max_size=3)) if with_commands else []
    return RoomObservation("room1", "mqtt.room1.sentientengine.ai", (), tuple(parts_stacks),
                           draw(st.none() | st.lists(resolver_answers, max_size=3).map(dns_snapshot)), tuple(parts_brokers),
                           draw(st.none() | files_views()), tuple(commands), 12.5, 100.0)


# The sources of the dual-control rule, read off the observation here (not by the rule's own
# helpers): True dispatching, False not, None cannot be told.
def docker_says(obs: RoomObservation, role: str) -> bool | None:
    s = obs.stack(role)
    if s is None or not s.connected:
        return None
    core = next((x for x in s.services if x.service == CORE), None)
    return core is not None and core.state in LIVE_STATES and dict(core.flags).get("CORE_DISPATCH_ENABLED") is True


def own_status(core: CoreStatus, role: str) -> bool:
    """The contract, stated apart from the rules: the status names this room (every generated
    observation is room1's, its stacks room1-<role>), and its role and stack, where it carries
    them, are the broker's."""
    return core.room == "room1" and core.role in (None, role) and core.stack in (None, f"room1-{role}")


def status_says(obs: RoomObservation, role: str) -> bool | None:
    b = obs.broker(role)
    if b is None:
        return None
    if b.state == "unreachable":
        return False
    if b.state != "ok":
        return None
    if b.core is None:
        return False
    if not b.core.readable or not own_status(b.core, role):
        return None  # it hides what this stack's core would say
    return b.core.online and b.core.dispatch_enabled


def raising_cause(obs: RoomObservation) -> bool:
    recent = {r for r, t in obs.commands if obs.monotonic - t <= COMMAND_WINDOW_S}
    return (all(docker_says(obs, r) is True for r in ROLES) or all(status_says(obs, r) is True for r in ROLES)
            or recent == set(ROLES))


def seen_off(obs: RoomObservation, role: str, status_ends: bool = True) -> bool:
    """No source says the side dispatches, and one that may end the alarm says it does not:
    Docker always; the core's status only for an alarm raised on statuses or commands."""
    docker, said = docker_says(obs, role), status_says(obs, role)
    return True not in (docker, said) and (docker is False or (status_ends and said is False))


# ---- the core's status, read strictly -----------------------------------------------------------

FORGED_OR_MALFORMED = [
    b'"false"', b'"true"', b"0", b"1", b"1.0", b"null", b"true", b"[]", b"[true, true]", b"NaN", b"Infinity", b"",
    b'{"online": "false"}', b'{"online": "true", "dispatch_enabled": "true"}', b'{"online": 0}', b'{"online": 1}',
    b'{"online": 1.0, "dispatch_enabled": 1.0}', b'{"online": NaN}', b'{"online": Infinity}', b'{"online": -Infinity}',
    b'{"online": null}', b'{"online": [true]}', b'{"online": {"value": true}}', b'{"status": {"online": true, "dispatch_enabled": true}}',
    b'{"online": true}', b'{"online": true, "dispatch_enabled": null}', b'{"online": true, "dispatch_enabled": "false"}',
    b'{"online": true, "dispatch_enabled": 0}', b'{"online": true, "dispatch_enabled": NaN}',
    b'{"online": true, "dispatch_enabled": [false]}',
    b'{"online": true, "dispatch_enabled": true, "critical_armed": "no"}', b'{"dispatch_enabled": true}', b"{}",
    b'\xff\xfe{"online": true, "dispatch_enabled": true}', b'{"online": true, "dispatch_enabled": true}\xc3',
    b'{"online": tru', b"\x1b[2J\x1b[31m{\"online\": false}", b'{"online": "\x1b[2Jtrue"}',
    b"[" * 60_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    dumped({"online": True, "dispatch_enabled": True, "pad": "x" * 70_000}),  # too big to be read as a status
    b"\x00" * 200_000,
]


@pytest.mark.parametrize("payload", FORGED_OR_MALFORMED, ids=lambda p: repr(p[:40]) + (f"..{len(p)}" if len(p) > 40 else ""))
def test_a_forged_or_malformed_status_is_unreadable_and_shown_sanitised(payload: bytes):
    got = parse_core_status(payload)
    assert not got.readable
    assert (got.online, got.dispatch_enabled) == (False, False)
    assert got.problem and no_control(got.problem)
    assert got.raw or not payload
    assert no_control(got.raw) and "\x1b" not in got.raw
    assert len(got.raw) <= RAW_LIMIT + 24  # cut short, with how much more there was


@pytest.mark.parametrize(("body", "online", "dispatch"), [
    ({"online": True, "dispatch_enabled": True}, True, True),
    ({"online": True, "dispatch_enabled": False}, True, False),
    ({"online": False}, False, False),  # offline: dispatch_enabled may be left out
    ({"online": False, "dispatch_enabled": "garbage"}, False, False),
    ({"online": True, "dispatch_enabled": True, "critical_armed": None, "version": float("nan"), "extra": [1, {}]}, True, True),
])
def test_only_real_booleans_read(body: dict, online: bool, dispatch: bool):
    got = parse_core_status(dumped(body))
    assert got.readable and (got.online, got.dispatch_enabled) == (online, dispatch)
    assert got.raw == "" and got.problem == ""


def test_a_readable_status_keeps_its_labels_sanitised():
    got = parse_core_status(dumped({"online": True, "dispatch_enabled": False, "role": "standby\x1b[2J\nfake line",
                                    "room": "r" * 500, "version": float("inf"), "stack": ["x"]}))
    assert got.readable
    assert no_control(got.role) and got.role.startswith("standby")
    assert len(got.room) < 100 and got.version is None and got.stack is None
    assert parse_core_status(dumped({"online": True, "dispatch_enabled": True, "version": 8})).version == "8"


@FAST
@given(payloads)
def test_any_payload_parses_without_raising_and_exactly_by_the_contract(payload: bytes):
    got = parse_core_status(payload)
    assert isinstance(got, CoreStatus)
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    assert got.readable == readable_by_contract(body)
    if got.readable:
        assert got.online is body["online"] and got.dispatch_enabled is (body.get("dispatch_enabled") is True)
    else:
        assert (got.online, got.dispatch_enabled) == (False, False) and got.problem
        assert no_control(got.raw) and no_control(got.problem)
    assert all(v is None or no_control(v) for v in (got.role, got.room, got.stack, got.version))


# ---- a live core is live everywhere -------------------------------------------------------------

@pytest.mark.parametrize("state", ALL_STATES)
def test_a_restarting_or_paused_core_counts_as_live_everywhere(state: str):
    live = state in LIVE_STATES
    assert is_live(service(CORE, state)) is live
    assert core_is_live(stack("primary", core=state)) is live
    assert docker_dispatching(stack("primary", core=state, dispatch=True)) is live
    primary = stack("primary", core=state, dispatch=True, others="exited")
    down = broker("primary", state="unreachable")
    obs = room([primary, stack("standby", dispatch=False)], [down, broker("standby")])
    for name in ("primary_core_stopped", "primary_stack_down", "primary_not_dispatching"):
        verdict = evaluate(name, obs)
        assert verdict.seen and verdict.holds is (not live), verdict
        if live:
            assert state in verdict.detail  # the operator is told what the container is doing
    standby = room([stack("primary", core=None, others=None, volumes=("v",)), stack("standby", core=state, dispatch=True)],
                   [down, broker("standby")], standby_dispatch=False)
    verdict = evaluate("standby_not_dispatching", standby)
    assert verdict.seen and verdict.holds is (not live), verdict
    both = room([stack("primary", dispatch=True), stack("standby", core=state, dispatch=True)])
    assert (dual_control(both) is not None) is live
    assert (alarms(both) != ()) is live


def test_the_test_states_are_the_rules_states():
    assert {s for s in ALL_STATES if is_live(service(CORE, s))} == set(LIVE_STATES)
    assert not is_live(None) and not core_is_live(None)
    assert not core_is_live(stack("primary", core=None))


# ---- where the broker name points ---------------------------------------------------------------

P, S = ADDRESSES["primary"], ADDRESSES["standby"]


def test_a_resolver_answering_both_addresses_is_not_pointing_at_the_standby():
    verdict = evaluate("dns_points_to_standby", room(dns_answers=dns((S, P))))
    assert verdict.seen and not verdict.holds
    assert P in verdict.detail and S in verdict.detail and "both stacks" in verdict.detail
    assert not evaluate("dns_points_to_primary", room(dns_answers=dns((S, P)))).holds


@pytest.mark.parametrize(("answers", "holds"), [
    ([(S,)], True),
    ([(S,), (S,), (S,)], True),
    ([(S,), (P,)], False),  # one resolver disagreeing
    ([(P,), (S,)], False),
    ([(S,), (S, OTHER_ADDRESS)], False),
    ([(S,), "timeout"], False),
    (["NXDOMAIN"], False),
    (["timeout"], False),
    ([], False),  # no resolver configured: nothing says where the name points
])
def test_every_resolver_must_answer_only_the_standby(answers: list, holds: bool):
    verdict = evaluate("dns_points_to_standby", room(dns_answers=dns_snapshot([tuple(sorted(a)) if isinstance(a, tuple) else a
                                                                              for a in answers])))
    assert verdict.seen and verdict.holds is holds, verdict
    for a in answers:
        assert (a if isinstance(a, str) else a[0]) in verdict.detail


def test_dns_not_looked_at_is_not_judged():
    verdict = evaluate("dns_points_to_standby", room())
    assert not verdict.seen and not verdict.holds and "not looked at: dns" in verdict.detail


@FAST
@given(st.lists(resolver_answers, max_size=4), st.sampled_from(ROLES))
def test_dns_holds_exactly_when_every_resolver_answers_only_that_address(answers: list, role: str):
    obs = room(dns_answers=dns_snapshot(answers))
    holds, _ = dns_points_to(obs, role)
    assert holds == (bool(answers) and all(isinstance(a, tuple) and set(a) == {ADDRESSES[role]} for a in answers))
    assert evaluate(f"dns_points_to_{role}", obs).holds == holds


# ---- every condition --------------------------------------------------------------------------

def test_every_checklist_condition_has_a_rule_and_every_rule_a_name():
    assert set(CONDITIONS) == set(RULES)


@pytest.mark.parametrize("name", sorted(CONDITIONS))
def test_a_condition_on_an_empty_observation_is_not_judged(name: str):
    verdict = evaluate(name, RoomObservation("room1", "mqtt.room1.sentientengine.ai", ()))
    assert verdict.condition == name and not verdict.seen and not verdict.holds
    assert verdict.detail.startswith("not looked at: ")  # skipped for the missing parts, not a rule that crashed


@FAST
@given(observations())
def test_every_rule_judges_any_observation_without_crashing(obs: RoomObservation):
    for name in RULES:
        verdict = evaluate(name, obs)
        assert "could not judge" not in verdict.detail, verdict  # evaluate() would hide a crashing rule
        assert isinstance(verdict.holds, bool) and isinstance(verdict.detail, str)
        assert verdict.seen or not verdict.holds  # what holds was seen
        assert "\x1b" not in verdict.detail and "\n" not in verdict.detail


@FAST
@given(observations())
def test_the_same_observation_gives_the_same_verdict(obs: RoomObservation):
    twin = copy.deepcopy(obs)
    for name in RULES:
        first = evaluate(name, obs)
        assert evaluate(name, obs) == first == evaluate(name, twin)
    before = Alarm("dual_control", "earlier")
    assert dual_control(obs) == dual_control(twin) and dual_control(obs, before) == dual_control(twin, before)
    assert alarms(obs, (before,)) == alarms(twin, (before,))


# ---- dual control ---------------------------------------------------------------------------------

@FAST
@given(observations())
def test_dual_control_is_raised_exactly_for_its_causes(obs: RoomObservation):
    found = dual_control(obs)
    assert (found is not None) == raising_cause(obs)
    assert alarms(obs) == ((found,) if found else ())
    if found is not None:
        assert found.kind == "dual_control" and not found.unconfirmed


@FAST
@given(observations(broker_of=lambda role: brokers(role, core_statuses=unreadable_payloads.map(parse_core_status)),
                    with_commands=False))
def test_a_status_that_does_not_read_never_raises_the_alarm(obs: RoomObservation):
    """Whatever a malformed or forged status says, it raises nothing by itself: with Docker
    showing at most one core dispatching (and no commands carried), there is no alarm."""
    if all(docker_says(obs, r) is True for r in ROLES):
        return  # Docker's own account is a cause
    assert dual_control(obs) is None and alarms(obs) == ()


RAISED_ON = {"docker": "cores of room1-primary and room1-standby both run with dispatch enabled",
             "status": "cores on primary and standby both say online with dispatch enabled",
             "commands": f"device commands carried by both brokers within {COMMAND_WINDOW_S:g}s",
             "": "dual control (from a journal that did not keep what raised it)"}


@FAST
@given(observations(), st.sampled_from(sorted(RAISED_ON)))
def test_an_alarm_ends_only_when_one_side_is_seen_off(obs: RoomObservation, source: str):
    """An alarm raised before ends only when, for some side, no source says it dispatches and
    one that may end it says it does not: Docker's account ends any alarm; a core's status ends
    only one raised on statuses or commands (whoever can publish can retain "offline")."""
    before = Alarm("dual_control", RAISED_ON[source], source=source)
    after = dual_control(obs, before)
    if raising_cause(obs):
        assert after is not None and not after.unconfirmed
        return
    ended = any(seen_off(obs, r, status_ends=source in ("status", "commands")) for r in ROLES)
    assert (after is None) == ended
    if after is None and source in ("docker", ""):
        assert any(docker_says(obs, r) is False for r in ROLES)  # Docker saw a side off
    if after is not None:
        assert after.unconfirmed and after.reason.startswith(before.reason + " (not seen to end: cannot read ")
        assert after.source == source
        assert dual_control(obs, after) == after  # said once, not piled up tick after tick
        assert alarms(obs, (after,)) == (after,)


# Docker cannot show a side off: not looked at, not answering, or showing it dispatching.
docker_not_off = st.one_of(
    st.none(),
    st.builds(lambda s: dataclasses.replace(s, connected=False, error="ConnectionError"), stacks("primary")),
    st.just("dispatching"),
)


@FAST
@given(st.tuples(docker_not_off, docker_not_off), st.tuples(unreadable_payloads, unreadable_payloads),
       st.tuples(st.sampled_from(BROKER_STATES[:1] + BROKER_STATES[2:]), st.sampled_from(BROKER_STATES[:1] + BROKER_STATES[2:])))
def test_a_status_that_does_not_read_never_clears_a_raised_alarm(docker, statuses, states):
    parts = []
    for role, d in zip(ROLES, docker, strict=True):
        if d == "dispatching":
            parts.append(stack(role, dispatch=True))
        elif d is not None:
            parts.append(dataclasses.replace(d, role=role, project=f"room1-{role}"))
    obs = room(parts, [broker(r, parse_core_status(p), state=s) for r, p, s in zip(ROLES, statuses, states, strict=True)])
    before = Alarm("dual_control", "cores on primary and standby both say online with dispatch enabled", source="status")
    after = dual_control(obs, before)
    assert after is not None and after.kind == "dual_control"
    assert alarms(obs, (before,)) != ()


def test_an_unreadable_status_keeps_the_alarm_up_and_says_what_cannot_be_read():
    garbage = parse_core_status(b'{"online": "false", "dispatch_enabled": "false"}')
    obs = room([stack("primary", connected=False), stack("standby", dispatch=True)],
               [broker("primary", garbage), broker("standby", garbage)])
    assert dual_control(obs) is None  # raises nothing
    kept = dual_control(obs, Alarm("dual_control", "both dispatching", source="status"))
    assert kept is not None and kept.unconfirmed
    assert kept.reason == "both dispatching (not seen to end: cannot read primary Docker, standby core status)"
    # One source that can be seen says a side is off, and none says it is on: it ends.
    off = room([stack("primary", core="exited", others="exited"), stack("standby", dispatch=True)],
               [broker("primary", garbage), broker("standby", garbage)])
    assert dual_control(off, kept) is None
    # A readable status saying "offline" cannot end it while Docker shows that core dispatching.
    says_off = status(online=False)
    contradicted = room([stack("primary", dispatch=True), stack("standby", dispatch=True)],
                        [broker("primary", says_off), broker("standby", says_off)])
    assert dual_control(contradicted, kept) is not None and not dual_control(contradicted, kept).unconfirmed


def test_commands_on_both_brokers_within_the_window_raise_the_alarm():
    assert dual_control(room(commands=[("primary", 95.0), ("standby", 99.0)], monotonic=100.0)) is not None
    assert dual_control(room(commands=[("primary", 80.0), ("standby", 99.0)], monotonic=100.0)) is None
    assert dual_control(room(commands=[("standby", 95.0), ("standby", 99.0)], monotonic=100.0)) is None


# ---- the run's outcome ----------------------------------------------------------------------------

STEPS = [("stop", False), ("point", False), ("extra", True)]


def test_a_required_step_done_but_lapsed_holds_the_run_open():
    states = {"stop": "done", "point": "done", "extra": "skipped"}
    lapsed = run_outcome(STEPS, states, {"stop"})
    assert lapsed.verdict == "incomplete" and lapsed.open == ("stop",) and lapsed.lapsed == ("stop",)
    assert not lapsed.finished
    # Acknowledged by the operator: the engine no longer passes it in, and the run is complete.
    done = run_outcome(STEPS, states, set())
    assert done.verdict == "complete" and done.open == () and done.lapsed == () and done.finished
    # A lapse on a step that was not done (decided anew) does not count.
    assert run_outcome(STEPS, {**states, "stop": "skipped"}, {"stop"}).verdict == "complete"
    assert run_outcome(STEPS, {**states, "point": "deferred"}, set()).verdict == "complete except deferred items"


def test_the_outcome_names_its_alarm_spans():
    t = 1_800_000_000.25
    at = time.strftime("%H:%M:%S", time.localtime(t))
    states = {"stop": "done", "point": "done", "extra": "done"}
    ended = run_outcome(STEPS, states, set(), (AlarmSpan("dual_control", t, t + 15.2),))
    assert ended.text() == f"complete, with 15 s of dual control at {at}"
    brief = run_outcome(STEPS, states, set(), (AlarmSpan("dual_control", t, t + 0.2),))
    assert brief.text() == f"complete, with 1 s of dual control at {at}"  # never "0 s": it happened
    open_ = run_outcome(STEPS, states, {"stop"}, (AlarmSpan("dual_control", t, None),))
    assert open_.text() == f"incomplete, with dual control since {at}, still raised"
    assert open_.text(now=t + 42) == f"incomplete, with dual control since {at}, still raised (42 s so far)"
    two = run_outcome(STEPS, states, set(), (AlarmSpan("dual_control", t, t + 15), AlarmSpan("dual_control", t + 60, t + 63)))
    assert two.text() == f"complete, with 15 s of dual control at {at} and 3 s of dual control at " \
                         f"{time.strftime('%H:%M:%S', time.localtime(t + 60))}"
    assert run_outcome(STEPS, states, set()).text() == "complete"



def test_a_broker_reads_its_passwd_only_when_started_after_it_was_written():
    # Seen: "Recreate the broker so it reads the new passwd" ticked at open on "the stack is
    # running", before any passwd was regenerated.
    from runbook_tui.observe.model import FilesView
    from runbook_tui.rules.conditions import evaluate
    from tests.observations import room, service, stack

    def obs(started: str, written: float):
        o = room([stack("primary"), stack("standby")])
        mosquitto = dataclasses.replace(service("mosquitto"), started_at=started)
        primary = dataclasses.replace(o.stack("primary"), services=(mosquitto,) + tuple(
            s for s in o.stack("primary").services if s.service != "mosquitto"))
        files = FilesView(tuple(dataclasses.replace(f, passwd_mtime=written) for f in o.files.stacks), o.files.at)
        return dataclasses.replace(o, stacks=(primary, o.stack("standby")), files=files)

    started = "2026-12-02T10:00:00.123456789Z"
    at = 1796205600.123  # 2026-12-02T10:00:00.123Z
    before = evaluate("primary_broker_reads_passwd", obs(started, at + 60))
    assert not before.holds and "before its passwd was written" in before.detail
    after = evaluate("primary_broker_reads_passwd", obs(started, at - 60))
    assert after.holds and "after its passwd was written" in after.detail


def test_failback_proves_the_controllers_are_back_on_the_primary_and_none_left_on_the_standby():
    from runbook_tui.rules.conditions import evaluate
    from tests.observations import broker, room

    on = status(online=True, dispatch_enabled=True)
    both = room(brokers=[broker("primary", on, controllers=(("door1", True),)), broker("standby", controllers=(("sim1", True),))])
    verdict = evaluate("controllers_on_primary", both)
    assert not verdict.holds and "still online on the standby broker: sim1" in verdict.detail
    back = room(brokers=[broker("primary", on, controllers=(("door1", True), ("sim1", True))),
                         broker("standby", controllers=(("sim1", False),))])
    assert evaluate("controllers_on_primary", back).holds


def test_a_run_whose_every_action_is_optional_and_none_was_done_did_nothing():
    # Seen: every sync action of "keeping the standby current" is optional, so a run where
    # nothing was done ended "complete".
    from runbook_tui.rules.outcome import NOTHING_DONE, run_outcome

    steps = [("version", False), ("config", False), ("passwd", True), ("backup", True)]
    states = {"version": "done", "config": "done", "passwd": "skipped", "backup": "skipped"}
    assert run_outcome(steps, states, set(), actions=frozenset({"passwd", "backup"})).verdict == NOTHING_DONE
    assert run_outcome(steps, {**states, "backup": "done"}, set(), actions=frozenset({"passwd", "backup"})).verdict == "complete"
    assert run_outcome(steps, states, set()).verdict == "complete"  # no acting step known: as before


def test_version_sync_is_sensed_from_both_env_files_and_both_cores():
    import dataclasses

    from runbook_tui.observe.model import FilesView
    from runbook_tui.rules.conditions import evaluate

    def with_versions(p_env: str, s_env: str, p_core: str, s_core: str):
        o = room(brokers=[broker("primary", status(online=True, dispatch_enabled=True, version=p_core)),
                          broker("standby", status(online=True, dispatch_enabled=False, version=s_core))])
        stacks = tuple(dataclasses.replace(f, env=tuple(sorted({**f.env_dict, "CORE_VERSION": v}.items())))
                       for f, v in zip(o.files.stacks, (p_env, s_env), strict=True))
        return dataclasses.replace(o, files=FilesView(stacks, o.files.at))

    assert evaluate("core_versions_match", with_versions("8.0.0", "8.0.0", "8.0.0", "8.0.0")).holds
    drifted = evaluate("core_versions_match", with_versions("8.0.0", "7.9.0", "8.0.0", "7.9.0"))
    assert not drifted.holds and "standby 7.9.0" in drifted.detail
    stale_core = evaluate("core_versions_match", with_versions("8.0.0", "8.0.0", "8.0.0", "7.9.0"))
    assert not stale_core.holds and "running cores say primary 8.0.0, standby 7.9.0" in stale_core.detail


def test_a_core_status_the_broker_refuses_to_show_names_the_broker_as_the_cause():
    # Seen in the stale-passwd drill: "core status: not yet reporting dispatch enabled", while
    # the standby broker refused the room's credentials; the trainee was sent looking at the core.
    from runbook_tui.rules.conditions import evaluate
    from tests.observations import room, stack

    refused = dataclasses.replace(broker("standby", state="refused"), detail="Not authorized")
    verdict = evaluate("standby_core_dispatch_enabled", room([stack("primary"), stack("standby", dispatch=True)],
                                                              [refused], standby_dispatch=True))
    assert not verdict.holds
    assert "not yet reporting dispatch enabled (its broker 127.0.0.3:1883: refused: Not authorized)" in verdict.detail


# ---- a core's status counts only for its own room and stack ---------------------------------------

@pytest.mark.parametrize(("fields", "said"), [
    ({"room": "atlas"}, "core status says room atlas, not room1: ignored"),
    ({"room": None}, "core status names no room: ignored"),
    ({"role": "standby"}, "core status says role standby, not primary: ignored"),
    ({"stack": "atlas-primary"}, "core status says stack atlas-primary, not room1-primary: ignored"),
    ({}, ""),
    ({"role": "primary", "stack": "room1-primary"}, ""),
])
def test_a_status_is_its_stacks_own_only_by_room_role_and_stack(fields: dict, said: str):
    core = status(online=True, dispatch_enabled=True, **fields)
    obs = room([stack("primary", core="exited")], [broker("primary", core)])
    assert core.not_own("room1", "primary", "room1-primary") == said
    assert obs.core_not_own("primary") == said
    assert (obs.own_core("primary") is None) == bool(said)


def test_the_stack_a_status_must_name_is_dockers_project_else_the_env_s():
    core = status(online=True, dispatch_enabled=False, stack="room1-primary")
    seen = room([dataclasses.replace(stack("primary"), project="site-a")], [broker("primary", core)])
    assert seen.core_not_own("primary") == "core status says stack room1-primary, not site-a: ignored"
    assert room(brokers=[broker("primary", core)]).core_not_own("primary") == ""  # ROOM_ID-STACK_ROLE of the .env


FORGED = status(online=True, room="atlas", dispatch_enabled=True)  # as seen: another room's, retained


def promoted(primary_core: CoreStatus | None, docker_seen: bool = True) -> RoomObservation:
    """The primary's core stopped (its broker up), the standby's dispatching and saying so."""
    on = status(online=True, dispatch_enabled=True, role="standby", critical_armed=True, version="8.0.0")
    return room([stack("primary", core="exited", connected=docker_seen), stack("standby", dispatch=True, connected=docker_seen)],
                [broker("primary", primary_core), broker("standby", on)], dns(("127.0.0.3",)), standby_dispatch=True)


@pytest.mark.parametrize("foreign", [FORGED, status(online=True, room=None, dispatch_enabled=True),
                                     status(online=True, role="standby", dispatch_enabled=True),
                                     status(online=True, stack="room1-standby", dispatch_enabled=True)],
                         ids=["another room", "no room", "another role", "another stack"])
def test_another_rooms_status_on_the_primary_broker_raises_no_alarm(foreign: CoreStatus):
    for docker_seen in (True, False):
        obs = promoted(foreign, docker_seen)
        assert dual_control(obs) is None and alarms(obs) == ()
        # Its own core's status saying the same is the status account of dual control.
        own = promoted(status(online=True, dispatch_enabled=True, role="primary"), docker_seen)
        assert dual_control(own) is not None and dual_control(own).source == "status"
    verdict = evaluate("primary_not_dispatching", promoted(foreign))
    assert not verdict.holds and "ignored" in verdict.detail  # it hides what the primary's core would say


def test_the_primary_broker_shows_another_rooms_status_as_a_mismatch():
    verdict = evaluate("primary_not_dispatching", promoted(FORGED))
    assert verdict.detail.endswith("primary broker: core status says room atlas, not room1: ignored")
    offline = evaluate("primary_not_dispatching", promoted(status(online=False, room="atlas")))
    assert not offline.holds and "ignored" in offline.detail  # nor does another room's "offline" prove it
    assert evaluate("primary_not_dispatching", promoted(status(online=False, role="primary"))).holds


def test_another_rooms_status_on_the_standby_broker_proves_no_step():
    armed_atlas = status(online=True, room="atlas", role="standby", dispatch_enabled=True, critical_armed=True, version="7.0.0")
    base = promoted(status(online=False, role="primary", version="8.0.0"))
    base = dataclasses.replace(base, stacks=(stack("primary", core="exited"), dataclasses.replace(
        stack("standby", dispatch=True), services=tuple(dataclasses.replace(s, flags=(("CORE_DISPATCH_ENABLED", True),
                                                                                     ("CORE_CRITICAL_ARMED", True)))
                                                         if s.service == CORE else s for s in stack("standby").services))))
    forged = dataclasses.replace(base, brokers=(base.broker("primary"), broker("standby", armed_atlas)))
    for name in ("standby_core_dispatch_enabled", "standby_core_critical_armed", "broker_name_serves_standby"):
        assert evaluate(name, base).holds, evaluate(name, base)  # its own core saying so proves it
        verdict = evaluate(name, forged)
        assert not verdict.holds and "core status says room atlas, not room1: ignored" in verdict.detail, verdict
    assert "7.0.0" not in evaluate("core_versions_match", forged).detail  # nor is its version the core's


def test_a_forged_offline_while_docker_cannot_be_read_does_not_end_a_docker_raised_alarm():
    from tests.observations import dual_control_room

    raised = dual_control(dual_control_room())
    assert raised is not None and raised.source == "docker"
    offline = status(online=False, role="primary")  # readable, this room's, and says offline
    blind = room([stack("primary", connected=False), stack("standby", connected=False)],
                 [broker("primary", offline), broker("standby", status(online=True, dispatch_enabled=True, role="standby"))])
    kept = dual_control(blind, raised)
    assert kept is not None and kept.unconfirmed and kept.source == "docker"
    assert kept.reason == raised.reason + " (not seen to end: cannot read primary Docker, standby Docker)"
    assert alarms(blind, (kept,)) == (kept,)
    # The same status ends an alarm raised on the statuses; Docker seeing the primary off ends this one.
    assert dual_control(blind, Alarm("dual_control", RAISED_ON["status"], source="status")) is None
    seen = dataclasses.replace(blind, stacks=(stack("primary", core="exited"), stack("standby", connected=False)))
    assert dual_control(seen, kept) is None


@FAST
@given(observations(), st.sampled_from(sorted(RAISED_ON)))
def test_a_status_not_the_stacks_own_counts_as_one_that_does_not_read(obs: RoomObservation, source: str):
    """Whatever another room's or stack's status says, the alarm is what it would be had the
    status not read: it raises nothing and clears nothing."""
    garbage = parse_core_status(b'{"online": "true"}')
    twin = dataclasses.replace(obs, brokers=tuple(
        dataclasses.replace(b, core=garbage) if b.core is not None and b.core.readable and obs.core_not_own(b.role) else b
        for b in obs.brokers))
    before = Alarm("dual_control", RAISED_ON[source], source=source)
    assert dual_control(obs) == dual_control(twin) and dual_control(obs, before) == dual_control(twin, before)
