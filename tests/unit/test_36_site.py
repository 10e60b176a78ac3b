"""One site description: one endpoint builder, one project-name rule, and a stack's broken
.env as a state (an unreachable broker), never a crash (seen: MQTT_PORT=18830x crashed the TUI)."""

from __future__ import annotations

from pathlib import Path

from runbook_tui.mqtt_contract import broker_endpoint
from runbook_tui.observe.mqtt_look import look_broker
from runbook_tui.observe.site import SiteContext
from runbook_tui.stacks import Stack, project_name


def test_a_port_that_is_not_a_number_gives_an_endpoint_no_look_can_reach():
    for bad in ("18830x", "0", "70000", "-1", " "):
        assert broker_endpoint({"MQTT_PORT": bad, "MQTT_BIND_ADDR": "127.0.0.9"}).port == (1883 if bad == " " else 0)
    good = broker_endpoint({"MQTT_PORT": "18830", "MQTT_BIND_ADDR": "127.0.0.9", "MQTT_PASSWORD": "s3cret"})
    assert (good.host, good.port) == ("127.0.0.9", 18830) and "s3cret" not in repr(good) and str(good) == "127.0.0.9:18830"


def test_the_broker_look_says_unreachable_for_such_a_port():
    view = look_broker("primary", broker_endpoint({"MQTT_PORT": "18830x"}), SiteContext(Path("."), "r", Path("a"), Path("b"), "n").topics(),
                       "r", timeout_s=0.5)
    assert view.state == "unreachable" and "MQTT_PORT" in view.detail


def test_one_project_name_rule_for_the_site_and_the_lab(tmp_path: Path):
    (tmp_path / "clockwork-primary").mkdir()
    (tmp_path / "clockwork-primary" / ".env").write_text("ROOM_ID=clockwork\nSTACK_ROLE=primary\nMQTT_PORT=18830x\n")
    site = SiteContext(tmp_path, "clockwork", tmp_path / "clockwork-primary", tmp_path / "clockwork-standby", "mqtt.clockwork.x")
    assert site.project("primary") == "clockwork-primary" == project_name("clockwork", "primary", {})
    assert site.project("standby") == "clockwork-standby"  # no .env yet: the room and role
    assert project_name("r", "standby", {"ROOM_ID": "other", "STACK_ROLE": "backup"}) == "other-backup"
    assert site.broker("primary").port == 0  # the same builder as the lab's stacks
    assert Stack("clockwork", "primary", tmp_path / "clockwork-primary").broker().port == 0
    (tmp_path / "clockwork-standby").mkdir()
    (tmp_path / "clockwork-standby" / ".env").write_bytes(b"MQTT_PORT=\xff\xfe\n")
    assert isinstance(site.env("standby"), dict)  # a .env that does not decode is a state, not a traceback
