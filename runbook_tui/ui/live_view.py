"""The live panel: containers of both stacks, DNS answers, MQTT traffic, dispatch flows."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Log, Static, TabbedContent, TabPane, Tabs

from runbook_tui.observe.payloads import render_payload, render_topic, safe_text
from runbook_tui.stacks import project_name

if TYPE_CHECKING:  # what the probes report; the first frame, which says "connecting", needs none of it
    from runbook_tui.observe.model import CoreStatus, DnsSnapshot, StackSnapshot
    from runbook_tui.probes.mqtt_model import MqttBatch, MqttSnapshot

TRAFFIC_LINES = 2000
STATE_STYLE = {"running": "green", "exited": "red", "restarting": "bold red", "absent": "dim"}
CLASS_STYLE = {"primary": "cyan", "standby": "magenta", "timeout": "bold red", "NXDOMAIN": "red",
               "unknown address": "bold red", "error": "bold red"}


FLAG_NAMES = {"CORE_DISPATCH_ENABLED": "dispatch", "CORE_CRITICAL_ARMED": "armed"}


def _flags(pairs: tuple[tuple[str, bool], ...]) -> str:
    # Always in one order (dispatch, then armed), whatever order the container or .env gave.
    ordered = sorted(pairs, key=lambda kv: list(FLAG_NAMES).index(kv[0]) if kv[0] in FLAG_NAMES else len(FLAG_NAMES))
    return " ".join(f"{FLAG_NAMES.get(k, k)}={'on' if v else 'off'}" for k, v in ordered)


RESULT_WIDTH = 34
FLOW_COLUMNS = ("id", "device", "action", "result", "ack ms", "complete ms", "seen", "via")
CRASH_LOOP_RESTARTS = 3  # restarts of a running container that count as a loop, not a blip


def _result_style(result: str | None) -> str:
    if result is None:
        return "dim"
    return "green" if result.split(":")[0].strip() == "complete" else "bold red"


def _short_id(request_id: str) -> str:
    # Ids often share a prefix (flow-test-0001, flow-test-0002): keep both ends.
    return request_id if len(request_id) <= 12 else f"{request_id[:5]}…{request_id[-6:]}"


CONTAINER_COLUMNS = ("stack", "service", "state", "flags", "restarts", "health", "started")


def _fill(table: DataTable, columns: tuple[str, ...], rows: list[list[Text]]) -> None:
    """The table anew, each column as wide as what it now holds, given with the rows. Left to the
    table, the width followed the rows a moment later, and CI once saw cells drawn in the old
    width ("timeou" for a timeout in Flows, "exite" in Containers) and never drawn again."""
    table.clear(columns=True)
    for n, label in enumerate(columns):
        table.add_column(label, width=max([len(label)] + [row[n].cell_len for row in rows]))
    for row in rows:
        table.add_row(*row)


def _cells(*values: str | Text) -> list[Text]:
    """Table cells as Text: a plain str cell is read as markup, and ids, devices and actions come
    from whoever publishes on the broker ("[/]" in a device name would end the app)."""
    return [v if isinstance(v, Text) else Text(v) for v in values]


def _core_line(role: str, status: CoreStatus | None, not_own: str = "") -> Text:
    """What the broker's core says of itself in its retained status (its will says offline); a
    status of another room or stack (`not_own`, from CoreStatus.not_own) is shown as that, never
    as this core online or dispatching."""
    line = Text(f"  {role} core: ")
    if status is None:
        line.append("no status", style="dim")
    elif not_own:
        line.append(f"MISMATCH: {not_own}", style="bold yellow")
    elif not status.readable:
        # Shown as what arrived (sanitised at the boundary), never as the previous status.
        line.append(f"status unreadable ({status.problem}): {status.raw}", style="bold yellow")
    elif not status.online:
        line.append("offline", style="bold red")
    else:
        line.append("online, ")
        line.append(f"dispatch {'on' if status.dispatch_enabled else 'off'}", style="bold" if status.dispatch_enabled else "")
        armed = {True: "on", False: "off", None: "?"}[status.critical_armed]
        line.append(f", armed {armed}, version {status.version or '?'}")
    return line


class FilterInput(Input):
    """The MQTT topic filter's box. Esc leaves it as the hint says, keeping the filter as it was
    (an Input does not take Esc by itself, so it would otherwise keep the keys: q typed into it)."""

    BINDINGS = [Binding("escape", "leave", "Leave the filter", show=False)]

    def action_leave(self) -> None:
        self.display = False
        self.screen.query_one("#traffic", Log).focus()


class LiveView(Vertical):
    BORDER_TITLE = "Live"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stacks: dict[str, StackSnapshot] = {}
        self.paused = False
        self.filter = ""
        self.held = 0  # messages not shown while paused (they are counted by the probe)
        self.mqtt: MqttSnapshot | None = None
        self.room: str | None = None  # the room whose cores' statuses count (the app's session's)
        self._shown_flows: tuple = ()
        self.recent: deque[tuple[str, str]] = deque(maxlen=TRAFFIC_LINES)  # (topic, line): what a new filter re-reads

    def compose(self) -> ComposeResult:
        with TabbedContent(id="live-tabs"):
            with TabPane("Containers", id="tab-containers"):
                yield Static(id="containers-note")
                yield DataTable(id="containers", cursor_type="row", zebra_stripes=True)
            with TabPane("DNS", id="tab-dns"):
                yield Static(id="dns-note")
                yield DataTable(id="dns", cursor_type="row")
            with TabPane("MQTT", id="tab-mqtt"):
                yield Static(id="mqtt-note")
                yield FilterInput(placeholder="filter topics (substring); Enter applies, Esc leaves", id="mqtt-filter")
                yield Log(id="traffic", max_lines=TRAFFIC_LINES, auto_scroll=True)
            with TabPane("Flows", id="tab-flows"):
                yield DataTable(id="flows", cursor_type="row")

    def on_mount(self) -> None:
        self.room = getattr(getattr(self.app, "session", None), "room", None)
        self.query_one("#containers", DataTable).add_columns(*CONTAINER_COLUMNS)
        self.query_one("#dns", DataTable).add_columns("resolver", "answer", "points at", "TTL", "time")
        self.query_one("#flows", DataTable).add_columns(*FLOW_COLUMNS)
        self.query_one("#mqtt-filter", Input).display = False
        self.query_one("#containers-note", Static).update("waiting for Docker…")
        self.query_one("#dns-note", Static).update("waiting for the first DNS poll…")
        self.query_one("#mqtt-note", Static).update("connecting to the brokers…")

    # ---- containers ----------------------------------------------------------------------
    def update_containers(self, snapshot: StackSnapshot) -> None:
        self.stacks[snapshot.role] = snapshot
        rows: list[list[Text]] = []
        notes = []
        for role in ("primary", "standby"):
            snap = self.stacks.get(role)
            if snap is None:
                continue
            if not snap.connected:
                since = time.strftime("%H:%M:%S", time.localtime(snap.unreachable_since or snap.at))
                # Never reached, it has shown nothing: that is not "no containers" (seen: a standby
                # with three running containers shown as none, under "the last known state").
                known = "showing the last state seen there" if snap.seen else "nothing seen on it yet"
                engine = snap.engine or "this machine's default"
                notes.append(Text(f"{snap.project}: its Docker engine {engine} unreachable since {since} ({snap.error}); "
                                  f"{known}", style="bold red"))
            if not snap.services:
                what = Text("no containers", style="dim") if snap.seen else Text("not seen (engine unreachable)",
                                                                                  style="bold red")
                rows.append(_cells(role, "—", what, ".env: " + _flags(snap.env_flags), "", "", ""))
            for s in snap.services:
                # The stack by its role (the header names the room), and the columns in order of what
                # a promotion turns on: state, then the dispatch flags (dual control), then a crash
                # loop's restarts. A narrow panel cuts the right off.
                rows.append(_cells(role, s.service, Text(s.state, style=STATE_STYLE.get(s.state, "")),
                                   _flags(s.flags), str(s.restart_count), s.health or "",
                                   s.started_at[11:19] if s.started_at else ""))
                if s.state == "restarting" or (s.restart_count >= CRASH_LOOP_RESTARTS and s.state != "exited"):
                    # A crash loop comes back by itself: the table's "restarting" alone is easy to miss.
                    notes.append(Text(f"{role} {s.service} is crash-looping ({s.restart_count} restarts, now {s.state}): "
                                      "it comes back by itself", style="bold red"))
            if snap.not_recreated:
                # Said as far as it can be told: a value exported where compose ran is not the .env's doing.
                from runbook_tui.rules.conditions import env_differs_cause

                core = snap.service("sentient-core")
                cause = env_differs_cause(core.started_at if core else "", snap.env_mtime)
                for line in snap.not_recreated:
                    notes.append(Text(f"{snap.project}: running core differs from its .env: {line}; {cause}",
                                      style="bold yellow"))
        _fill(self.query_one("#containers", DataTable), CONTAINER_COLUMNS, rows)
        lost = self._primary_host_lost()
        if lost:
            notes.insert(0, Text(f"PRIMARY HOST UNREACHABLE: {lost}. A host that cannot be reached may still reach "
                                 "the controllers: have it cut off (the checklist's fence steps) before going on.",
                                 style="bold red"))
        primary, standby = self.stacks.get("primary"), self.stacks.get("standby")
        if primary is not None and standby is not None and primary.shared and standby.shared:
            from runbook_tui.stacks import drift

            differing = drift(primary.shared, standby.shared)
            if differing:
                # The values are the .env files' own text: anything may be in them.
                notes.append(Text("the stacks' .env files differ (runbook 5): " + safe_text("; ".join(differing), 4000),
                                  style="bold yellow"))
        self.query_one("#containers-note", Static).update(
            Text("\n").join(notes) if notes else
            Text(time.strftime("last change %H:%M:%S (Docker's events, followed live)"), style="dim"))

    # ---- DNS ---------------------------------------------------------------------------
    def update_dns(self, snapshot: DnsSnapshot) -> None:
        table = self.query_one("#dns", DataTable)
        table.clear()
        for a in snapshot.answers:
            table.add_row(*_cells(a.resolver, ", ".join(a.addresses) or a.detail or "—",
                                  Text(a.classification, style=CLASS_STYLE.get(a.classification, "")),
                                  "" if a.ttl is None else f"{a.ttl}s", "" if a.rtt_ms is None else f"{a.rtt_ms:.0f} ms"))
        summary = Text(f"{snapshot.name}: ")
        if snapshot.disagreement:
            summary.append("RESOLVERS DISAGREE (split horizon?)", style="bold red")
        else:
            summary.append(snapshot.classification, style=CLASS_STYLE.get(snapshot.classification, "bold"))
        summary.append(f"   poll {snapshot.poll} at {time.strftime('%H:%M:%S', time.localtime(snapshot.at))}", style="dim")
        self.query_one("#dns-note", Static).update(summary)

    # ---- MQTT ----------------------------------------------------------------------------
    def _primary_host_lost(self) -> str:
        """Neither the primary's engine nor its broker answers (the rules' primary_host_unreachable,
        as this panel sees it): said on the Containers tab, where a lost engine shows first."""
        stack = self.stacks.get("primary")
        broker = next((b for b in self.mqtt.brokers if b.role == "primary"), None) if self.mqtt is not None else None
        if stack is None or stack.connected or broker is None or broker.connected or broker.error is None:
            return ""
        return (f"neither its engine {stack.engine or 'on this machine'} nor its broker {broker.endpoint} answers "
                f"({broker.error})")

    def update_mqtt(self, batch: MqttBatch) -> None:
        lost_before = self._primary_host_lost()
        self.mqtt = batch.snapshot
        if self._primary_host_lost() != lost_before and "primary" in self.stacks:
            self.update_containers(self.stacks["primary"])  # the Containers tab says the host's state anew
        if self.paused:
            self.held += len(batch.messages) + batch.dropped
        else:
            lines = []
            for m in batch.messages:
                payload = render_payload(m.payload, 160, one_line=True)
                line = (f"{time.strftime('%H:%M:%S', time.localtime(m.at))} {m.broker[:3]} "
                        f"{'R ' if m.retained else ''}{render_topic(m.topic, 80)}  {payload}")
                self.recent.append((m.topic, line))
                if not self.filter or self.filter in m.topic:
                    lines.append(line)
            if batch.dropped:
                lines.append(f"… {batch.dropped} more messages in this instant (counted, not shown)")
            if lines:
                self.query_one("#traffic", Log).write_lines(lines)
        self._mqtt_note()
        self._flows(batch.snapshot)

    def _mqtt_note(self) -> None:
        snap = self.mqtt
        lines: list[Text] = []
        if snap is not None:
            cores = dict(snap.core_status)
            not_own = {role: self._not_own(role, c) for role, c in cores.items()}
            for b in snap.brokers:
                line = Text(f"{b.role} {b.endpoint}: ", style="bold")
                line.append("connected" if b.connected else (b.error or "down"), style="green" if b.connected else "bold red")
                line.append(f", {b.received} message{'' if b.received == 1 else 's'}")
                if b.broker_dropped:
                    line.append(f"; the broker DROPPED {b.broker_dropped} for a subscriber that fell behind "
                                "(if it was this probe, counts and flows here miss them)", style="bold yellow")
                lines += [line, _core_line(b.role, cores.get(b.role), not_own.get(b.role, ""))]
            versions = {role: c.version for role, c in cores.items() if c.readable and c.version and not not_own[role]}
            if len(set(versions.values())) > 1:
                lines.append(Text("CORES DIFFER: " + " vs ".join(f"{v} ({r})" for r, v in sorted(versions.items())) +
                                  " (runbook 5: keep the standby current)", style="bold yellow"))
            rates = sorted(snap.topic_counts, key=lambda c: -c[3])[:3]
            if rates and rates[0][3] > 0:
                lines.append(Text("busiest: " + ", ".join(f"{render_topic(t, 30)} {r:.0f}/s" for _b, t, _n, r in rates if r > 0)))
        if self.paused:
            lines.append(Text(f"PAUSED: {self.held} messages arrived and were counted, not shown; p resumes", style="bold yellow"))
        if self.filter:
            lines.append(Text(f"filter: {self.filter}", style="cyan"))
        self.query_one("#mqtt-note", Static).update(Text("\n").join(lines))

    def _not_own(self, role: str, status: CoreStatus) -> str:
        """Why `status` is not `role`'s own core's, by the rules' one decision ("" when it is, or
        when the room is not known here)."""
        if self.room is None:
            return ""
        stack = self.stacks.get(role)
        return status.not_own(self.room, role, stack.project if stack is not None else project_name(self.room, role, {}))

    def _flows(self, snap: MqttSnapshot) -> None:
        if snap.flows == self._shown_flows:
            return  # rebuilding the table costs; a flood of other traffic leaves the flows as they were
        self._shown_flows = snap.flows
        rows = []
        for f in reversed(snap.flows[-50:]):
            stages = " ".join(s for s, _r, _t in f.seen)
            ack, complete = f.latency_ms("ack"), f.latency_ms("complete")
            # The verdict before the details: a narrow panel cuts the right-hand columns off.
            result = f.result or "…"
            result = result if len(result) <= RESULT_WIDTH else result[:RESULT_WIDTH - 1] + "…"
            rows.append(_cells(_short_id(f.id), f.device or "", f.action or "", Text(result, style=_result_style(f.result)),
                               "" if ack is None else f"{ack:.0f}", "" if complete is None else f"{complete:.0f}", stages,
                               "+".join(f.brokers())))
        _fill(self.query_one("#flows", DataTable), FLOW_COLUMNS, rows)

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        if not self.paused:
            if self.held:
                self.query_one("#traffic", Log).write_line(f"… resumed; {self.held} messages arrived while paused")
            self.held = 0
        self._mqtt_note()
        return self.paused

    def focus_tabs(self) -> None:
        """The tab strip takes the keys (left and right change tabs). The tabbed container
        cannot hold focus: focusing it left the keys nowhere. Not a table in a tab: a focus
        inside a tab makes that tab active a message later, undoing a `]` pressed just after."""
        self.query_one(TabbedContent).query_one(Tabs).focus()

    def open_filter(self) -> None:
        self.query_one(TabbedContent).active = "tab-mqtt"
        box = self.query_one("#mqtt-filter", Input)
        box.display = True
        box.value = self.filter
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "mqtt-filter":
            self.filter = event.value.strip()
            event.input.display = False
            # The filter applies to what is already on screen too, from the lines kept for it.
            log = self.query_one("#traffic", Log)
            log.clear()
            log.write_lines([line for topic, line in self.recent if not self.filter or self.filter in topic])
            self._mqtt_note()
            event.stop()
