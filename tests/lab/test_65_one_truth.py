"""One truth, against a real room (room6 of the lab) watched as the TUI watches it: the screen,
the checklist's ticks and the journal agree with the room.

- a resolver answering both brokers' addresses keeps the DNS step waiting while the DNS tab
  says "both stacks" (the resolver is our own dnsmasq, as a site's would be, not the lab's);
- the primary core started again after step 9 turns step 9 to "no longer holds" within 2 s,
  journaled with what was seen, and the run is not complete;
- a guard overridden into dual control is journaled when raised and cleared, and the report's
  outcome names it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from runbook_tui.engine.journal import read_journal
from runbook_tui.engine.report import render_report
from runbook_tui.engine.run import StepState
from runbook_tui.session import Session
from runbook_tui.settings import Settings
from runbook_tui.ui.app import RunbookApp
from runbook_tui.ui.checklist_view import ChecklistView
from runbook_tui.ui.live_view import LiveView
from tests.conftest import REPO, TEST_DNS_PORT
from tests.lab.site_dns import SiteDns

ROOM = "room6"
NAME = f"mqtt.{ROOM}.sentientengine.ai"
SITE_DNS_PORT = int(TEST_DNS_PORT) + 7


@pytest.fixture(scope="module")
def room6(lab):
    with lab.extra_room(ROOM):
        yield lab


def reset_room_app(lab, tmp_path: Path) -> RunbookApp:
    """The room as the runbook starts it (primary dispatching, standby not), and the TUI on it."""
    lab.sh(f"runbook-tui lab reset {ROOM}", check=True, timeout=600)
    return app_for(lab, tmp_path, (("127.0.0.1", int(TEST_DNS_PORT)),))


async def watching(pilot, app: RunbookApp) -> None:
    await until(pilot, lambda: app.engine is not None and app.watcher is not None and app.watcher.latest is not None, 15,
                "the app watches the room")


def app_for(lab, tmp_path: Path, resolvers) -> RunbookApp:
    settings = Settings(stack_root=lab.root, resolvers=resolvers, journal_dir=tmp_path / "runs", lab=False)
    return RunbookApp(Session(settings, ROOM, REPO / "checklists" / "promotion.yaml"), live=True, resume=False)


async def until(pilot, predicate, timeout: float, what: str) -> float:
    """Waits in the app's own loop; returns when it held (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await pilot.pause(0.05)
    return time.monotonic()


def records(app: RunbookApp) -> list[dict]:
    return read_journal(app.engine.journal.path).records


@pytest.mark.asyncio
async def test_a_name_answering_both_brokers_keeps_the_dns_step_waiting_while_the_tab_says_both(room6, tmp_path):
    lab = room6
    standby, primary = (lab.stack_env(f"{ROOM}-{r}")["MQTT_BIND_ADDR"] for r in ("standby", "primary"))
    with SiteDns(tmp_path, SITE_DNS_PORT, NAME) as dns:
        dns.answer(standby, primary)
        app = app_for(lab, tmp_path, (("127.0.0.1", SITE_DNS_PORT),))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.run_screen is not None, 15, "the run on screen")
            live = app.run_screen.query_one(LiveView)
            note = app.run_screen.query_one("#dns-note")
            await until(pilot, lambda: app.engine is not None and "both stacks" in str(note.render()), 15, "the DNS tab says both")
            await asyncio.sleep(2.0)  # several polls and observations: the step must still wait
            assert "both stacks" in str(note.render())
            assert app.engine.status("dns-repoint").state is StepState.PENDING
            verdict = app.engine.sense("dns-repoint")  # a fresh look gives the same verdict
            assert not verdict.holds and standby in verdict.detail and primary in verdict.detail
            assert live is not None
            # Only the standby's address: the step turns done, in a second, on the same observations.
            dns.answer(standby)
            changed = time.monotonic()
            done = await until(pilot, lambda: app.engine.status("dns-repoint").state is StepState.DONE, 5, "the DNS step ticks")
            assert done - changed < 2.0
            evidence = next(r for r in records(app) if r["kind"] == "evidence" and r["step"] == "dns-repoint")
            assert f"{NAME}" in evidence["detail"] and primary not in evidence["detail"].split("):", 1)[1]
            # DNS goes back to the primary: the tick says it no longer holds, journaled.
            dns.answer(primary)
            await until(pilot, lambda: "dns-repoint" in app.engine.lapses, 5, "the DNS step lapses")
            assert any(r["kind"] == "condition_lapsed" and r["step"] == "dns-repoint" for r in records(app))
            await pilot.press("q")


@pytest.mark.asyncio
async def test_the_primary_started_again_after_step_9_turns_it_to_no_longer_holds(room6, tmp_path):
    lab = room6
    app = reset_room_app(lab, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await watching(pilot, app)
        status = await app.engine.run_step("stop-primary", typed_room=ROOM)
        assert status.state is StepState.DONE, status
        assert any("primary_stack_down: yes" in e for e in status.evidence)
        await until(pilot, lambda: app.watcher.latest.stack("primary") is not None
                    and not app.watcher.latest.stack("primary").services, 10, "the primary is down")
        assert "stop-primary" not in app.engine.lapses
        # Someone starts the primary's core again by hand (its .env still enables dispatch).
        lab.sh(f"cd infra/rooms/{ROOM}-primary && docker compose --env-file .env up -d sentient-core", check=True)
        started = time.monotonic()
        lapsed = await until(pilot, lambda: "stop-primary" in app.engine.lapses, 10, "step 9 no longer holds")
        assert lapsed - started <= 2.0, f"{lapsed - started:.2f}s"
        lapse_record = next(r for r in records(app) if r["kind"] == "condition_lapsed" and r["step"] == "stop-primary")
        # Compose starts the core's broker and database first: the first of them to run is enough.
        assert "still live" in lapse_record["detail"] and "running" in lapse_record["observation"]["docker primary"]
        outcome = app.engine.outcome()
        assert outcome.verdict == "incomplete" and "stop-primary" in outcome.lapsed
        # On screen: the checklist's line, the step pane and the header all say so.
        app.run_screen.goto_step("stop-primary")
        await until(pilot, lambda: "no longer holds since" in str(app.run_screen.query_one("#step-text").render()), 5,
                    "the step pane says so")
        assert "NO LONGER HOLDS" in str(app.run_screen.query_one(ChecklistView)._step_nodes["stop-primary"].label)
        assert "1 no longer holds" in app.sub_title
        await pilot.press("q")


@pytest.mark.asyncio
async def test_a_guard_overridden_into_dual_control_is_journaled_and_named_in_the_outcome(room6, tmp_path):
    lab = room6
    app = reset_room_app(lab, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await watching(pilot, app)
        engine = app.engine
        # The primary dispatches; the operator runs 11 and 12 despite their guards.
        for step in ("enable-dispatch", "recreate-core"):
            status = await engine.run_step(step, typed_room=ROOM, override_reason="drill: forcing it")
            assert status.state is StepState.OVERRIDDEN, status
        raised = await until(pilot, lambda: any(r["kind"] == "alarm_raised" for r in records(app)), 15, "dual control journaled")
        alarm = next(r for r in records(app) if r["kind"] == "alarm_raised")
        assert alarm["alarm"] == "dual_control" and "dispatch enabled" in alarm["reason"]
        assert all("dispatch_enabled=on" in alarm["observation"][f"docker {r}"] for r in ("primary", "standby"))
        assert "DUAL CONTROL" in str(app.run_screen.query_one("#banner").render())
        override = next(r for r in records(app) if r["kind"] == "override" and r["step"] == "recreate-core")
        assert any("dual control" in c for c in override["consequences"])
        # The primary is shut down: the alarm clears, journaled; the header keeps it until acknowledged.
        lab.sh(f"cd infra/rooms/{ROOM}-primary && docker compose --env-file .env stop sentient-core", check=True)
        await until(pilot, lambda: any(r["kind"] == "alarm_cleared" for r in records(app)), 15, "dual control cleared")
        # The header follows the engine's event, a moment after the journal (seen: read in between).
        await until(pilot, lambda: "dual control" in app.sub_title, 5, "the header says the alarm")
        assert raised and "dual control" in app.sub_title
        for step in engine.applicable_steps():
            if engine.status(step.id).state not in (StepState.DONE, StepState.OVERRIDDEN, StepState.SKIPPED):
                if step.confirm_at_room:  # not passed by a reason alone: the console overrides it
                    engine.override(step.id, typed_room=ROOM, reason="not part of this test")
                else:
                    engine.skip(step.id, "not part of this test")
        # "Bring up the primary" was done on evidence that the primary's core stopping ended (no
        # step of this run superseded it): the run stays open until the operator acknowledges it.
        assert "up-primary" in engine.lapses and not engine.outcome().finished
        for step_id, lapse in list(engine.lapses.items()):
            if not lapse.acknowledged:
                engine.acknowledge_lapse(step_id, "the primary was stopped on purpose in this test")
        # The dual control made here may have queued its non-normal procedure: the run cannot end
        # complete while one is open, so each is dismissed, with the reason.
        for procedure in engine.procedures.open_ones():
            engine.procedures.dismiss(procedure.id, "made on purpose in this test")
        await until(pilot, lambda: any(r["kind"] == "run_finished" for r in records(app)), 10, "the run finishes")
        finished = next(r for r in records(app) if r["kind"] == "run_finished")
        assert finished["outcome"] == "complete" and "dual control" in finished["said"]
        report = render_report(engine.journal.path)
        outcome_line = next(line for line in report.splitlines() if line.startswith("- Outcome:"))
        # The outcome's own words: the steps passed without evidence, then the alarm.
        assert outcome_line.startswith("- Outcome: **complete with ") and "without evidence (" in outcome_line, outcome_line
        assert "), with " in outcome_line and "s of dual control at" in outcome_line, outcome_line
        assert "## Alarms" in report and "dual control" in report.split("## Alarms", 1)[1].split("##", 1)[0]
        await pilot.press("q")
