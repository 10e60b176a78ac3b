"""A room set up as a site would, outside the lab: its stack root outside the tool's checkout,
its own addresses (127.0.10.x, not the lab's 127.0.0.x), its own DNS server, a controller
`door1` that the lab did not start, and a site settings file with a [rooms.clockwork] table.

`plan`, the TUI's smoke test and the resume line use the site's values; no lab address and no
lab command appears in the plan or on the screens.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest

from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.run import StepState
from runbook_tui.lab.base_image import ensure_base_image
from runbook_tui.session import Session
from runbook_tui.settings import load_settings
from runbook_tui.ui.app import RunbookApp
from tests.conftest import BIN, REPO, TEST_DNS_PORT, make_stack_root, run
from tests.lab.site_dns import SiteDns

ROOM = "clockwork"
NAME = f"mqtt.{ROOM}.sentientengine.ai"
PRIMARY, STANDBY = "127.0.10.2", "127.0.10.3"
RESOLVER = "127.0.10.53"
DNS_PORT = int(TEST_DNS_PORT) + 11
LAB_WORDS = ("127.0.0.", "runbook-tui lab", "sim1", "(lab only)")


@pytest.fixture(scope="module")
def site(lab, tmp_path_factory):
    """The site: stacks built from the base image the lab built once, brought up with the
    runbook's own scripts and compose, a DNS server and a controller of its own."""
    home = tmp_path_factory.mktemp("site")
    root = make_stack_root(home / "venue-stacks")
    base, _how = ensure_base_image(lambda _m: None)
    run(f"scripts/new-room-standby.sh {ROOM} --primary-addr {PRIMARY} --standby-addr {STANDBY} "
        "--primary-local-port 21883 --standby-local-port 21884", root, {"BASE_IMAGE": base}, check=True)
    dirs = {role: root / "infra" / "rooms" / f"{ROOM}-{role}" for role in ("primary", "standby")}
    controller = None
    try:
        for d in dirs.values():
            run(f"scripts/mosquitto-make-passwd.sh {d / '.env'}", root, check=True)
            run("docker compose --env-file .env up -d --build", d, timeout=900, check=True)
        with SiteDns(home, DNS_PORT, NAME, listen=RESOLVER) as dns:
            dns.answer(PRIMARY)
            env = {k: v for k, v in (line.split("=", 1) for line in (dirs["primary"] / ".env").read_text().splitlines()
                                     if "=" in line and not line.startswith("#"))}
            state = home / "door1.json"
            controller = subprocess.Popen(
                [sys.executable, "-m", "runbook_tui.lab.controller", "--room", ROOM, "--device", "door1",
                 "--resolver", f"{RESOLVER}:{DNS_PORT}", "--state-file", str(state)],
                env={**os.environ, "SIM_MQTT_USERNAME": env["MQTT_USERNAME"], "SIM_MQTT_PASSWORD": env["MQTT_PASSWORD"]},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while not (state.exists() and json.loads(state.read_text() or "{}").get("connected")):
                assert time.monotonic() < deadline, "door1 did not connect to the site's primary"
                time.sleep(0.3)
            settings = home / "runbook-tui.toml"
            settings.write_text(f"""\
stack_root = "{root}"
lab = false
journal_dir = "{home / 'runs'}"

[dns]
resolvers = ["{RESOLVER}:{DNS_PORT}"]
interval_s = 0.5

[rooms.{ROOM}.variables]
smoke_device = "door1"
smoke_action = "PULSE"
primary_endpoint_host = "{PRIMARY}"
primary_endpoint_port = "1883"
standby_endpoint_host = "{STANDBY}"
standby_endpoint_port = "1883"
""")
            yield settings
    finally:
        if controller is not None:
            controller.terminate()
            controller.wait(10)
        for d in dirs.values():
            run("docker compose --env-file .env down -v --remove-orphans", d, timeout=300)


def no_lab_words(text: str, where: str) -> None:
    for word in LAB_WORDS:
        assert word not in text, f"{where} shows the lab's {word!r}:\n{text}"


def test_the_plan_uses_the_sites_values_and_nothing_of_the_lab(site):
    for checklist in ("promotion.yaml", "failback.yaml", "standby-current.yaml"):
        r = run(f"runbook-tui --settings {site} plan {REPO / 'checklists' / checklist} --room {ROOM}", site.parent,
                {"RUNBOOK_STACK_ROOT": ""})
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"settings {site.resolve()}" in r.stdout.splitlines()[2]
        no_lab_words(r.stdout, f"plan {checklist}")
        if checklist != "standby-current.yaml":
            assert "--device door1 --action PULSE" in r.stdout  # the room's own device and action
    promotion = run(f"runbook-tui --settings {site} plan {REPO / 'checklists' / 'promotion.yaml'} --room {ROOM}", site.parent).stdout
    assert f"MQTT_HOST={STANDBY} MQTT_PORT=1883" in promotion and STANDBY in promotion


@pytest.mark.asyncio
async def test_the_tuis_smoke_test_reaches_the_sites_controller_and_the_screens_show_no_lab(site):
    settings = load_settings(site)
    session = Session(settings, ROOM, REPO / "checklists" / "failback.yaml")
    app = RunbookApp(session, resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 30
        while app.engine is None or app.watcher is None or app.watcher.latest is None \
                or not any(b.state == "ok" for b in app.watcher.latest.brokers):
            assert time.monotonic() < deadline, "the app does not see the site's brokers"
            await pilot.pause(0.2)
        status = await app.engine.run_step("smoke-test", confirmed=True)
        assert status.state is StepState.DONE, status
        evidence = " ".join(status.evidence)
        assert "door1" in evidence and "ack" in evidence and f"{PRIMARY}:1883" in evidence, evidence
        await pilot.pause(0.5)
        for size in ((120, 40), (80, 24)):
            await pilot.resize_terminal(*size)
            for pane in ("1", "2", "3"):
                await pilot.press(pane)
                for tab in range(4):
                    await pilot.press("right_square_bracket")
                    await pilot.pause(0.1)
                    no_lab_words(app.export_screenshot(), f"the screen at {size}, pane {pane}, tab {tab}")
        for step in app.engine.applicable_steps():  # what each confirmation would show
            no_lab_words(repr(app.engine.preview(step.id)), f"the confirmation of {step.id}")
        records = read_journal(app.engine.journal.path).records
        assert records[0]["settings"] == str(site.resolve())
        assert records[0]["variables"]["smoke_device"] == "door1" and records[0]["variables"]["smoke_action"] == "PULSE"
        sent = next(r for r in records if r["kind"] == "dispatch_sent")
        assert sent["device"] == "door1" and sent["action"] == "PULSE"
        resume = session.resume_command()
        journal = app.engine.journal.path
        await pilot.press("q")
    promotion = Session(settings, ROOM, REPO / "checklists" / "promotion.yaml")
    engine = promotion.start_engine()
    try:
        for step in engine.applicable_steps():
            no_lab_words(repr(engine.preview(step.id)), f"the promotion's confirmation of {step.id}")
        assert "point" in repr(engine.preview("dns-repoint")).lower()
    finally:
        engine.journal.close()
        promotion.release()  # this console is done with the room: the pasted line below opens it
    # The resume line, pasted as printed (no environment of the tests' lab), opens the site's room.
    words = shlex.split(resume)
    assert words[:3] == ["runbook-tui", "--settings", str(site.resolve())] and words[3:5] == ["--room", ROOM]
    subprocess.run(["tmux", "kill-session", "-t", "site-resume"], capture_output=True)
    env = " ".join(f"-u {v}" for v in ("RUNBOOK_STACK_ROOT", "RUNBOOK_LAB_DNS_PORT", "RUNBOOK_TUI_SETTINGS", "COLUMNS", "LINES"))
    subprocess.run(["tmux", "new-session", "-d", "-s", "site-resume", "-x", "80", "-y", "24",
                    f"cd {site.parent} && env {env} PATH={BIN}:$PATH {resume}; sleep 600"], check=True)
    try:
        deadline, screen = time.monotonic() + 30, ""
        while not (ROOM in screen and "✓" in screen):  # the same run, resumed: the smoke test's tick is there
            assert time.monotonic() < deadline, screen
            time.sleep(0.5)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", "site-resume"], capture_output=True, text=True).stdout
        assert ROOM in screen and "LAB" not in screen
        no_lab_words(screen, "the resumed TUI")
        deadline = time.monotonic() + 10
        while not any(r["kind"] == "run_resumed" for r in read_journal(journal).records):  # the same run, not a new one
            assert time.monotonic() < deadline, "the resume line did not resume the run"
            time.sleep(0.3)
    finally:
        subprocess.run(["tmux", "send-keys", "-t", "site-resume", "Escape", "q"], capture_output=True)
        time.sleep(1)
        subprocess.run(["tmux", "kill-session", "-t", "site-resume"], capture_output=True)
