"""The command palette of the run's screen."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

ACTIONS = (("Run the selected step", "run"), ("Mark the selected step done", "mark_done"),
           ("Skip the selected step", "skip"), ("Defer the selected step", "defer"),
           ("Mark the selected step done without evidence", "override"),
           ("Acknowledge (evidence that no longer holds, or the run's alarms)", "acknowledge"),
           ("Cancel the running command", "cancel_step"), ("Export the report and printable checklist", "export"))


class StepCommands(Provider):
    """Every action on the selected step, jumping to any step, then Textual's own commands.
    One provider, so the runbook's entries always come first (with several, the order is
    whichever answers first)."""

    def _entries(self) -> list[tuple[str, Callable[[], object]]]:
        from runbook_tui.ui.run_screen import RunScreen

        run = self.screen
        assert isinstance(run, RunScreen)
        app = run.app  # the provider's own, typed as the runbook app's
        entries: list[tuple[str, Callable[[], object]]] = []
        open_ones = run.engine.procedures.open_ones()
        if open_ones:  # first while a procedure the room queued is open: what to do now
            from runbook_tui.ui.procedure_actions import open_procedure

            entries += [(f"Open the non-normal procedure: {p.title}", partial(open_procedure, run, p.id)) for p in open_ones]
            entries.append(("Dismiss the open non-normal procedure (with a reason)", partial(run.action_step, "dismiss_procedure")))
        entries += [(text, partial(run.action_step, kind)) for text, kind in ACTIONS]
        entries += [("Floor view: the run on a phone at the room", run.action_floor),
                    ("Pause / resume MQTT traffic", run.action_pause), ("Help: keys", app.action_help)]
        engine = run.engine
        for step in engine.applicable_steps():
            entries.append((f"Go to step: {engine.preview(step.id).title}", partial(run.goto_step, step.id)))
        # Theme, keys, screenshot, maximize, quit (the app's quit asks first while a command runs).
        entries += [(command.title, command.callback) for command in app.get_system_commands(run) if command.discover]
        return entries

    async def discover(self) -> Hits:
        # Shown before anything is typed: an operator who opens the palette sees what it offers.
        for text, callback in self._entries():
            yield DiscoveryHit(text, callback)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=None)
