"""The selected step: the runbook's words, exactly what running it does, its state and
evidence, and its live output."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Log, Static

from runbook_tui.checklist.conditions import CONDITIONS
from runbook_tui.checklist.kinds import Risk, StepType, substitute
from runbook_tui.engine.states import StepState
from runbook_tui.observe.payloads import safe_text
from runbook_tui.ui.checklist_view import look

if TYPE_CHECKING:
    from runbook_tui.checklist.model import Step
    from runbook_tui.engine.events import ActionPreview, Lapse, StepStatus
    from runbook_tui.engine.replay import RoomConfirmation

OUTPUT_LINES = 500

HINTS = {
    StepType.CONFIRM: "open loop: [b]d[/b] marks it done on your word",
    StepType.CHOICE: "[b]r[/b] chooses",
    StepType.COMMAND: "[b]r[/b] runs it (you confirm first)",
    StepType.ENV_EDIT: "[b]r[/b] edits the file (you confirm first)",
    StepType.WAIT: "closed loop: turns done by itself when sensed; [b]r[/b] waits for it",
    StepType.DISPATCH_SMOKE: "[b]r[/b] sends one dispatch and follows it",
}


def action_text(preview: ActionPreview, indent: str = "", guard_note: str = "checked when it runs") -> Text:
    """Exactly what running a step does and touches: the step pane and the confirmation share it."""
    body = Text()
    if preview.earlier_open:
        more = len(preview.earlier_open) - 3
        shown = "; ".join(preview.earlier_open[:3]) + (f"; and {more} more" if more > 0 else "")
        body.append(f"{indent}out of order: not done yet before it: {shown}\n", style="bold yellow")
    for line in preview.lines:
        body.append(f"{indent}{line}\n", style="bold cyan")
    for affected in preview.affects:
        body.append(f"{indent}affects: {affected}\n", style="yellow")
    for guard in preview.guards:
        body.append(f"{indent}guard: {guard} ({CONDITIONS[guard]}), {guard_note}\n")
    return body


class StepView(Vertical):
    BORDER_TITLE = "Step"

    def __init__(self, *, output_later: bool = False, **kwargs) -> None:
        """output_later: the output log is mounted by mount_output() (after the app's first
        frame: it has no output to show before a step is, and it costs the frame)."""
        super().__init__(**kwargs)
        self.output_later = output_later
        self.outputs: dict[str, deque[str]] = {}
        self.shown: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="step-info"):
            yield Static(id="step-text")
        if not self.output_later:
            yield self._output_log()

    @staticmethod
    def _output_log() -> Log:
        return Log(id="step-output", max_lines=OUTPUT_LINES, auto_scroll=True)

    async def mount_output(self) -> None:
        if not self.query("#step-output"):
            await self.mount(self._output_log())

    def show(self, step: Step, status: StepStatus, preview: ActionPreview, values: dict[str, str], applies: bool,
             lapse: Lapse | None = None, at_room: RoomConfirmation | None = None) -> None:
        icon, style = look(status, lapse)
        body = Text()
        body.append(preview.title + "\n", style="bold")
        kind = f"{step.type.value}" + (f" · {step.risk.value}: type the room id to confirm" if step.risk is not Risk.NORMAL else "")
        body.append(kind + "\n", style="bold red" if step.risk is not Risk.NORMAL else "dim")
        body.append(f"{icon} {status.state.value}", style=style or "bold")
        if status.reason:
            body.append(f": {status.reason}")
        body.append("\n")
        if lapse is not None and status.state is StepState.DONE:
            since = time.strftime("%H:%M:%S", time.localtime(lapse.since))
            done_at = time.strftime("%H:%M:%S", time.localtime(status.finished)) if status.finished else "?"
            body.append(f"done at {done_at}, no longer holds since {since}: {lapse.detail}\n", style=style)
            body.append(f"acknowledged: {lapse.acknowledged}\n" if lapse.acknowledged else
                        "r runs it again; a acknowledges it with a reason (the run stays open until one or the other)\n",
                        style="yellow" if lapse.acknowledged else "bold")
        if not applies:
            body.append("Not used with the current choice.\n", style="dim")
        if step.confirm_at_room:
            if at_room is not None:
                at = time.strftime("%H:%M:%S", time.localtime(at_room.at))
                body.append(f"Confirmed at the room by {at_room.name} at {at}", style="green")
                body.append("" if status.state is StepState.DONE else ": d confirms it as the operator", style="bold")
                body.append("\n")
            elif status.state not in (StepState.DONE, StepState.SKIPPED, StepState.OVERRIDDEN):
                body.append("Waits for the person at the room: they confirm it in the floor view (w), by name.\n",
                            style="bold yellow")
        if step.text:
            body.append("\n" + substitute(step.text, values) + "\n")
        body.append("\nRuns:\n", style="bold")
        body.append_text(action_text(preview, "  "))
        if step.done_when:
            body.append(f"  done when sensed: {step.done_when} ({CONDITIONS[step.done_when]})\n")
        if status.evidence:
            body.append("\nEvidence:\n", style="bold")
            for line in status.evidence:
                body.append(f"  {line}\n", style="green" if status.state is StepState.DONE and lapse is None else "")
        body.append("\n")
        body.append(Text.from_markup(HINTS[step.type], style="dim"))
        self.query_one("#step-text", Static).update(body)
        if self.shown != step.id:
            self.shown = step.id
            log = self.query_one("#step-output", Log)
            log.clear()
            log.write_lines(list(self.outputs.get(step.id, ())))

    def add_output(self, step_id: str, line: str) -> None:
        line = safe_text(line, 4000)  # command output is text from outside: no control codes reach the terminal
        self.outputs.setdefault(step_id, deque(maxlen=OUTPUT_LINES)).append(line)
        if step_id == self.shown:
            self.query_one("#step-output", Log).write_line(line)
