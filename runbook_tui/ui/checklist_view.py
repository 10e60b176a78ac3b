"""The checklist pane: sections and steps with their states, as a tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from runbook_tui.checklist.kinds import Risk, substitute
from runbook_tui.engine.states import StepState

if TYPE_CHECKING:  # the first frame draws the tree before the model and the engine load
    from runbook_tui.checklist.model import Checklist, Procedure, Step
    from runbook_tui.engine.events import Lapse, ProcedureStatus, StepStatus

# Icon and style per state; the words stay on screen too, so colour is never the only cue.
STATE_LOOK = {
    StepState.PENDING: ("○", ""),
    StepState.RUNNING: ("▶", "bold yellow"),
    StepState.DONE: ("✓", "green"),
    StepState.FAILED: ("✗", "bold red"),
    StepState.SKIPPED: ("↷", "dim"),
    StepState.DEFERRED: ("⏸", "magenta"),
    StepState.OVERRIDDEN: ("!", "bold magenta"),
}
LAPSED_LOOK = ("⚠", "bold red")  # done on evidence that no longer holds
LAPSE_ACKNOWLEDGED_LOOK = ("✓", "yellow")


def look(status: StepStatus, lapse: Lapse | None) -> tuple[str, str]:
    if lapse is not None and status.state is StepState.DONE:
        return LAPSE_ACKNOWLEDGED_LOOK if lapse.acknowledged else LAPSED_LOOK
    return STATE_LOOK[status.state]


def step_label(step: Step, status: StepStatus, applies: bool, values: dict[str, str], number: int | str | None,
               lapse: Lapse | None = None) -> Text:
    title = substitute(step.title, values)
    if not applies:
        return Text(f"  – {title} (not used)", style="dim strike")
    icon, style = look(status, lapse)
    label = Text()
    label.append(f"{icon} ", style=style)
    label.append(f"{number}. " if number else "")
    if lapse is not None and status.state is StepState.DONE and not lapse.acknowledged:
        label.append("NO LONGER HOLDS: ", style=style)  # before the title: a narrow pane cuts the end off
    label.append(title)
    if step.risk is not Risk.NORMAL:
        label.append(f" [{step.risk.value}]", style="bold red")
    if step.optional:
        label.append(" (optional)", style="dim")
    if step.confirm_at_room:
        label.append(" (at the room)", style="bold yellow")
    if status.state not in (StepState.PENDING, StepState.DONE):
        label.append(f"  {status.state.value}", style=style or "dim")
    elif lapse is not None and status.state is StepState.DONE and lapse.acknowledged:
        label.append("  (acknowledged: no longer holds)", style=style)
    return label


def procedure_label(procedure: Procedure, status: ProcedureStatus, values: dict[str, str]) -> Text:
    """A non-normal procedure's section: what it is and where it stands, before its title (a narrow pane cuts the end)."""
    if status.worked_at is not None:
        state, style = "worked", "bold green"
    elif status.dismissed_at is not None:
        state, style = "dismissed", "bold magenta"
    elif status.opened_at is None:  # queued again after it was worked: its steps to work anew
        state, style = "QUEUED", "bold white on red"
    else:
        state, style = "OPEN", "bold white on red"
    label = Text()
    label.append(f" NON-NORMAL {state} ", style=style)
    label.append(" " + substitute(procedure.title, values), style="bold")
    return label


class ChecklistView(Tree[str]):
    """Steps under their sections; node data is the step id (None for a section)."""

    BORDER_TITLE = "Checklist"
    BINDINGS = [  # the help screen and the README promise vi keys beside the arrows
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        # Enter on a step runs it (the app's confirmation first), as the footer and help say; the
        # tree's own Enter would only select it. On a section heading it folds or unfolds.
        Binding("enter", "enter", "Run", show=False),
    ]

    async def action_enter(self) -> None:
        node = self.cursor_node
        if node is not None and node.data is not None:
            await self.run_action("screen.step('run')")  # the run's screen asks, then runs it
        else:
            self.action_select_cursor()

    def __init__(self, **kwargs) -> None:
        super().__init__("checklist", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._step_nodes: dict[str, TreeNode[str]] = {}
        self.numbers: dict[str, int] = {}  # step id -> the number the operator sees
        # Non-normal procedures opened in this run, each a section at the top, its steps N1, N2, ...
        self.procedure_nodes: dict[str, TreeNode[str]] = {}
        self.procedure_numbers: dict[str, str] = {}  # a procedure's step id -> "N1"

    def load(self, checklist: Checklist, statuses: dict[str, StepStatus], choices: dict[str, str],
             values: dict[str, str], lapses: dict[str, Lapse] | None = None) -> None:
        self.clear()
        self._step_nodes.clear()
        self.procedure_nodes.clear()
        self.procedure_numbers.clear()
        for section in checklist.sections:
            node = self.root.add(Text(substitute(section.title, values), style="bold"), data=None, expand=True)
            for step in section.steps:
                self._step_nodes[step.id] = node.add_leaf("", data=step.id)
        self.refresh_steps(checklist, statuses, choices, values, lapses)

    def refresh_steps(self, checklist: Checklist, statuses: dict[str, StepStatus], choices: dict[str, str],
                      values: dict[str, str], lapses: dict[str, Lapse] | None = None) -> None:
        number = 0
        self.numbers.clear()
        for step in checklist.steps():
            applies = step.applies(choices)
            if applies:
                number += 1
                self.numbers[step.id] = number
            node = self._step_nodes.get(step.id)
            if node is not None:
                node.set_label(step_label(step, statuses[step.id], applies, values, number if applies else None,
                                          (lapses or {}).get(step.id)))
        for procedure_id in self.procedure_nodes:
            for step in checklist.procedure(procedure_id).steps:
                self._step_nodes[step.id].set_label(step_label(step, statuses[step.id], step.applies(choices), values,
                                                               self.procedure_numbers[step.id], (lapses or {}).get(step.id)))

    def show_procedure(self, procedure: Procedure, status: ProcedureStatus, values: dict[str, str], letter: str) -> None:
        """The procedure as a section of its own, above the checklist's (the newest first), its
        steps numbered with its letter as on paper (A1, A2, ...); their labels come with the next
        refresh_steps."""
        node = self.procedure_nodes.get(procedure.id)
        if node is None:
            node = self.root.add("", data=None, expand=True, before=0)
            for index, step in enumerate(procedure.steps, 1):
                self._step_nodes[step.id] = node.add_leaf("", data=step.id)
                self.procedure_numbers[step.id] = f"{letter}{index}"
            self.procedure_nodes[procedure.id] = node
        node.set_label(procedure_label(procedure, status, values))

    def select_step(self, step_id: str) -> None:
        node = self._step_nodes.get(step_id)
        if node is not None:
            # The tree numbers its lines anew when idle; nodes just added (a procedure's section,
            # put on top) have no line, or a stale one, until then. Reading last_line numbers
            # them now. Seen in a lab run: `n` opened the procedure and the cursor stayed put.
            _ = self.last_line
            self.move_cursor(node)

    @property
    def selected_step(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None else None
