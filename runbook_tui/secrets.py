"""Which settings are secrets, and masking their values in everything the engine emits (output,
journal, reports).

A secret is looked for in every form output can give it (`FORMS`, the README's table): as it
is and encoded (URL, base64, hex, JSON, Python, shell), split over lines, by a carriage
return, escape sequences, zero-width characters or backspace overstrike, and in hex dumps.
Masking comes before anything cuts a line: half a secret is still a secret.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from pathlib import Path

from runbook_tui.envfile import read_env

MASK = "••••••"

# Which .env keys hold secrets: shell-style patterns on the key's name, case-insensitive. A site
# adds its own (settings: secret_keys = ["*_PIN"]); the defaults cannot be taken away.
DEFAULT_SECRET_KEYS = ("*PASSWORD*", "*PASSPHRASE*", "*SECRET*", "*TOKEN*", "*KEY*", "*CREDENTIAL*")
_DEFAULT_WORDS = "PASSWORD|PASSPHRASE|SECRET|TOKEN|KEY|CREDENTIAL"


class SecretKeys:
    """The one rule for which keys are secret. `search(key)` is true for a secret's key; `pattern`
    is the default words as a regex, for finding `KEY=value` in free text."""

    pattern = f"({_DEFAULT_WORDS})"

    def __init__(self) -> None:
        self.site: tuple[str, ...] = ()
        self._regex = self._compile()

    def _compile(self) -> re.Pattern[str]:
        globs = DEFAULT_SECRET_KEYS + self.site
        return re.compile("|".join(f"(?:{fnmatch.translate(g.upper())})" for g in globs))

    def use_site_keys(self, patterns: Iterable[str]) -> None:
        """The site's patterns, on top of the defaults (replacing those of an earlier settings file)."""
        self.site = tuple(patterns)
        self._regex = self._compile()

    def search(self, key: str) -> bool:
        return self._regex.match(key.upper()) is not None


SECRET_KEY = SecretKeys()
SITE_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_*?\[\]!-]+$")  # what a site may write in secret_keys

# A private key in PEM, whatever key it is under (or printed by a command): its body is a secret.
PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_BLOCK = re.compile(rf"({PEM_BEGIN.pattern})(.*?)(?={PEM_END.pattern}|\Z)", re.S)

# Terminal escape sequences, 7-bit (ESC [ ... CSI, ESC ] ... OSC) and 8-bit (U+009B CSI, U+009D OSC,
# other C1 controls). A secret printed in colour, or
# with codes between its characters, is still the secret once they are gone.
_ESCAPES = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?|[@-Z\\-_])"
    r"|\x9b[0-?]*[ -/]*[@-~]|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|[\x80-\x9f]")
# Characters a terminal shows as nothing, between the characters of a secret: line ends (a secret
# over lines), zero-width characters, a character overstruck by a backspace (c BS c: bold), and
# what is left of an 8-bit CSI sent as a raw 0x9B byte (U+FFFD once decoded, then its parameters).
_INVISIBLE = re.compile(r"[^\n]\x08|\ufffd[0-?]*[ -/]*[@-~]|[\n\r\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e\u034f]")
SHORT = 4  # secrets shorter than this are masked only as whole words (masking "ab" everywhere would eat text)
B64_STABLE_MIN = 6  # a base64 run of a secret shorter than this could occur by chance
HOLD_MAX_LINES = 64  # a stream holds at most this many lines waiting for the rest of a secret

# Every form a secret is masked in (the README's table is checked against this list by the tests).
FORMS = {
    "as is": "the value itself",
    "URL-encoded": "`%2F`, `%2f` and `+` for a space (a password in `mqtt://user:pass@host`)",
    "base64": "standard and URL-safe, at any of the three alignments inside a larger blob (HTTP Basic `user:password`), wrapped over lines",
    "hex": "`6974`, `6974` upper-case, spaced `69 74`, `\\x69\\x74`",
    "hex dump": "`xxd` and `hexdump -C` columns, hex and text, across the dump's lines",
    "JSON": "JSON-escaped, `\\u` escapes or not",
    "Python": "`repr()` and `ascii()` of the text and of its bytes",
    "shell-quoted": "`shlex.quote`, as in a journaled command line",
    "over lines": "split over any number of lines (a window of the previous output is kept), or by a lone CR",
    "escape sequences": "colour or title codes between its characters: 7-bit (ESC [) and 8-bit (U+009B CSI)",
    "invisible characters": "zero-width spaces and joiners, soft hyphens, byte-order marks between its characters",
    "overstrike": "backspace overstrike (`s\\bs`, `_\\bs`, as `man` prints bold and underline)",
    "long lines": "masked before a long line is cut for the screen and the journal",
    "short secrets": "under 4 characters: as whole words only",
    "private keys": "a PEM `PRIVATE KEY` block's body, whatever prints it",
    "secret keys": "the values of keys matching " + ", ".join(f"`{g}`" for g in DEFAULT_SECRET_KEYS)
                   + " and the site's `secret_keys`",
}


def strip_escapes(text: str) -> str:
    return _ESCAPES.sub("", text)


def _base64_runs(secret: bytes) -> set[str]:
    """The base64 characters that encode `secret` at each of the three byte alignments it can
    have inside a larger encoded text (HTTP Basic's "user:password", a token in a blob): only
    the characters that depend on the secret's bytes alone."""
    import base64

    runs = set()
    for offset in range(3):
        padded = b"\0" * offset + secret
        whole_groups = len(padded) // 3
        first = 1 if offset else 0  # the first group mixes in bytes before the secret
        if whole_groups <= first:
            continue
        encoded = base64.b64encode(padded[: whole_groups * 3]).decode()
        run = encoded[first * 4: whole_groups * 4]
        if len(run) >= B64_STABLE_MIN:
            runs |= {run, run.replace("+", "-").replace("/", "_")}
    return runs


def _visible(text: str) -> str:
    return _INVISIBLE.sub("", text)


def spellings(secret: str) -> set[str]:
    """Every form a secret takes as text (FORMS but the dumps, which `Masker` parses)."""
    import json
    import shlex
    from urllib.parse import quote, quote_plus

    raw = secret.encode()
    url = {quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}
    url |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), u) for u in url}
    hexes = [raw.hex(), raw.hex().upper()]
    pairs = [[h[i:i + 2] for i in range(0, len(h), 2)] for h in hexes]
    forms = {secret, *url, *hexes, *(" ".join(p) for p in pairs), *("".join(rf"\x{b}" for b in p) for p in pairs),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], shlex.quote(secret),
             repr(secret)[1:-1], ascii(secret)[1:-1], repr(raw)[2:-1], secret.replace("'", "\\'"),
             ascii(secret)[1:-1].replace("'", "\\'")}
    forms |= _base64_runs(raw)
    # As the masker compares them: without what a terminal does not show.
    return {v for f in forms if (v := _visible(f))}


# hexdump -C: "00000010  69 74 27 73 2d 61 2d 73  33 63 72 65 74 26 2f 40  |it's-a-s3cret&/@|"
_HEXDUMP_C = re.compile(r"^[0-9a-fA-F]{8,16}  ((?:[0-9a-fA-F]{2} {1,2}){1,32}) *\|(.*)\|$")
# xxd: "00000010: 6974 2773 2d61 2d73 3363 7265 7426 2f40  it's-a-s3cret&/@" (any -g grouping, -u)
_XXD = re.compile(r"^[0-9a-fA-F]{8,16}: ((?:[0-9a-fA-F]{2})+(?: (?:[0-9a-fA-F]{2})+)*) +(.*)$")


def _dump_bytes(line: str) -> list[tuple[int, int, int]] | None:
    """A hex dump line's bytes, each as (value, where its hex digits start, where its text
    column character is), or None when the line is no hex dump."""
    if m := _HEXDUMP_C.match(line):
        text_at = m.start(2)
    elif m := _XXD.match(line):
        text_at = None
    else:
        return None
    out = []
    for digits in re.finditer(r"[0-9a-fA-F]{2}", m.group(1)):
        out.append((int(digits.group(), 16), m.start(1) + digits.start(), -1))
    n = len(out)
    if text_at is None:
        if len(line) - m.start(2) < n:  # xxd's text column holds one character per byte
            text_at = None
        else:
            text_at = len(line) - n
    if text_at is not None and len(line) - text_at >= n:
        out = [(v, h, text_at + i) for i, (v, h, _) in enumerate(out)]
    return out


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s}
        long = {s for s in values if len(_visible(s)) >= SHORT}
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({f for s in long for f in spellings(s)}, key=len, reverse=True)
        self._raw = sorted({s.encode() for s in long}, key=len, reverse=True)
        # Every proper start of a spelling (SHORT - 1 characters or more), by length: an output's
        # end is looked up once per length, not compared with every spelling (a hot path).
        self._prefixes = {s[:n] for s in self.secrets for n in range(SHORT - 1, len(s))}
        self._prefix_lengths = sorted({len(p) for p in self._prefixes}, reverse=True)
        self._raw_prefixes = {s[:n] for s in self._raw for n in range(2, len(s))}
        self._raw_prefix_lengths = sorted({len(p) for p in self._raw_prefixes}, reverse=True)
        short = sorted((s for s in values if len(_visible(s)) < SHORT), key=len, reverse=True)
        self._short = re.compile("|".join(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])" for s in short)) if short else None

    @classmethod
    def from_env_files(cls, files: Iterable[Path]) -> Masker:
        found = []
        for path in files:
            if path.is_file():
                try:
                    env = read_env(path)
                except (OSError, ValueError):
                    continue
                for key, value in env.items():
                    if value and (SECRET_KEY.search(key) or PEM_BEGIN.search(value)):
                        found.append(value)
                        # HTTP Basic carries "user:password" in base64: that whole string is a secret too.
                        found.append(f"{env.get('MQTT_USERNAME') or ''}:{value}")
                        # A value over lines (a PEM key) printed line by line: each long line too.
                        found += [line for line in value.splitlines() if len(line) >= 16]
        return cls(found)

    # ---- one text ---------------------------------------------------------------------
    def mask(self, text: str) -> str:
        """The text with every secret masked, in every form (escape sequences are taken out)."""
        text = strip_escapes(text) if _ESCAPES.search(text) else text
        return self._apply(text, self._spans(text))

    def _spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        if self.secrets:
            view, where = self._view(text)
            for secret in self.secrets:
                start = view.find(secret)
                while start != -1:
                    end = start + len(secret)
                    spans.append((self._start_of(text, where, start), where[end - 1] + 1))
                    start = view.find(secret, end)
            if self._raw and ("|" in text or ": " in text):
                spans += self._dump_spans(text)
        if self._short is not None:
            spans += [m.span() for m in self._short.finditer(text)]
        if "PRIVATE KEY-----" in text:
            spans += [m.span(2) for m in _PEM_BLOCK.finditer(text) if m.group(2).strip()]
        return spans

    @staticmethod
    def _view(text: str) -> tuple[str, list[int] | range]:
        """The text as a terminal shows it (no line ends, invisible or overstruck characters),
        and where each of its characters is in `text`."""
        if not _INVISIBLE.search(text):
            return text, range(len(text))
        keep = bytearray(b"\1") * len(text)
        for m in _INVISIBLE.finditer(text):
            keep[m.start():m.end()] = bytes(m.end() - m.start())
            if text[m.end() - 1] == "\x08" and m.end() - m.start() == 2:
                keep[m.start():m.end()] = b"\0\0"
        where = [i for i, k in enumerate(keep) if k]
        return "".join(text[i] for i in where), where

    @staticmethod
    def _start_of(text: str, where, start: int) -> int:
        """A match's start in `text`, with the invisible characters just before it on its line
        (an overstruck first character)."""
        at = where[start]
        low = where[start - 1] + 1 if start else 0
        while at > low and text[at - 1] != "\n":
            at -= 1
        return at

    def _dump_spans(self, text: str) -> list[tuple[int, int]]:
        """Secrets in consecutive hex dump lines (xxd, hexdump -C): their bytes, read across lines."""
        spans: list[tuple[int, int]] = []
        run: list[tuple[int, int, int]] = []  # (byte, hex digits' offset, text column's offset) in `text`
        offset = 0
        for line in text.split("\n") + [""]:
            parsed = _dump_bytes(line) if line else None
            if parsed is not None:
                run += [(v, offset + h, offset + t if t >= 0 else -1) for v, h, t in parsed]
            elif run:
                data = bytes(v for v, _, _ in run)
                for secret in self._raw:
                    start = data.find(secret)
                    while start != -1:
                        for _, h, t in run[start:start + len(secret)]:
                            spans.append((h, h + 2))
                            if t >= 0:
                                spans.append((t, t + 1))
                        start = data.find(secret, start + len(secret))
                run = []
            offset += len(line) + 1
        return spans

    @staticmethod
    def _apply(text: str, spans: list[tuple[int, int]]) -> str:
        """Each span replaced by MASK, line by line (a secret over lines leaves the lines), a
        dump's single byte by dots of its width."""
        if not spans:
            return text
        out, at = [], 0
        for start, end in sorted(spans):
            if end <= at:
                continue
            start = max(start, at)
            out.append(text[at:start])
            piece = text[start:end]
            if end - start <= 2 and "\n" not in piece:  # a hex dump's byte: keep the columns
                out.append("•" * (end - start))
            else:
                out.append("\n".join(MASK if part.strip("\r") else part for part in piece.split("\n")))
            at = end
        out.append(text[at:])
        return "".join(out)

    # ---- a stream ---------------------------------------------------------------------
    def held_from(self, text: str) -> int:
        """Where the end of `text` could begin a secret that more output would complete
        (len(text) when it cannot): the longest end of it that starts a spelling, or a hex
        dump's last bytes that start a secret's."""
        hold = len(text)
        if self.secrets:
            view, where = self._view(text)
            for n in self._prefix_lengths:
                if n <= len(view) and view[-n:] in self._prefixes:
                    hold = self._start_of(text, where, len(view) - n)
                    break
        if self._raw and text.endswith("\n"):
            last_start = text.rfind("\n", 0, len(text) - 1) + 1
            parsed = _dump_bytes(text[last_start:-1])
            if parsed:
                data = bytes(v for v, _, _ in parsed)
                if any(data[-n:] in self._raw_prefixes for n in self._raw_prefix_lengths if n <= len(data)):
                    # The dump lines before it may hold the secret's start too: hold the run.
                    start = last_start
                    while start > 0:
                        prev = text.rfind("\n", 0, start - 1) + 1
                        if _dump_bytes(text[prev:start - 1]) is None:
                            break
                        start = prev
                    hold = min(hold, start)
        return hold


class StreamMasker:
    """Masks a command's output as it comes, in chunks of any size: lines are handed on masked,
    and a secret split across chunks or lines (up to HOLD_MAX_LINES of them) is masked whole,
    because the end of the output that could begin a secret is held until more output shows
    whether it does. A line longer than `piece_chars` is handed on in pieces, masked across them."""

    def __init__(self, masker: Masker, piece_chars: int = 16000) -> None:
        self.masker = masker
        self.piece_chars = piece_chars
        self._tail = ""  # output not handed on yet, masked as far as it goes
        self._in_pem = False

    def feed(self, text: str) -> list[str]:
        """Output as it comes (line ends included); returns the lines complete and masked."""
        if not text:
            return []
        tail = self.masker.mask(self._tail + text)
        out: list[str] = []
        while True:
            hold = self.masker.held_from(tail)
            cut = tail.rfind("\n", 0, hold) + 1  # whole lines before what is held
            if cut == 0 and hold - 0 >= self.piece_chars:
                cut = self.piece_chars  # an endless line: a piece of it, already masked
                out += self._lines(tail[:cut])
            elif cut:
                out += self._lines(tail[:cut - 1])
            elif tail.count("\n") > HOLD_MAX_LINES or len(tail) > 4 * self.piece_chars:
                cut = tail.find("\n") + 1 or self.piece_chars  # held too long: the oldest line goes
                out += self._lines(tail[:cut].removesuffix("\n"))
            else:
                break
            tail = tail[cut:]
        self._tail = tail
        return out

    def flush(self) -> list[str]:
        tail, self._tail = self._tail, ""
        if not tail:
            return []
        return self._lines(self.masker.mask(tail).removesuffix("\n"))

    def _lines(self, text: str) -> list[str]:
        lines = text.split("\n")
        out = []
        for line in lines:
            line = line.rstrip("\r")
            if self._in_pem:
                if PEM_END.search(line):
                    self._in_pem = False
                elif line.strip():
                    line = MASK
            elif PEM_BEGIN.search(line) and not PEM_END.search(line):
                self._in_pem = True
            out.append(line)
        return out


class LineMasker:
    """Masks a stream of whole lines (StreamMasker fed one line at a time)."""

    def __init__(self, masker: Masker) -> None:
        self._stream = StreamMasker(masker)

    def feed(self, line: str) -> list[str]:
        return self._stream.feed(line + "\n")

    def flush(self) -> list[str]:
        return self._stream.flush()
