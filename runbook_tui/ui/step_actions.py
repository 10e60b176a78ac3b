"""What each key does to the selected step, one worker coroutine each.

A worker asks its questions in order (`push_screen_wait`), then acts on the engine; an answer
of None (Esc) ends it with nothing done. The step's own run is a worker of its own, so that
the screen takes other keys (x cancels) while it runs; a guard that refuses it asks again
from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from runbook_tui.checklist.kinds import StepType
from runbook_tui.engine.events import EngineRefusal, GuardRefused, StepStatus
from runbook_tui.engine.states import StepState
from runbook_tui.ui import dialogs, procedure_actions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from runbook_tui.checklist.model import Step
    from runbook_tui.ui.run_screen import RunScreen


async def ask(screen: RunScreen, dialog):
    """The dialog's answer (None: dismissed). The screen takes no second step action meanwhile."""
    before, screen.asking = screen.asking, True
    try:
        return await screen.app.push_screen_wait(dialog)
    finally:
        screen.asking = before


def selected_step(screen: RunScreen) -> Step | None:
    step_id = screen.selected
    if step_id is None:
        screen.say("Select a step first (a section heading is not a step).", severity="warning")
        return None
    engine = screen.engine
    step = engine.checklist.step(step_id)
    if not step.applies(engine.choices):
        # Said before any dialog (seen: "Mark done" offered on a step the choice left out, which the
        # engine then refused): a step not used has nothing to run, mark, skip or override.
        chosen = ", ".join(f"{c}={engine.choices.get(c, 'not chosen')}" for c, _allowed in step.when)
        screen.say(f"{screen.step_name(step_id)} is not used with {chosen}: nothing to do on it.", severity="warning")
        return None
    return step


async def run(screen: RunScreen) -> None:
    engine = screen.engine
    step = selected_step(screen)
    if step is None:
        return
    if engine.running_step:
        if engine.checklist.step(engine.running_step).type is StepType.WAIT:
            # A wait runs nothing: cancelled, it is still watched and ticks once its condition holds.
            # Seen on a site walk: the resolvers' wait (which dual control kept from holding) held
            # the dual-control step back, and the words did not say that cancelling loses nothing.
            screen.say(f"{screen.step_name(engine.running_step)} is waiting for the room. x cancels the wait (it "
                       "still ticks when its condition holds); then run this step.", severity="warning")
        else:
            screen.say(f"{screen.step_name(engine.running_step)} is running: wait for it, or press x to cancel it.",
                       severity="warning")
        return
    if step.type is StepType.CHOICE:
        await choose(screen, step)
        return
    if step.confirm_at_room and step.id not in engine.room_confirmations:
        # Said before any dialog: the operator's confirmation comes after the room's.
        screen.say(f"{screen.step_name(step.id)} is confirmed by the person at the room first: they confirm it in "
                   "the floor view (w shows its link). Or o overrides it, with a reason.", severity="warning", timeout=10)
        return
    preview = engine.preview(step.id)
    if preview.unset:
        screen.say(f"{screen.step_name(step.id)} needs {', '.join(preview.unset)}, which is not set on this site: "
                   "set it in the settings' [variables] or with --var NAME=VALUE.", severity="error", timeout=12)
        return
    verb = "Mark done" if step.type is StepType.CONFIRM else "Run"
    before = engine.status(step.id)
    answer = await ask(screen, dialogs.ConfirmRun(preview, screen.session.room, verb))
    if answer is None:
        return
    if decided_meanwhile(screen, step.id, before):
        return
    if step.type is StepType.CONFIRM:
        if refused(screen, lambda: engine.mark_done(step.id, confirmed=True, typed_room=answer.typed_room)):
            return
        screen.select_next(step.id)
        return
    screen.run_worker(run_confirmed(screen, step.id, answer.typed_room, answer.override_reason), group="step",
                      exit_on_error=False, description="run the selected step")


def decided_meanwhile(screen: RunScreen, step_id: str, before: StepStatus) -> bool:
    """The step turned done (or was decided) while its confirmation was open: the operator
    confirmed a step that was still to do, and it is no longer. Said, and not run: a wait would be
    recorded done a second time, a command run on a room that has moved on (seen in a lab run:
    the room's evidence ticked the procedure's wait while the operator typed the room id)."""
    now = screen.engine.status(step_id)
    if now == before or now.state not in (StepState.DONE, StepState.OVERRIDDEN, StepState.SKIPPED, StepState.DEFERRED):
        return False
    why = f" ({now.reason})" if now.reason else ""
    screen.say(f"{screen.step_name(step_id)} turned {now.state.value} while you were confirming{why}: not run. "
               "r runs it again if you still mean to.", severity="warning", timeout=12)
    return True


async def run_confirmed(screen: RunScreen, step_id: str, typed_room: str | None, override_reason: str | None) -> None:
    """The step, confirmed: run; a guard that refuses it offers to run it despite the guard."""
    engine = screen.engine
    screen.last_run = step_id
    while True:
        try:
            status = await engine.run_step(step_id, confirmed=True, typed_room=typed_room, override_reason=override_reason)
            break
        except GuardRefused as guard:
            screen.set_banner("guard", f"GUARD REFUSED {screen.step_name(step_id)}: "
                              + "; ".join(f.detail for f in guard.failures))
            consequences = guard.consequences()
            title = engine.preview(step_id).title
            before = engine.status(step_id)
            if await ask(screen, dialogs.GuardRefusedDialog(title, guard.failures, screen.session.room, consequences)) \
                    != "override":
                return
            detail = Text("The step will run although its guard does not hold. This is recorded.\n")
            for c in consequences:
                detail.append(f"It risks: {c}\n", style="bold red")
            answer = await ask(screen, dialogs.AskReason(f"Run despite the guard: {screen.step_name(step_id)}",
                                                         screen.session.room, needs_room=True, detail=detail,
                                                         what="running it despite the guard"))
            if answer is None or decided_meanwhile(screen, step_id, before):
                return
            screen.set_banner("guard", None)  # the refusal is answered: the step runs, recorded as overridden
            typed_room, override_reason = answer.typed_room, answer.override_reason
        except EngineRefusal as exc:
            screen.say(str(exc), severity="error")
            return
    if status.state in (StepState.DONE, StepState.OVERRIDDEN):
        screen.set_banner("guard", None)
        screen.select_next(step_id)


async def choose(screen: RunScreen, step: Step) -> None:
    engine = screen.engine
    assert step.choice is not None  # a choice step names its choice (the loader refuses one that does not)
    choice = engine.checklist.choices[step.choice]
    option = await ask(screen, dialogs.ChooseOption(choice, engine.choices[choice.id]))
    if option is None or refused(screen, lambda: engine.choose(choice.id, option), timeout=15):
        return
    if screen.selected is not None:
        screen.select_next(screen.selected)
    warning = choice.options[option].warning
    if warning:
        from runbook_tui.checklist.kinds import substitute

        screen.say(substitute(warning, engine.values), severity="warning", timeout=15)
    screen.refresh_tree()


async def mark_done(screen: RunScreen) -> None:
    step = selected_step(screen)
    if step is None:
        return
    if step.type is not StepType.CONFIRM:
        screen.say(f"{screen.step_name(step.id)} turns done by running it or on sensed evidence; "
                   "o overrides it if you must.", severity="warning")
        return
    await run(screen)


async def reasoned(screen: RunScreen, kind: str) -> None:
    """Skip, defer or override (mark done without evidence): each with a reason, an override with the room id."""
    engine = screen.engine
    step = selected_step(screen)
    if step is None:
        return
    titles = {"skip": "Skip", "defer": "Defer", "override": "Mark done without evidence"}
    detail = ("It counts as passed although nothing was sensed: the report shows it as overridden."
              if kind == "override" else "")
    answer = await ask(screen, dialogs.AskReason(f"{titles[kind]}: {engine.preview(step.id).title}", screen.session.room,
                                                 needs_room=kind == "override", what="marking it done without evidence",
                                                 detail=detail))
    if answer is None:
        return
    record: dict[str, Callable[[], object]] = {
        "skip": lambda: engine.skip(step.id, answer.override_reason),
        "defer": lambda: engine.defer(step.id, answer.override_reason),
        "override": lambda: engine.override(step.id, typed_room=answer.typed_room, reason=answer.override_reason)}
    if not refused(screen, record[kind]):
        screen.select_next(step.id)


async def acknowledge(screen: RunScreen) -> None:
    """The selected step's lapsed evidence (with a reason), else the run's alarms."""
    from runbook_tui.rules.outcome import alarm_words

    engine = screen.engine
    if screen.app.screen is not screen:
        return
    step_id = screen.selected
    lapse = engine.lapses.get(step_id) if step_id else None
    if lapse is None or lapse.acknowledged:
        # The header counts lapses wherever the cursor is: a goes to the first one not yet
        # acknowledged (the dialog names it), not to "nothing to acknowledge".
        open_lapses = [s.id for s in engine.applicable_steps()
                       if (lp := engine.lapses.get(s.id)) is not None and not lp.acknowledged]
        if open_lapses and not engine.alarms_unacknowledged:
            step_id, lapse = open_lapses[0], engine.lapses[open_lapses[0]]
            screen.goto_step(step_id)
    if step_id is not None and lapse is not None and not lapse.acknowledged:
        answer = await ask(screen, dialogs.AskReason(
            f"Acknowledge: {screen.step_name(step_id)} no longer holds", screen.session.room, needs_room=False,
            detail=f"{lapse.condition}: {lapse.detail}\n\nThe run may then end complete without this evidence; "
                   "the report says so."))
        if answer is not None and not refused(screen, lambda: engine.acknowledge_lapse(step_id, answer.override_reason)):
            screen.refresh_tree()
            screen.tick()
        return
    if engine.alarms_unacknowledged:
        said = alarm_words(engine.outcome().alarms, screen.clock())
        answer = await ask(screen, dialogs.AskReason(f"Acknowledge this run's alarm: {said}", screen.session.room,
                                                     needs_room=False, detail="Say what was done about it: the journal "
                                                     "and the report keep it."))
        if answer is not None and not refused(screen, lambda: engine.acknowledge_alarms(answer.override_reason)):
            screen.show_alarms()
            screen.say("Alarm acknowledged (journaled).", timeout=4)
        return
    screen.say("Nothing to acknowledge: no alarm, and the selected step's evidence holds.", timeout=4)


async def cancel_step(screen: RunScreen) -> None:
    engine = screen.engine
    if not engine.running_step:
        screen.say("Nothing is running.")  # reached from the palette; the x key is off while idle
        return
    title = engine.preview(engine.running_step).title
    engine.cancel()
    screen.say(f"Cancelling {title}…", severity="warning")


async def export(screen: RunScreen) -> None:
    if screen.session.blind and not screen.engine.outcome().finished:
        # The report names the drill's fault (its scenario, what was injected, the drill's
        # history): written on the trainee's console mid-drill, it would give the fault away.
        screen.say("A blind drill's report names its fault: e writes it once the run is complete. "
                   "The trainer can write it now with: runbook-tui report " + str(screen.engine.journal.path),
                   title="Not while the drill goes on", severity="warning", timeout=10)
        return
    screen.say("Writing the after-action report and the printable checklist…", timeout=3)
    # Off the screen's thread: a drill report reads every earlier drill's journal.
    screen.run_worker(lambda: write_export(screen), thread=True, exclusive=True, group="export", exit_on_error=False,
                      description="export the report")


def write_export(screen: RunScreen) -> None:
    from runbook_tui.checklist.plan import render_plan
    from runbook_tui.engine.report import render_report
    from runbook_tui.files import write_whole

    engine, session = screen.engine, screen.session
    journal = engine.journal.path
    report = journal.with_name(journal.stem + "-report.md")
    paper = journal.with_name(journal.stem + "-checklist.txt")
    try:
        # Whole or not at all: a report half-written is worse than none.
        write_whole(report, render_report(journal), mode=0o644)
        s = session.settings
        where = str(s.source) if s.source else "none (the training lab)"
        write_whole(paper, render_plan(engine.checklist, session.given, s.stack_root, engine.choices,
                                       lab=s.lab, settings=where, fence_command=engine.config.fence_command),
                    mode=0o644)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        screen.app.call_from_thread(screen.say, f"Export failed: {exc}", severity="error")
        return
    screen.app.call_from_thread(screen.say, f"Wrote {report}\nand {paper}", title="Exported", timeout=10)


def refused(screen: RunScreen, act: Callable[[], object], **kwargs) -> bool:
    """Does the engine refuse it? Then the screen says why (nothing was recorded)."""
    try:
        act()
    except EngineRefusal as exc:
        screen.say(str(exc), severity="error", **kwargs)
        return True
    return False


ACTIONS: dict[str, Callable[[RunScreen], Awaitable[None]]] = {
    "run": run, "mark_done": mark_done, "acknowledge": acknowledge, "cancel_step": cancel_step, "export": export,
    "skip": lambda screen: reasoned(screen, "skip"), "defer": lambda screen: reasoned(screen, "defer"),
    "override": lambda screen: reasoned(screen, "override"),
    "dismiss_procedure": procedure_actions.dismiss}


def start(screen: RunScreen, kind: str) -> None:
    """The key's worker. One that asks sets `asking` now, not when it runs: a second key typed
    before its dialog is up must not open another."""
    act = ACTIONS[kind]
    if kind in ("cancel_step", "export"):  # they ask nothing
        screen.run_worker(act(screen), group="step-action", exit_on_error=False, description=f"{kind} the selected step")
        return
    if screen.asking or screen.app.screen is not screen:
        # A dialog is open, or about to be: a second must not open under it (from the palette,
        # say, or a key typed before the first was drawn).
        return
    screen.asking = True

    async def asking() -> None:
        try:
            await act(screen)
        finally:
            screen.asking = False

    screen.run_worker(asking(), group="step-action", exit_on_error=False, description=f"{kind} the selected step")
