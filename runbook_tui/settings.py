"""Site settings: where the stacks are and how to look at them.

Without a settings file the tool runs against the training lab in this checkout. A site
file (TOML, read with the standard library's tomllib) points it at a real deployment:

    # runbook-tui.toml
    stack_root = "/srv/sentient"        # the checkout holding infra/ and scripts/
    room = "clockwork"                  # default room (the command line's --room wins)
    checklist = "checklists/promotion.yaml"   # relative to this tool's checkout, or absolute
    lab = false                         # true only for the training lab
    journal_dir = "/var/lib/runbook-tui/runs" # default: <stack_root>/.runbook/runs; relative: to this file
    secret_keys = ["*_PIN"]             # .env keys whose values are masked, beyond *PASSWORD*,
                                        #   *SECRET*, *TOKEN*, *KEY*, *CREDENTIAL*, *PASSPHRASE*

    [dns]
    resolvers = ["10.0.10.1", "10.0.20.1:53"]  # every resolver the rooms use (split horizon)
    interval_s = 2.0                          # between polls
    lifetime_s = 1.5                          # per query

    [docker]                                  # absent: DOCKER_HOST or the local socket
    primary = "unix:///var/run/docker.sock"
    standby = "ssh://ops@standby-host"

    [mqtt]
    topics = ["#"]                            # what the traffic panel subscribes to

    [variables]                               # checklist variables for every room
    smoke_device = "door1"

    [floor]                                   # the floor view (runbook-tui floor, w in the app)
    listen = "127.0.0.1:8470"                 # where it listens (default: loopback, port 8470)
    public_url = "https://floor.venue.example" # the address phones use, behind the venue's TLS proxy

    [keys]                                    # the TUI's keys this site rebinds: binding id = key
    run = "g"                                 #   (ids in KEY_IDS; the help screen lists them)

    [rooms.clockwork]                         # one table per room of the venue (the venue view
    resolvers = ["10.0.10.1"]                 #   lists them); each key is optional and wins over
    docker = { standby = "ssh://ops@s1" }     #   the file's own for that room
    fence_command = ["/usr/local/bin/pdu-ctl", "outlet", "3", "off"]  # cuts this room's primary host off
    [rooms.clockwork.variables]
    smoke_device = "door3"
    standby_endpoint_host = "10.0.10.21"

Every error in the file is said at once, one a line, each naming the file, the line where it
can tell, and the key (per-table readers on one collector, errors.Problems). What cannot work is
refused when the file is read: a control character or NUL in any key or value, a topic filter
the brokers would refuse, a Docker URL or port that does not parse, a number written in octal,
hexadecimal or binary. A byte-order mark at the start of the file is accepted and read past.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from runbook_tui.errors import FileProblem, Problems, UsageError
from runbook_tui.stacks import ROOM_PATTERN, default_rooms_dir, default_runs_dir, known_rooms
from runbook_tui.terminal import first_control, safe_text

TOOL_ROOT = Path(__file__).resolve().parents[1]


class SettingsError(UsageError):
    """A settings file that cannot be used (exit 2): its errors, one a line, each with file, line and key."""

    heading = "settings"

    def __init__(self, message: str | list[FileProblem]) -> None:
        self.problems = [] if isinstance(message, str) else list(message)
        # Its message quotes the file's name and values: printed on terminals, so made safe here
        # (each problem is, as it is said).
        super().__init__(safe_text(message, 4000) if isinstance(message, str) else "\n".join(map(str, message)))


def _controls(value, name: str) -> Iterator[tuple[str, str]]:
    """(key, what is wrong) for each control character in a key or string of `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{name}.{key}" if name else key
            if (problem := first_control(key, one_line=True)) is not None:
                yield sub, f"the key {problem}"
            yield from _controls(item, sub)
    elif isinstance(value, list):
        for item in value:
            yield from _controls(item, name)
    elif isinstance(value, str) and (problem := first_control(value, one_line=True)) is not None:
        yield name, problem


def topic_filter_problem(topic: str) -> str | None:
    """Why the brokers would refuse `topic` as a subscription, by paho's own check, or None."""
    from paho.mqtt.client import Client
    from paho.mqtt.enums import MQTTErrorCode

    if Client._filter_wildcard_len_check(topic.encode("utf-8")) != MQTTErrorCode.MQTT_ERR_SUCCESS:
        return (f"{topic!r} is not an MQTT topic filter ('+' and '#' stand alone between slashes, '#' only last; "
                "1 to 65535 bytes)")
    return None


def docker_url_problem(url: str) -> str | None:
    """Why `url` cannot be a Docker host, or None: unix:///path, npipe:////./pipe/x,
    tcp://HOST[:PORT] or ssh://[USER@]HOST[:PORT]."""
    from urllib.parse import urlsplit

    if any(c.isspace() for c in url):
        return f"{url!r} holds a space"
    parts = urlsplit(url)
    if parts.scheme not in ("unix", "tcp", "ssh", "npipe"):
        return "expected a unix://, tcp:// or ssh:// URL"
    if parts.scheme in ("unix", "npipe"):
        return None if parts.path else f"{url!r}: no socket path (e.g. unix:///var/run/docker.sock)"
    try:
        port = parts.port
    except ValueError:
        return f"{url!r}: the port is not a number from 1 to 65535"
    if not parts.hostname:
        return f"{url!r}: no host"
    if port == 0:
        return f"{url!r}: the port is not a number from 1 to 65535"
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        return f"{url!r}: a Docker host URL has no path, query or fragment"
    return None


def parse_resolver(text: str) -> tuple[str, int]:
    """ADDRESS[:PORT] -> (address, port); port 53 by default. IPv6 as ADDRESS or [ADDRESS]:PORT.
    The address must be an IP address (a resolver is asked by address, never by name)."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:") if "]:" in text else (text[1:].removesuffix("]"), "", "")
    elif text.count(":") == 1:
        host, sep, port = text.partition(":")
    else:
        host, sep, port = text, "", ""
    import ipaddress  # the imports of a settings file's checks wait for a settings file

    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"resolver {text!r}: {host!r} is not an IP address (write ADDRESS, ADDRESS:PORT or "
                         "[IPv6]:PORT)") from None
    if not sep:
        return host, 53
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"resolver {text!r}: the port must be a number from 1 to 65535")
    return host, int(port)


@dataclass(frozen=True)
class RoomSettings:
    """What one room of the venue has of its own ([rooms.<id>]); unset: the file's values."""
    resolvers: tuple[tuple[str, int], ...] = ()
    docker_hosts: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    fence_command: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    stack_root: Path
    """The checkout holding infra/ (room stacks) and scripts/ (the runbook's scripts)."""
    room: str | None = None
    """The room the TUI opens when --room is not given (none: the venue view, or the only room)."""
    checklist: Path = TOOL_ROOT / "checklists" / "promotion.yaml"
    """The checklist the TUI opens."""
    lab: bool = True
    """Training lab: the DNS step runs `runbook-tui lab dns point`, the header says LAB."""
    journal_dir: Path | None = None
    """Where run journals go; default <stack_root>/.runbook/runs."""
    resolvers: tuple[tuple[str, int], ...] = (("127.0.0.1", 5353),)
    """DNS servers asked for mqtt.<room>: all of them, every poll."""
    dns_interval_s: float = 0.5
    """Seconds between DNS polls (a repointed name reaches the screen and the checklist within about this)."""
    dns_lifetime_s: float = 1.5
    """Seconds one DNS query may take before it counts as a timeout."""
    docker_hosts: dict[str, str] = field(default_factory=dict)
    """role -> Docker host URL (unix://, tcp://, ssh://); absent: DOCKER_HOST or the local socket."""
    mqtt_topics: tuple[str, ...] = ("#",)
    """Topic filters the traffic panel subscribes to on both brokers."""
    variables: dict[str, str] = field(default_factory=dict)
    """Checklist variables for this site ([variables]: e.g. smoke_device = "door1"); each
    checklist takes those it declares; --var on the command line wins."""
    source: Path | None = None
    """The file these settings came from (None: the lab defaults)."""
    rooms: dict[str, RoomSettings] = field(default_factory=dict)
    """The venue's rooms as the file lists them ([rooms.<id>]), each with what it has of its own."""
    floor_listen: tuple[str, int] = ("127.0.0.1", 8470)
    """Where the floor view listens ([floor] listen); loopback unless the settings open it."""
    floor_public_url: str | None = None
    """The floor view's address as phones reach it ([floor] public_url; behind a TLS proxy, its https URL)."""
    secret_keys: tuple[str, ...] = ()
    """.env keys whose values are secrets, beyond the defaults (secret_keys = ["*_PIN"]: shell patterns)."""
    keymap: dict[str, str] = field(default_factory=dict)
    """The TUI's keys this site rebinds ([keys]: binding id -> key, e.g. run = "g"); the rest keep theirs."""
    fence_command: tuple[str, ...] = ()
    """The room's fence command ([rooms.<id>] fence_command, set by for_room): the argv that cuts
    its primary host off (a PDU outlet off, a switch port down, a firewall rule); run without a
    shell. Empty: the site has none, and the checklist's fence command step is skipped saying so."""

    @property
    def runs_dir(self) -> Path:
        return self.journal_dir or default_runs_dir(self.stack_root)

    @property
    def described_as(self) -> str:
        """Which settings these are, as every command says it: the file, or the lab's defaults."""
        return str(self.source.resolve()) if self.source is not None else "none (the training lab)"

    def venue_rooms(self) -> list[str]:
        """The rooms of the venue: the file's [rooms.*] tables, in its order, then every other room
        with stacks in the stack root (a room without a table of its own is still a room)."""
        tables = list(self.rooms)
        return tables + [r for r in known_rooms(default_rooms_dir(self.stack_root)) if r not in self.rooms]

    def for_room(self, room: str) -> Settings:
        """These settings as one room sees them: its own resolvers, Docker hosts and variables win."""
        own = self.rooms.get(room, RoomSettings())
        return replace(self, room=room, resolvers=own.resolvers or self.resolvers,
                       docker_hosts=self.docker_hosts | own.docker_hosts, variables=self.variables | own.variables,
                       fence_command=own.fence_command)


# Step 1's addresses: empty in the lab, where scripts/new-room-standby.sh picks the lab's own.
LAB_VARIABLES = {"smoke_device": "sim1", "new_primary_addr": "", "new_standby_addr": ""}


def lab_defaults() -> Settings:
    """The training lab in this checkout (or RUNBOOK_STACK_ROOT), its DNS on RUNBOOK_LAB_DNS_PORT,
    each lab room's stacks looked at on the engine the lab placed them on."""
    root = Path(os.environ.get("RUNBOOK_STACK_ROOT") or TOOL_ROOT)
    port = int(os.environ.get("RUNBOOK_LAB_DNS_PORT") or 5353)
    # The lab's own values for what the checklists leave to each site (its simulated controller).
    return Settings(stack_root=root, resolvers=(("127.0.0.1", port),), variables=dict(LAB_VARIABLES),
                    rooms=_lab_rooms(root))


def _lab_rooms(root: Path) -> dict[str, RoomSettings]:
    """The lab's rooms as `runbook-tui lab up` recorded them (<root>/.lab/rooms.json): a room whose
    standby the lab placed on its own second engine has that engine as its `[docker] standby`, as a
    site's settings would name the standby's host. Every lab room gets a table, in name order, so
    the venue lists them as before. Anything unreadable there: no rooms (the machine's engine)."""
    import json

    from runbook_tui.files import SMALL_CAP, read_bounded

    try:
        registry = json.loads(read_bounded(root / ".lab" / "rooms.json", SMALL_CAP, "lab rooms file"))
    except (OSError, ValueError):
        return {}
    if not isinstance(registry, dict):
        return {}
    rooms = {}
    for room in sorted(r for r in registry if isinstance(r, str) and ROOM_PATTERN.fullmatch(r)):
        entry = registry[room] if isinstance(registry[room], dict) else {}
        hosts = given if isinstance(given := entry.get("docker_hosts"), dict) else {}
        rooms[room] = RoomSettings(docker_hosts={
            role: url for role, url in hosts.items()
            if role in ("primary", "standby") and isinstance(url, str) and first_control(url, one_line=True) is None
            and docker_url_problem(url) is None})
    return rooms


_KEYS = {
    "": {"stack_root", "room", "checklist", "lab", "journal_dir", "dns", "docker", "mqtt", "variables", "rooms", "floor",
         "secret_keys", "keys"},
    "keys": None,  # binding ids (KEY_IDS), each checked by _keys
    "floor": {"listen", "public_url"},
    "dns": {"resolvers", "interval_s", "lifetime_s"},
    "docker": {"primary", "standby"},
    "mqtt": {"topics"},
    "variables": None,  # any checklist variable (checked against each checklist when it is opened)
    "rooms": None,  # room ids; each table's keys are ROOM_KEYS
}
ROOM_KEYS = {"resolvers", "docker", "variables", "fence_command"}
# The TUI's keys a site may rebind ([keys] id = "key"), as the run's screen and the app name
# their bindings (tests/ui checks the two agree; settings are read before any UI loads).
KEY_IDS = frozenset({"run", "mark_done", "skip", "defer", "override", "acknowledge", "cancel_step", "pause",
                     "resume_traffic", "filter", "export", "floor", "pane_checklist", "pane_step", "pane_live",
                     "prev_tab", "next_tab", "inject_fault", "open_procedure", "dismiss_procedure", "help", "quit"})
KEY_NAMES = re.compile(r"^[a-z0-9_+]+(,[a-z0-9_+]+)*$", re.IGNORECASE)  # Textual's: "g", "ctrl+r", "f5,g"
VARIABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _line_of(text: str, key: str) -> int:
    """The line a dotted key is set on (for messages): inside the deepest table header it
    names ([rooms.clockwork] for rooms.clockwork.resolvers); 1 when it cannot tell."""
    lines = text.splitlines()
    parts = key.split(".")
    start = 0
    for depth in range(len(parts), 0, -1):
        header = ".".join(parts[:depth])
        found = next((n for n, line in enumerate(lines) if line.replace(" ", "").startswith((f"[{header}]", f"[{header}."))), None)
        if found is not None:
            if depth == len(parts):
                return found + 1
            start = found
            break
    last = parts[-1]
    for n in range(start, len(lines)):
        if lines[n].strip().startswith((f"{last} ", f"{last}=")):
            return n + 1
    # An inline table (docker = { standby = ... }): the first line after the header naming it.
    return next((n + 1 for n in range(start, len(lines)) if last in lines[n]), start + 1)


def _bad_port(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).port == 0 or not urlsplit(url).hostname
    except ValueError:  # a port that is not a number from 0 to 65535
        return True


def _not_writable(directory: Path) -> str | None:
    """Why runs cannot be journaled in `directory` (made when the first run starts), or None."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory: run journals cannot be kept in {directory}"
    import tempfile

    try:  # tried, not asked (os.access): root on a read-only mount is refused too
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return (f"{existing} is not writable by this user (uid {os.geteuid()}: {exc.strerror or exc}): "
                f"run journals cannot be kept in {directory}")
    return None


def fence_command_problem(value) -> str | None:
    """Why `value` cannot be a room's fence command, or None. An argv list, run as written without
    a shell (no value of it is ever read as code); its program an absolute path or a name on PATH
    (a relative path would depend on where the console was started). Whether the program exists
    is said when the step runs: a console must open mid-incident even where it is missing."""
    if not isinstance(value, list) or not value or not all(isinstance(w, str) for w in value):
        return 'expected a list of words, e.g. ["/usr/local/bin/pdu-ctl", "outlet", "3", "off"] (run without a shell)'
    if len(value) > 64:
        return f"{len(value)} words: at most 64"
    program = value[0]
    if not program.strip() or program != program.strip():
        return f"the program {program!r} is empty or has spaces around it"
    if "/" in program and not program.startswith("/"):
        return f"the program {program!r} is a relative path: give an absolute path or a name on PATH"
    if program.startswith("-"):
        return f"the program {program!r} starts with '-'"
    if any("{{" in w for w in value):
        return "no {{placeholders}}: the words are run exactly as written"
    return None


class _Reader:
    """One settings file read table by table: each reader adds every error it finds to one
    collector (file, line, key) and goes on, so a file is fixed in one round. Values come back
    as read; a refused one comes back empty, and nothing is returned once anything was refused."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        self.problems = Problems(path)

    def error(self, key: str, message: str) -> None:
        self.problems.add(_line_of(self.text, key), key, message)

    def table(self, data: dict, key: str, name: str) -> dict:
        """`data[key]` as a table; anything else is said once (by the caller's key check or here)."""
        value = data.get(key, {})
        if isinstance(value, dict):
            return value
        self.error(name, "expected a table ([section])")
        return {}

    def unknown_keys(self, table: dict, name: str, allowed: set[str] | None) -> None:
        for key in table:
            if allowed is not None and key not in allowed:
                self.error(f"{name + '.' if name else ''}{key}", f"unknown setting (expected one of: {', '.join(sorted(allowed))})")

    def text_value(self, table: dict, key: str, name: str) -> str | None:
        if key not in table or self.problems.failed(name):
            return None  # absent, or refused already (a control character): nothing to build on
        if not isinstance(table[key], str) or not table[key]:
            self.error(name, "expected a non-empty string")
            return None
        return table[key]

    def resolvers(self, value, name: str) -> tuple[tuple[str, int], ...]:
        if not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value):
            self.error(name, 'expected a list of "ADDRESS[:PORT]" strings')
            return ()
        try:
            return tuple(parse_resolver(r) for r in value)
        except ValueError as exc:
            self.error(name, str(exc))
            return ()

    def docker_hosts(self, table, name: str) -> dict[str, str]:
        if not isinstance(table, dict):
            self.error(name, "expected a table: primary / standby = Docker host URL")
            return {}
        self.unknown_keys(table, name, {"primary", "standby"})
        hosts = {}
        for role in ("primary", "standby"):
            if (url := self.text_value(table, role, f"{name}.{role}")) is not None:
                if (problem := docker_url_problem(url)) is not None:
                    self.error(f"{name}.{role}", problem)
                else:
                    hosts[role] = url
        return hosts

    def variables(self, table, name: str, root: Path | None) -> dict[str, str]:
        if not isinstance(table, dict):
            self.error(name, "expected a table of checklist variables")
            return {}
        for key, value in table.items():
            if not VARIABLE_NAME.match(key):
                self.error(f"{name}.{key}", "not a variable name (lower-case letters, digits, underscores)")
            elif key == "room":
                self.error(f"{name}.room", "the room is the top-level 'room' (or --room), not a variable")
            elif not isinstance(value, str):
                self.error(f"{name}.{key}", 'expected a string, e.g. smoke_device = "door1"')
        if root is not None:
            self.stack_dirs_inside(root, table, name)
        return dict(table)

    def stack_dirs_inside(self, root: Path, variables: dict, name: str) -> None:
        """primary_dir and standby_dir stay inside stack_root, symlinks included."""
        from runbook_tui.files import OutsideRoot, inside

        for key in ("primary_dir", "standby_dir"):
            if isinstance(variables.get(key), str) and not self.problems.failed(f"{name}.{key}"):
                try:
                    inside(root, variables[key], key)
                except OutsideRoot as exc:
                    self.error(f"{name}.{key}", str(exc))

    def seconds(self, table: dict, key: str, name: str, low: float, high: float) -> float | None:
        value = table[key]
        # nan would poll without pause, 1e300 end the probe's thread, inf never end a query.
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) \
                or not low <= value <= high:
            self.error(name, f"expected a number of seconds from {low:g} to {high:g}")
            return None
        lines, at = self.text.splitlines(), _line_of(self.text, name)
        written = lines[at - 1].partition("=")[2].strip() if 0 < at <= len(lines) else ""
        if re.match(r"[-+]?0[oxb]", written):
            self.error(name, f"{written.split()[0]} is octal, hexadecimal or binary: write seconds in decimal")
            return None
        return float(value)


def load_settings(path: Path) -> Settings:
    """The settings a site file describes. SettingsError (exit 2) with every error in the file,
    one a line, each naming the file, the line and the key; a file that cannot be read or parsed
    as TOML, with the one error that stops its reading."""
    text = _read_text(path)
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    r = _Reader(path, text)
    for key, problem in _controls(data, ""):
        r.error(key, problem)
    for section, allowed in _KEYS.items():
        r.unknown_keys(r.table(data, section, section) if section else data, section, allowed)
    values: dict = {"source": path, **_top_level(r, data, path)}
    root = values.get("stack_root")
    values.update(_dns(r, r.table(data, "dns", "dns")))
    values["docker_hosts"] = r.docker_hosts(data.get("docker", {}), "docker")
    values["variables"] = r.variables(data.get("variables", {}), "variables", root)
    values["rooms"] = _rooms(r, r.table(data, "rooms", "rooms"), root)
    values.update(_mqtt(r, r.table(data, "mqtt", "mqtt")))
    values.update(_floor(r, r.table(data, "floor", "floor")))
    values.update(_keys(r, r.table(data, "keys", "keys")))
    secret_keys = _secret_keys(r, data.get("secret_keys", []))
    if r.problems:
        raise SettingsError(r.problems.in_file_order())
    from runbook_tui.secrets import SECRET_KEY

    # In force from here on (a file refused changes nothing): masking, the journal and the crash
    # files all ask the one rule (secrets.SECRET_KEY).
    SECRET_KEY.use_site_keys(list(secret_keys))
    return Settings(**values, secret_keys=secret_keys)


def _read_text(path: Path) -> str:
    """The file's text (a byte-order mark read past); what stops its reading is the one error."""
    try:
        from runbook_tui.files import SETTINGS_CAP, read_bounded

        raw = read_bounded(path, SETTINGS_CAP, "settings file")
    except OSError as exc:
        raise SettingsError(f"{path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SettingsError(f"{path}:{line}: byte 0x{raw[exc.start]:02x} is not UTF-8 text") from None
    return text.removeprefix("\ufeff")  # a byte-order mark (editors on Windows write one) is read past


def _top_level(r: _Reader, data: dict, path: Path) -> dict:
    values: dict = {}
    if "stack_root" not in data:
        r.error("stack_root", "required: the checkout holding infra/ and scripts/")
    elif (given := r.text_value(data, "stack_root", "stack_root")) is not None:
        root = Path(given)
        root = root if root.is_absolute() else (path.parent / root).resolve()
        if not (root / "infra").is_dir():
            r.error("stack_root", f"{root} has no infra/ folder")
        else:
            values["stack_root"] = root
    if (room := r.text_value(data, "room", "room")) is not None:
        if not ROOM_PATTERN.fullmatch(room):
            r.error("room", f"{room!r} is not a room id (lower-case letters, digits, inner dashes)")
        values["room"] = room
    if (checklist := r.text_value(data, "checklist", "checklist")) is not None:
        candidate = Path(checklist)
        values["checklist"] = candidate if candidate.is_absolute() else TOOL_ROOT / candidate
        if not values["checklist"].is_file():
            r.error("checklist", f"{values['checklist']} does not exist")
    if "lab" in data and not isinstance(data["lab"], bool):
        r.error("lab", "expected true or false")
    values["lab"] = data.get("lab") is True  # a site file describes a real deployment unless it says otherwise
    if (journal := r.text_value(data, "journal_dir", "journal_dir")) is not None:
        # Relative to this file, as stack_root: a resume from another directory finds the run.
        values["journal_dir"] = journal_dir = (path.parent / journal).resolve()
        if (why := _not_writable(journal_dir)) is not None:
            r.error("journal_dir", why)
    return values


def _dns(r: _Reader, dns: dict) -> dict:
    values: dict = {}
    if "resolvers" not in dns:
        r.error("dns.resolvers", "required: the DNS servers the room's controllers use")
    else:
        values["resolvers"] = r.resolvers(dns["resolvers"], "dns.resolvers")
    for key, name, low, high in (("interval_s", "dns_interval_s", 0.2, 3600.0), ("lifetime_s", "dns_lifetime_s", 0.1, 30.0)):
        if key in dns and (seconds := r.seconds(dns, key, f"dns.{key}", low, high)) is not None:
            values[name] = seconds
    return values


def _rooms(r: _Reader, tables: dict, root: Path | None) -> dict[str, RoomSettings]:
    rooms = {}
    for room, table in tables.items():
        name = f"rooms.{room}"
        if not ROOM_PATTERN.fullmatch(room):
            r.error(name, f"{room!r} is not a room id (lower-case letters, digits, inner dashes)")
        if not isinstance(table, dict):
            r.error(name, "expected a table ([rooms.<id>])")
            continue
        r.unknown_keys(table, name, ROOM_KEYS)
        if "fence_command" in table and (problem := fence_command_problem(table["fence_command"])) is not None:
            r.error(f"{name}.fence_command", problem)
        rooms[room] = RoomSettings(
            resolvers=r.resolvers(table["resolvers"], f"{name}.resolvers") if "resolvers" in table else (),
            docker_hosts=r.docker_hosts(table.get("docker", {}), f"{name}.docker"),
            variables=r.variables(table.get("variables", {}), f"{name}.variables", root),
            fence_command=tuple(table.get("fence_command", ())) if isinstance(table.get("fence_command"), list) else ())
    return rooms


def _mqtt(r: _Reader, mqtt: dict) -> dict:
    topics = mqtt.get("topics")
    if topics is None:
        return {}
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
        r.error("mqtt.topics", 'expected a list of topic filters, e.g. ["#"]')
        return {}
    for topic in topics:
        if (problem := topic_filter_problem(topic)) is not None:
            r.error("mqtt.topics", problem)
    return {"mqtt_topics": tuple(topics)}


def _floor(r: _Reader, floor: dict) -> dict:
    values: dict = {}
    if "listen" in floor:
        try:
            if not isinstance(floor["listen"], str):
                raise ValueError("expected a string")
            host, port = parse_resolver(floor["listen"])  # ADDRESS:PORT, by address
            if ":" not in floor["listen"].rpartition("]")[2]:
                raise ValueError("give the port too, e.g. 127.0.0.1:8470")
            values["floor_listen"] = (host, port)
        except ValueError as exc:
            r.error("floor.listen", f'{exc} (expected ADDRESS:PORT, e.g. "127.0.0.1:8470")')
    if "public_url" in floor:
        url = floor["public_url"]
        if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url) or _bad_port(url):
            r.error("floor.public_url", 'expected an http(s) URL without query, e.g. "https://floor.venue.example"')
        else:
            values["floor_public_url"] = url.rstrip("/")
    return values


def _keys(r: _Reader, keys: dict) -> dict:
    """A site's own keys for the TUI's actions: binding id -> key, or keys separated by commas."""
    keymap = {}
    for binding, key in keys.items():
        if binding not in KEY_IDS:
            r.error(f"keys.{binding}", f"no such key to rebind (one of: {', '.join(sorted(KEY_IDS))})")
        elif not isinstance(key, str) or not KEY_NAMES.match(key):
            r.error(f"keys.{binding}", 'expected a key as Textual names it, e.g. "g", "ctrl+r" or "f5,g"')
        else:
            keymap[binding] = key
    return {"keymap": keymap} if keymap else {}


def _secret_keys(r: _Reader, value) -> tuple[str, ...]:
    """The site's secret keys (shell patterns of .env keys), put in force once the file is valid."""
    from runbook_tui.secrets import SITE_KEY_PATTERN

    if not isinstance(value, list) or not all(isinstance(k, str) and SITE_KEY_PATTERN.match(k) for k in value):
        r.error("secret_keys", 'expected a list of key patterns, e.g. ["*_PIN", "DOOR_CODE"] (letters, digits, _ * ?)')
        return ()
    return tuple(value)
