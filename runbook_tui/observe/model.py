"""What one look at the room saw: immutable values, each part with the time it was seen.

A `RoomObservation` is made either by a fresh one-shot look (`observe.observer.Observer`,
what a guard takes at the moment of acting) or by composing the newest parts the long-lived
probes have sent (`live.watcher.RoomWatcher`, what the panels, the banner and the live
ticks read). Both give the same type, judged by the same rules (`runbook_tui.rules`). A part
that was not looked at is None; a part that was looked at but could not be seen says so in
its own fields (a daemon that does not answer, a resolver that times out). Nothing here
holds a secret in a field that is shown or journaled: `FilesView.env` keeps the .env values
for the rules and is never put into words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("primary", "standby")


# ---- Docker ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceState:
    """One container of a stack's compose project, as the Docker daemon reports it."""

    service: str
    container: str
    state: str  # running, exited, restarting, paused, created, dead
    health: str | None
    restart_count: int
    started_at: str
    image: str
    flags: tuple[tuple[str, bool], ...]  # the dispatch flags the container was really started with (core only)


@dataclass(frozen=True)
class StackSnapshot:
    """A stack's compose project on its Docker host."""

    role: str
    project: str
    connected: bool  # the daemon answered
    error: str | None
    services: tuple[ServiceState, ...]
    env_flags: tuple[tuple[str, bool], ...]  # what the stack's .env says now
    # flags the running core was started with that its .env does not say: the .env changed since,
    # or the value came from elsewhere (env_mtime and the core's started_at tell which, when they can)
    not_recreated: tuple[str, ...]
    at: float
    sequence: int = 0
    shared: tuple[tuple[str, str], ...] = ()  # the .env keys both stacks must agree on (secrets as sha256)
    volumes: tuple[str, ...] = ()  # the project's volumes: `compose down` keeps them, so they prove the project lives here
    env_mtime: float | None = None  # when the stack's .env was last written (None: not read by this look)
    # Whether its engine ever answered (the services are what was last seen there), and since when
    # it has not: an engine never reached has shown nothing, which is not "no containers".
    seen: bool = True
    unreachable_since: float | None = None
    engine: str | None = None  # the Docker host it was looked at on (None: this machine's default)

    def service(self, name: str) -> ServiceState | None:
        return next((s for s in self.services if s.service == name), None)


# ---- DNS ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResolverAnswer:
    resolver: str  # ADDRESS:PORT
    classification: str  # primary / standby / both stacks / unknown address / NXDOMAIN / timeout / error
    addresses: tuple[str, ...]  # every A record, sorted
    ttl: int | None
    rtt_ms: float | None
    detail: str = ""


# The one reading of an answer, pure: the look labels each answer with it and the rules ask it
# about one role, so the panel and a guard never read the same answer two ways.
def classify(addresses: tuple[str, ...], known: dict[str, str]) -> str:
    """Which stack a resolver's answer points at: primary, standby, both stacks, unknown address.

    Every address counts: an answer holding one stack's address and any other is not that
    stack's (half the controllers would connect elsewhere)."""
    roles = {role for role, addr in known.items() for a in addresses if a == addr}
    if len(roles) > 1:
        return "both stacks"
    if len(roles) == 1 and all(a in known.values() for a in addresses):
        return roles.pop()
    return "unknown address"


@dataclass(frozen=True)
class DnsSnapshot:
    """The broker name as every configured resolver answers it."""

    name: str
    answers: tuple[ResolverAnswer, ...]
    disagreement: bool
    classification: str  # the common classification, or "disagreement"
    at: float
    poll: int = 0


# ---- MQTT --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoreStatus:
    """What a core says of itself on its retained status topic, read strictly.

    readable: a JSON object whose `online` is a real boolean, and, when online, whose
    `dispatch_enabled` is one too. Anything else is unreadable and keeps `raw` (sanitised,
    cut short) so the operator sees what arrived; an unreadable status never clears an alarm.
    """

    readable: bool
    online: bool = False
    dispatch_enabled: bool = False
    critical_armed: bool | None = None
    role: str | None = None
    room: str | None = None
    stack: str | None = None
    version: str | None = None
    raw: str = ""
    problem: str = ""  # why it is unreadable

    def not_own(self, room: str, role: str, project: str) -> str:
        """Why this status is not the core of `project` (room `room`, role `role`) speaking, in
        the operator's words ("" when it is, or when it does not read).

        The one decision of whose status this is. The contract: a core's status names its room,
        and its role and stack, where it carries them, are those of the broker it was read
        from. Anyone holding a broker's credentials can retain a status there, and a stack
        copied from another room's brings that room's status with it: another room's "online,
        dispatch enabled" says nothing about this room's core, and hides what it would say.
        A status that names no room cannot be told from such a one, so it does not count either
        (the reference core, infra/images/core/sentient_core.py, always names it).
        """
        if not self.readable:
            return ""
        if self.room is None:
            return "core status names no room: ignored"
        if self.room != room:
            return f"core status says room {self.room}, not {room}: ignored"
        if self.role is not None and self.role != role:
            return f"core status says role {self.role}, not {role}: ignored"
        if self.stack is not None and self.stack != project:
            return f"core status says stack {self.stack}, not {project}: ignored"
        return ""


@dataclass(frozen=True)
class BrokerView:
    """One stack's broker: could it be read, what its core and the room's controllers say."""

    role: str
    endpoint: str  # host:port, never credentials
    state: str  # ok / unreachable / refused / no answer / connecting
    detail: str = ""
    core: CoreStatus | None = None  # None: nothing retained on the status topic
    controllers: tuple[tuple[str, bool | None], ...] = ()  # (device, online; None: its status is unreadable)
    at: float = 0.0


# ---- files -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StackFiles:
    role: str
    directory: str  # as shown to the operator (relative to the stack root where it can be)
    exists: bool  # the directory exists
    has_compose: bool
    has_env: bool
    passwd_present: bool  # mosquitto/passwd exists and is not empty
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # secrets inside: never shown nor journaled
    env_error: str = ""  # the .env could not be read (shown instead of values)
    passwd_admits: bool | None = None  # mosquitto/passwd lets the .env's MQTT user in (None: cannot tell)
    last_restore: float | None = None  # when a backup was last restored into this stack (scripts/restore-room-db.sh)
    last_backup: float | None = None  # the newest backup of this stack's database (backups/<stack>-*.sql.gz)
    passwd_mtime: float | None = None  # when mosquitto/passwd was last written (a broker started before reads an older one)
    env_mtime: float | None = None  # when .env was last written (a core started before runs with older settings)
    # Dispatch records only this stack holds, as the last comparison with the primary's found them
    # (.records-only-here, written by restore-room-db.sh's refusal and copy-back-room-db.sh --check;
    # removed once they are copied back, discarded or none are left), and when it was found.
    records_only_here: tuple[str, ...] = ()
    records_only_here_at: float | None = None
    # What the last restore discarded, and the reason given (.last-restore; --discard-newer).
    restore_discarded: tuple[str, ...] = ()
    restore_reason: str = ""

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True)
class FilesView:
    stacks: tuple[StackFiles, ...]
    at: float

    def stack(self, role: str) -> StackFiles | None:
        return next((s for s in self.stacks if s.role == role), None)


# ---- the whole room ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Fence:
    """A stack's host cut off from the room on purpose, as the run recorded it: powered off or
    unplugged, confirmed at the room by name, or a site's fence command that succeeded. Not seen
    in the room: the run says it, and the rules take it only while the host stays unreachable."""

    role: str
    by: str  # "Rui at the room", "the site's fence command"
    at: float
    how: str = ""  # what was done, in the operator's words


@dataclass(frozen=True)
class RoomObservation:
    room: str
    broker_name: str
    expected: tuple[tuple[str, str], ...]  # (role, address) the broker name must answer for that role
    stacks: tuple[StackSnapshot, ...] = ()
    dns: DnsSnapshot | None = None
    brokers: tuple[BrokerView, ...] = ()
    files: FilesView | None = None
    # (role, monotonic time) of the last device command each stack's broker carried; the
    # dual-control rule compares them (only the long-lived probe sees commands go by).
    commands: tuple[tuple[str, float], ...] = ()
    at: float = 0.0
    monotonic: float = 0.0  # when it was composed, on the clock of `commands`
    fences: tuple[Fence, ...] = ()  # the run's fences (the engine adds them to what it judges)

    def fence(self, role: str) -> Fence | None:
        return next((f for f in self.fences if f.role == role), None)

    def stack(self, role: str) -> StackSnapshot | None:
        return next((s for s in self.stacks if s.role == role), None)

    def broker(self, role: str) -> BrokerView | None:
        return next((b for b in self.brokers if b.role == role), None)

    def project(self, role: str) -> str:
        """The compose project of `role`'s stack: Docker's, else the one project-name rule on its .env."""
        if (stack := self.stack(role)) is not None:
            return stack.project
        from runbook_tui.stacks import project_name  # here: the first frame loads this module, not the stacks'

        files = self.files.stack(role) if self.files else None
        return project_name(self.room, role, files.env_dict if files else {})

    def core_not_own(self, role: str) -> str:
        """Why the status read on `role`'s broker is not its own core's ("" when it is, or none was read)."""
        broker = self.broker(role)
        if broker is None or broker.state != "ok" or broker.core is None:
            return ""
        return broker.core.not_own(self.room, role, self.project(role))

    def own_core(self, role: str) -> CoreStatus | None:
        """The status read on `role`'s broker if it is its own core's (readable or not); None when
        the broker was not read, holds no status, or holds another room's or stack's."""
        broker = self.broker(role)
        if broker is None or broker.state != "ok" or broker.core is None or self.core_not_own(role):
            return None
        return broker.core

    def address(self, role: str) -> str:
        """The address the broker name must answer for `role`: the checklist's, else the stack's bind address."""
        want = dict(self.expected).get(role)
        if want:
            return want
        files = self.files.stack(role) if self.files else None
        return files.env_dict.get("MQTT_BIND_ADDR", "") if files else ""
