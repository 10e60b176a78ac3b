"""The live panel shows a core's status of another room or stack as a mismatch, never as this
room's core online or dispatching (the rules ignore it too: tests/unit/test_35_rules.py)."""

from __future__ import annotations

import pytest

from runbook_tui.probes.mqtt_probe import BrokerState, MqttBatch, MqttSnapshot
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.messages import MqttBatchArrived
from tests.observations import status
from tests.ui.test_app import session, wait_until


@pytest.mark.asyncio
async def test_another_rooms_status_is_shown_as_a_mismatch(tmp_path):
    app = RunbookApp(session(tmp_path), live=False, resume=False)  # room9
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        cores = (("primary", status(online=True, room="atlas", dispatch_enabled=True, version="7.0.0")),
                 ("standby", status(online=True, room="room9", role="standby", dispatch_enabled=False, version="8.0.0")))
        brokers = tuple(BrokerState(r, f"127.0.0.{n}:1883", True, None, 1, 1, None) for n, r in ((2, "primary"), (3, "standby")))
        app.post_message(MqttBatchArrived(MqttBatch((), 0, MqttSnapshot(brokers, (), cores, (), 0, 0.0))))
        note = app.run_screen.query_one("#mqtt-note")
        await wait_until(pilot, lambda: "primary core:" in str(note.render()))
        text = str(note.render())
        assert "primary core: MISMATCH: core status says room atlas, not room9: ignored" in text
        assert "standby core: online, dispatch off" in text
        assert "dispatch on" not in text and "CORES DIFFER" not in text  # nor is its version the primary's
