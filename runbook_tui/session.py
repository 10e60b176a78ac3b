"""One operator session: a checklist run for a room, and what watches the room.

Builds what the TUI is given (the app never builds its own I/O): the run engine, started
fresh or resumed from an unfinished journal, its one-shot observer (guards, waits), and the
room watcher (the live probes composed into one observation). No UI here.

The checklist, the engine and the probes are imported where they are used, not at the top:
the TUI draws its first frame from a SessionOpener (this module, and nothing of the engine),
then opens the session.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbook_tui.errors import UsageError

if TYPE_CHECKING:
    from runbook_tui.checklist.model import Checklist
    from runbook_tui.engine.room_hold import RoomHold
    from runbook_tui.engine.run import RunEngine
    from runbook_tui.live.watcher import RoomWatcher
    from runbook_tui.settings import Settings


@dataclass(frozen=True)
class UnfinishedRun:
    journal: Path
    started: float
    last_activity: float
    steps_passed: int
    drill: str | None = None
    operator: str | None = None


def journal_stem(room: str, checklist: Checklist) -> str:
    """A new run's journal name without its suffix (engine.journal.new_journal makes it unique)."""
    return f"{room}-{checklist.id}-{time.strftime('%Y%m%dT%H%M%S')}"


def find_unfinished(settings: Settings, room: str, checklist: Checklist) -> UnfinishedRun | None:
    """The newest journal of this room and checklist version that never reached its end."""
    from runbook_tui.engine import records as rec
    from runbook_tui.engine.journal import ended, journal_order, read_journal

    runs = sorted(settings.runs_dir.glob(f"{room}-{checklist.id}-*.jsonl"), key=journal_order, reverse=True)
    for path in runs:
        try:
            records = read_journal(path).records
        except OSError:
            continue
        if not records or not rec.is_kind(records[0], rec.RunStarted):
            continue
        if records[0]["checklist"].get("sha256") != checklist.sha256:
            continue  # another version of the checklist: never resumed with this one
        if ended(records):
            return None  # the newest run ended (or its room was purged); nothing to resume
        if not any(rec.is_kind(r, rec.StepStateRecord) for r in records):
            return None  # opened and closed before any step changed: a new run is the same thing
        passed = {r.step for r in rec.of_kind(records, rec.StepStateRecord) if r.state in ("done", "skipped", "overridden")}
        # A blind drill's scenario is not said to whoever is offered to resume it.
        drill = "(blind)" if records[0].get("blind") and records[0].get("drill") else records[0].get("drill")
        return UnfinishedRun(path, records[0]["ts"], records[-1]["ts"], len(passed), drill,
                             records[0].get("operator"))
    return None


def older_unfinished(settings: Settings, room: str, checklist: Checklist, newest: Path) -> list[Path]:
    """The room's other unfinished runs of this checklist, older than the one offered (left by
    consoles that were not closed, or by two consoles at once before a room had one): never
    offered by the question, each still reopens by name (--resume JOURNAL)."""
    from runbook_tui.engine import records as rec
    from runbook_tui.engine.journal import ended, journal_order, read_journal

    out = []
    for path in sorted(settings.runs_dir.glob(f"{room}-{checklist.id}-*.jsonl"), key=journal_order, reverse=True):
        if journal_order(path) >= journal_order(newest):
            continue
        try:
            records = read_journal(path).records
        except OSError:
            continue
        if (records and rec.is_kind(records[0], rec.RunStarted) and records[0].get("room") == room
                and (records[0].get("checklist") or {}).get("sha256") == checklist.sha256 and not ended(records)
                and any(rec.is_kind(r, rec.StepStateRecord) for r in records)):
            out.append(path)
    return out


@dataclass(frozen=True)
class RunToResume:
    """What a journal named on the command line (--resume JOURNAL) says about its run."""
    room: str
    checklist: Path | None  # the checklist file it was started with (None: not said, or gone)


def run_to_resume(journal: Path) -> RunToResume:
    """The room and checklist of a journal to reopen, so that --resume JOURNAL needs neither
    --room nor --checklist. ValueError (said as it is) when it is not a run's journal."""
    from runbook_tui.engine import records as rec
    from runbook_tui.engine.journal import read_journal

    try:
        records = read_journal(journal).records
    except OSError as exc:
        raise UsageError(f"--resume {journal}: {exc.strerror or exc}") from None
    if not records or not rec.is_kind(records[0], rec.RunStarted) or not isinstance(records[0].get("room"), str):
        raise UsageError(f"--resume {journal}: not a run's journal (no run_started record)")
    path = (records[0].get("checklist") or {}).get("path")
    checklist = Path(path) if isinstance(path, str) and Path(path).is_file() else None
    return RunToResume(records[0]["room"], checklist)


def resumable(journal: Path, room: str) -> None:
    """Refuses (ValueError, in words) a journal that is not an unfinished run of this room:
    a finished or abandoned run is not reopened, another room's never."""
    from runbook_tui.engine import records as rec
    from runbook_tui.engine.journal import ended, read_journal

    try:
        records = read_journal(journal).records
    except OSError as exc:
        raise UsageError(f"{journal}: {exc.strerror or exc}") from None
    if not records or not rec.is_kind(records[0], rec.RunStarted):
        raise UsageError(f"{journal}: not a run's journal (no run_started record)")
    if records[0].get("room") != room:
        raise UsageError(f"{journal} is a run of {records[0].get('room')}, not of {room}")
    if ended(records):
        how = "abandoned" if any(rec.is_kind(r, rec.RunAbandoned) for r in records) else "finished"
        raise UsageError(f"{journal.name}: this run has {how}; it is not reopened (its report: runbook-tui report {journal})")


@dataclass(frozen=True)
class ChecklistOffer:
    """A checklist the venue view offers for a room, with the room's unfinished run of it."""
    path: Path
    name: str
    revision: str
    unfinished: UnfinishedRun | None
    error: str = ""  # the checklist does not load: said, not offered


def room_checklists(settings: Settings, room: str) -> list[ChecklistOffer]:
    """The runbook's checklists for a room (the settings' own first: promotion, then failback and
    keeping the standby current beside it), each with any unfinished run of this room."""
    from runbook_tui.checklist.loader import ChecklistInvalid, load_checklist

    first = Path(settings.checklist)
    paths = [first] + [first.parent / name for name in ("promotion.yaml", "failback.yaml", "standby-current.yaml")]
    offers, seen = [], set()
    room_settings = settings.for_room(room)
    for path in paths:
        if path.resolve() in seen or not path.is_file():
            continue
        seen.add(path.resolve())
        try:
            checklist = load_checklist(path)
        except ChecklistInvalid as exc:
            offers.append(ChecklistOffer(path, path.name, "", None, str(exc).splitlines()[0]))
            continue
        offers.append(ChecklistOffer(path, checklist.name, checklist.revision, find_unfinished(room_settings, room, checklist)))
    return offers


@dataclass
class SessionOpener:
    """A session to open: what the TUI knows before its first frame (the room, the drill, the
    settings) and open(), which loads the checklist and raises what Session raises."""

    settings: Settings
    room: str
    checklist_path: Path
    drill: str | None = None
    variables: dict[str, str] | None = None
    operator: str | None = None
    hold: RoomHold | None = None  # this console's hold on the room (claim), handed to the Session
    blind: bool = False  # a blind drill: the header says DRILL, never the scenario
    drill_symptoms: tuple[str, ...] = ()  # the steps the scenario's fault is known to fail

    def __post_init__(self) -> None:
        self.settings = self.settings.for_room(self.room)  # as Session sees them (for_room is idempotent)

    def claim(self) -> None:
        """Hold the room for this console, before anything is drawn or opened; RoomHeld names
        the console that has it. Light: the standard library only (the first frame waits)."""
        if self.hold is None or not self.hold.held:
            from runbook_tui.engine.room_hold import hold_room

            self.hold = hold_room(self.settings.runs_dir, self.room, self.operator)

    def release(self) -> None:
        if self.hold is not None:
            self.hold.release()

    def open(self) -> Session:
        return Session(self.settings, self.room, self.checklist_path, drill=self.drill, variables=self.variables,
                       operator=self.operator, hold=self.hold, blind=self.blind, drill_symptoms=self.drill_symptoms)


class Session:
    def __init__(self, settings: Settings, room: str, checklist_path: Path, drill: str | None = None,
                 variables: dict[str, str] | None = None,
                 operator: str | None = None, hold: RoomHold | None = None, blind: bool = False,
                 drill_symptoms: tuple[str, ...] = ()) -> None:
        from runbook_tui.checklist.loader import load_checklist
        from runbook_tui.checklist.variables import resolve_variables
        from runbook_tui.engine.run import RunConfig
        from runbook_tui.observe.observer import Observer
        from runbook_tui.observe.site import site_context

        # The room's own values ([rooms.<id>] of a venue file) win over the file's.
        settings = settings.for_room(room)
        self.settings = settings
        self.drill = drill
        self.blind = blind and drill is not None
        self.room = room
        self.checklist = load_checklist(checklist_path)
        # The site's variables are the venue's, for every checklist: each takes those it declares.
        # Variables given on the command line (--var) win, and must be the checklist's.
        site = {k: v for k, v in settings.variables.items() if k in self.checklist.variables}
        from runbook_tui.terminal import CONTROL_ONE_LINE, REPLACEMENT, first_control

        for name, value in (variables or {}).items():
            # The command line refuses these (cli.args.var_pairs); a caller that did not check is
            # refused here too: a value is drawn in the tree, the step pane and the resume line.
            for part, text in (("name", name), ("value", value)):
                if (problem := first_control(text, one_line=True)) is not None:
                    named = CONTROL_ONE_LINE.sub(REPLACEMENT, name[:80])
                    raise UsageError(f"variable {named}: the {part} {problem} (a value is one line of plain text)")
        self.given = {"room": room} | site | (variables or {})  # what the variables were resolved from
        self.values = resolve_variables(self.checklist, self.given, settings.stack_root).values
        self.given_variables = dict(variables or {})
        ctx = site_context(self.values, settings.stack_root, settings.resolvers, tuple(settings.docker_hosts.items()),
                           settings.dns_lifetime_s)
        self.context = ctx
        # A stack's .env the tool will not read (a FIFO, past its cap): said when the run opens,
        # since its values are missing from every panel and rule until it is fixed.
        from runbook_tui.files import ENV_CAP, refusal

        self.unreadable = [(role, exc) for role in ("primary", "standby")
                           if (exc := refusal(ctx.env_file(role), ENV_CAP, ".env file")) is not None]
        self.observer = Observer(ctx)
        self.config = RunConfig(settings.stack_root, lab=settings.lab, drill=drill, blind=self.blind,
                                drill_symptoms=drill_symptoms, settings=settings.described_as,
                                given=frozenset(self.given), docker_hosts=dict(settings.docker_hosts),
                                fence_command=settings.fence_command)
        if operator:  # who the journal names; in drills, the trainee the history compares
            self.config.operator = operator
        self.engine: RunEngine | None = None
        self.hold = hold  # one console acts on a room: taken by claim(), before any run opens
        self._operator = operator
        self.resume_notes: list[str] = []
        self.mqtt_in_process = False  # the benchmark's baseline; the app runs the probe in a child
        self._fault_offset: int | None = None
        if settings.lab:
            self.new_faults()  # from here on: a fault logged before this session is not this run's

    def farewell(self) -> str:
        """What the terminal shows after the app closes: where the run's record is."""
        if self.engine is None:
            return ""
        path = self.engine.journal.path
        lines = [f"Journal: {path}", f"Report:  runbook-tui report {path}   (or e in the app)",
                 f"Settings: {self.settings.described_as}"]
        unfinished = self.unfinished()
        if unfinished is not None and unfinished.journal == path:
            lines.append("This run is not finished. Resume it with:")
            lines.append(f"  {self.resume_command()}")
        from runbook_tui.engine.floor import serving

        if serving(self.settings.runs_dir, self.room) is not None:
            where = f" --settings {self.settings.source.resolve()}" if self.settings.source is not None else ""
            lines.append(f"The floor view of {self.room} still serves (phones keep following the run); "
                         f"close it with: runbook-tui{where} floor {self.room} --close")
        return "\n".join(lines)

    def resume_command(self) -> str:
        """The command that opens this run again, as it can be pasted: the same settings file
        (without it the tool opens the lab) and the same checklist."""
        import shlex

        words = ["runbook-tui"]
        if self.settings.source is not None:
            words += ["--settings", str(self.settings.source.resolve())]
        words += ["--room", self.room]
        if self.checklist.path.resolve() != Path(self.settings.checklist).resolve():
            words += ["--checklist", str(self.checklist.path.resolve())]
        for name, value in self.given_variables.items():
            words += ["--var", f"{name}={value}"]
        if self.engine is not None:
            # The run's operator, whom its journal names after a resume: without it the resumed
            # console's hold said $USER, and the venue named another operator than the journal.
            words += ["--operator", self.engine.config.operator]
        return shlex.join(words + ["--resume"])  # this run, without the question

    def unfinished(self) -> UnfinishedRun | None:
        return find_unfinished(self.settings, self.room, self.checklist)

    def older_unfinished(self, newest: Path) -> list[Path]:
        return older_unfinished(self.settings, self.room, self.checklist, newest)

    def claim(self) -> None:
        """Hold the room for this console (RoomHeld names the console that has it). No run of a
        room, new or resumed, begins in a console that does not hold it."""
        if self.hold is None or not self.hold.held:
            from runbook_tui.engine.room_hold import hold_room

            self.hold = hold_room(self.settings.runs_dir, self.room, self._operator)

    def release(self) -> None:
        """The console is done with the room (its process ending lets it go all the same)."""
        if self.hold is not None:
            self.hold.release()

    def start_engine(self, resume_from: Path | None = None, on_event=None) -> RunEngine:
        from runbook_tui.engine.events import EngineRefusal
        from runbook_tui.engine.run import RunEngine

        self.claim()  # raises RoomHeld: then nothing is opened, resumed or abandoned
        if resume_from is not None:
            try:
                resumable(Path(resume_from), self.room)
            except ValueError as exc:
                raise EngineRefusal(str(exc)) from None
            self.engine, self.resume_notes = RunEngine.resume(resume_from, self.checklist, self.observer, self.config, on_event)
        else:
            from runbook_tui.engine.journal import new_journal

            unfinished = self.unfinished()
            path = new_journal(self.settings.runs_dir, journal_stem(self.room, self.checklist))
            try:
                self.engine = RunEngine.start(self.checklist, self.values, self.observer, path, self.config, on_event)
            except BaseException:
                if path.stat().st_size == 0:
                    path.unlink()  # the name taken for a run that never started is given back
                raise
            if unfinished is not None and unfinished.journal != path:
                self._abandon(unfinished.journal, f"a new run was started instead ({path.name}) by {self.config.operator}")
        if self.hold is not None:
            self.hold.set_journal(self.engine.journal.path)  # another console's refusal names the run
        return self.engine

    @staticmethod
    def _abandon(path: Path, reason: str) -> None:
        """The unfinished run the operator chose not to resume ends here, said in its own journal
        (it is no longer offered, and its report says abandoned). One still open elsewhere is left."""
        from runbook_tui.engine import records as rec
        from runbook_tui.engine.journal import Journal, JournalBusy

        try:
            journal = Journal(path)
        except (JournalBusy, OSError):
            return
        try:
            journal.write(rec.RunAbandoned(reason=reason))
        finally:
            journal.close()

    def new_faults(self) -> list[dict]:
        """Faults injected into this room (the training lab's log) since the session opened or
        since the last call: the app journals them in the run."""
        from runbook_tui.files import NOTES_CAP, open_regular
        from runbook_tui.stacks import fault_log

        path = fault_log(self.settings.stack_root, self.room)
        try:
            with open(open_regular(path, "fault log"), "rb") as log:
                if self._fault_offset is None:  # what was logged before the session is not this run's
                    self._fault_offset = log.seek(0, 2)
                    return []
                log.seek(self._fault_offset)
                data = log.read(NOTES_CAP)  # the rest on the next call
        except OSError:
            self._fault_offset = self._fault_offset or 0
            return []
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self._fault_offset += len(complete)
        out = []
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("fault"), str):
                out.append(record)
        return out

    def watcher(self, **callbacks) -> RoomWatcher:
        """The room's live probes, composed into one observation. Callbacks run on the probes' threads.
        Imported here: the probes' libraries (paho, docker, dnspython) load after the first frame."""
        from runbook_tui.live.watcher import RoomWatcher

        s = self.settings
        # The MQTT probe runs in child processes by default: a flood's parsing must not hold the TUI's GIL.
        return RoomWatcher(self.context, dns_interval_s=s.dns_interval_s, dns_lifetime_s=s.dns_lifetime_s,
                           mqtt_topics=s.mqtt_topics, mqtt_in_process=self.mqtt_in_process, **callbacks)
