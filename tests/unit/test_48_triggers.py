"""The conditions that queue a non-normal procedure, and the episodes of a trigger, on hand-built
observations (tests/observations.py): pure rules, judged alike in a run and in the venue view."""

from __future__ import annotations

import dataclasses

from runbook_tui.checklist.loader import load_checklist
from runbook_tui.engine.procedures import venue_specs
from runbook_tui.observe.model import ServiceState
from runbook_tui.rules.conditions import evaluate
from runbook_tui.rules.triggers import CLEARED, FIRED, RoomTriggers, TriggerSpec, advance
from tests.conftest import REPO
from tests.observations import broker, dns, dual_control_room, quiet_room, room, stack, status

ON_STANDBY = status(online=True, dispatch_enabled=True, role="standby")
ON_PRIMARY = status(online=True, dispatch_enabled=True, role="primary")
OFF = status(online=True, dispatch_enabled=False)


def at_rest(controllers=(("sim1", True),), answers=("127.0.0.2",)):
    """Before a promotion: the primary dispatches, the standby is up with dispatch off."""
    return room([stack("primary", dispatch=True), stack("standby", dispatch=False)],
                [broker("primary", ON_PRIMARY, controllers=controllers), broker("standby", OFF)], dns(answers))


def promoted(controllers=(("sim1", True),), answers=("127.0.0.3",)):
    return dataclasses.replace(quiet_room(), brokers=(broker("primary", state="unreachable"),
                                                       broker("standby", ON_STANDBY, controllers=controllers)),
                               dns=dns(answers))


def holds(condition, obs) -> bool:
    verdict = evaluate(condition, obs)
    assert verdict.seen, verdict
    return verdict.holds


def test_dual_control_names_the_core_that_must_stop_by_the_standbys_env():
    assert holds("dual_control_standby_promoted", dual_control_room())  # its .env enables dispatch: stop the primary's
    assert not holds("dual_control_standby_not_promoted", dual_control_room())
    unpromoted = dataclasses.replace(dual_control_room(), files=room(standby_dispatch=False).files)
    assert holds("dual_control_standby_not_promoted", unpromoted) and not holds("dual_control_standby_promoted", unpromoted)
    for condition in ("dual_control_standby_promoted", "dual_control_standby_not_promoted"):
        assert not holds(condition, at_rest()) and not holds(condition, quiet_room())


def test_the_primary_came_back_only_after_the_standby_was_promoted():
    assert not holds("primary_came_back", quiet_room())  # shut down: not back
    back = dataclasses.replace(quiet_room(), stacks=(stack("primary", core="exited", others="running"),
                                                      stack("standby", dispatch=True)))
    assert holds("primary_came_back", back)  # its broker and database run again
    answers = dataclasses.replace(quiet_room(), brokers=(broker("primary", OFF), broker("standby", ON_STANDBY)))
    assert holds("primary_came_back", answers)  # its broker answers (a host whose engine we cannot see)
    assert not holds("primary_came_back", at_rest())  # before a promotion the primary is meant to run
    # Back and dispatching is dual control, answered first by its own procedure.
    assert not holds("primary_came_back", dual_control_room())


def test_controllers_lost_is_judged_on_the_active_stacks_broker():
    assert not holds("controllers_lost_on_active", at_rest())
    assert holds("controllers_lost_on_active", at_rest(controllers=(("sim1", False),)))
    assert holds("controllers_on_active", promoted()) and not holds("controllers_lost_on_active", promoted())
    assert holds("controllers_lost_on_active", promoted(controllers=()))
    # Online on the other broker is not online on the active one.
    lost = dataclasses.replace(promoted(controllers=()), brokers=(broker("primary", OFF, controllers=(("sim1", True),)),
                                                                  broker("standby", ON_STANDBY)))
    assert holds("controllers_lost_on_active", lost)
    # No one active stack (both dispatch): nothing to judge it on.
    verdict = evaluate("controllers_lost_on_active", dual_control_room())
    assert not verdict.holds and "no one active stack" in verdict.detail


def test_the_dns_name_points_away_from_the_active_stack_on_any_resolver():
    assert not holds("dns_points_away_from_active", at_rest())
    assert holds("dns_points_away_from_active", at_rest(answers=("127.0.0.3",)))
    assert holds("dns_points_away_from_active", promoted(answers=("127.0.0.2",)))
    split = dataclasses.replace(promoted(), dns=dns(("127.0.0.3",), ("127.0.0.2",)))
    verdict = evaluate("dns_points_away_from_active", split)
    assert verdict.holds and "127.0.0.1:5354 -> 127.0.0.2" in verdict.detail
    assert holds("dns_points_to_active", promoted()) and not holds("dns_points_to_active", split)


def test_the_active_broker_down_or_its_core_looping_is_failing():
    assert not holds("active_stack_failing", promoted()) and holds("active_stack_healthy", promoted())
    down = dataclasses.replace(promoted(), brokers=(broker("primary", state="unreachable"),
                                                    broker("standby", ON_STANDBY, state="unreachable")))
    # The core's own status cannot be read with its broker down; Docker still says it dispatches.
    assert holds("active_stack_failing", down) and not holds("active_stack_healthy", down)
    restarting = stack("standby", dispatch=True)
    core = restarting.service("sentient-core")
    looping = dataclasses.replace(restarting, services=tuple(
        dataclasses.replace(s, state="restarting", restart_count=4) if s is core else s for s in restarting.services))
    obs = dataclasses.replace(promoted(), stacks=(stack("primary", core="exited", others="exited"), looping))
    verdict = evaluate("active_stack_failing", obs)
    assert verdict.holds and "restarting (restarted 4 times)" in verdict.detail
    assert isinstance(core, ServiceState)


def test_resolvers_that_disagree():
    assert not holds("resolvers_disagree", promoted())
    assert holds("resolvers_disagree", dataclasses.replace(promoted(), dns=dns(("127.0.0.3",), ("127.0.0.2",))))


SPEC = (TriggerSpec("dual", "dual_control_standby_promoted", 2.0),)


def at(obs, t):
    return dataclasses.replace(obs, at=t)


def test_a_trigger_fires_once_it_held_its_hold_time_once_an_episode_and_clears():
    episodes: dict = {}
    said = []
    for t, obs in [(10.0, dual_control_room()), (11.0, dual_control_room()), (12.0, dual_control_room()),
                   (13.0, dual_control_room()), (14.0, quiet_room()), (15.0, quiet_room())]:
        episodes, changes = advance(SPEC, at(obs, t), episodes)
        said += [(c.what, c.at, c.held_s) for c in changes]
    assert said == [(FIRED, 12.0, 2.0), (CLEARED, 14.0, 4.0)]
    assert episodes == {}


def test_an_observation_that_cannot_see_the_parts_neither_advances_nor_ends_an_episode():
    unseen = dataclasses.replace(dual_control_room(), stacks=())
    episodes, _ = advance(SPEC, at(dual_control_room(), 10.0), {})
    episodes, changes = advance(SPEC, at(unseen, 11.0), episodes)
    assert changes == () and episodes["dual"].since == 10.0
    episodes, changes = advance(SPEC, at(dual_control_room(), 12.0), episodes)
    assert [c.what for c in changes] == [FIRED]


def test_a_trigger_no_longer_armed_drops_its_episode_without_a_word():
    episodes, _ = advance(SPEC, at(dual_control_room(), 10.0), {})
    episodes, changes = advance((), at(dual_control_room(), 13.0), episodes)
    assert episodes == {} and changes == ()


def test_the_venue_judges_every_procedure_of_a_rooms_checklist_over_its_looks():
    specs = venue_specs(load_checklist(REPO / "checklists" / "promotion.yaml"))
    assert len(specs) == 7
    watch = RoomTriggers(specs)
    assert watch.see(at(dual_control_room(), 100.0)) == ()
    fired = watch.see(at(dual_control_room(), 101.5))  # one look cycle later
    assert [c.procedure for c in fired] == ["dual-control-primary"]
    assert [e.procedure for e in watch.fired()] == ["dual-control-primary"]
    assert watch.see(at(dual_control_room(), 104.0)) == ()  # once an episode (and not "the primary came back")
    cleared = watch.see(at(quiet_room(), 105.0))
    assert [(c.procedure, c.what) for c in cleared] == [("dual-control-primary", CLEARED)]
    assert watch.fired() == ()
