"""The live panel says a lost primary host in words, with the engine it could not reach.
Seen on a site walk: with the primary's engine (ssh://) and broker both down, the screen said
only "its Docker engine unreachable since ..." without the engine, and never "primary host
unreachable", though the checklist's fence step was waiting for exactly that."""

from __future__ import annotations

import time

import pytest
from textual.app import App, ComposeResult

from runbook_tui.observe.docker_look import stack_snapshot
from runbook_tui.probes.mqtt_model import BrokerState, MqttBatch, MqttSnapshot
from runbook_tui.ui.live_view import LiveView
from tests.observations import service

ENGINE = "ssh://ops@p1"


class _Panel(App):
    def compose(self) -> ComposeResult:
        yield LiveView()


def _primary(connected: bool):
    services = (service("db"), service("mosquitto"), service("sentient-core", dispatch=True))
    return stack_snapshot("primary", "room9-primary", {}, connected=connected,
                          error=None if connected else "ssh: connect to host p1 port 22: No route to host",
                          services=services if connected else (), engine=ENGINE)


def _brokers(primary_up: bool) -> MqttBatch:
    now = time.time()
    brokers = (BrokerState("primary", "10.0.10.20:1883", primary_up, None if primary_up else "timed out", 0, 1, now),
               BrokerState("standby", "10.0.10.21:1883", True, None, 0, 1, now))
    return MqttBatch((), 0, MqttSnapshot(brokers, (), (), (), 0, now))


@pytest.mark.asyncio
async def test_a_primary_whose_engine_and_broker_are_both_down_is_said_lost_with_its_engine():
    app = _Panel()
    async with app.run_test(size=(160, 50)) as pilot:
        live = app.query_one(LiveView)
        note = lambda: str(app.query_one("#containers-note").render())  # noqa: E731
        live.update_containers(_primary(True))
        live.update_mqtt(_brokers(True))
        await pilot.pause()
        assert "UNREACHABLE" not in note()
        live.update_containers(_primary(False))  # the engine first: the broker still answers
        await pilot.pause()
        assert f"room9-primary: its Docker engine {ENGINE} unreachable since" in note()
        assert "PRIMARY HOST UNREACHABLE" not in note()  # a host that answers in part is no lost host
        live.update_mqtt(_brokers(False))  # then its broker: the tab says the host anew, at once
        await pilot.pause()
        assert (f"PRIMARY HOST UNREACHABLE: neither its engine {ENGINE} nor its broker 10.0.10.20:1883 answers "
                "(timed out)") in note()
        assert "fence steps" in note()
        live.update_mqtt(_brokers(True))
        await pilot.pause()
        assert "PRIMARY HOST UNREACHABLE" not in note()
