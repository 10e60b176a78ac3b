"""Placeholders in a shell command are data: each value becomes exactly one shell word (or one
literal part of one), whatever quotes surround the placeholder, and never runs as code.

A command template is scanned the way bash reads it (quotes, escapes, `$(...)`, backquotes,
arithmetic, `${...}`, comments, here-documents) to learn the context of every placeholder,
and the value is written in the quoting that context needs:

- bare, alone or glued to other text (`{{dir}}/.env`, `{{room}}-standby`): single-quoted
  unless made only of characters no shell reads (letters, digits, `_@%+:./-`);
- inside double quotes: `\\`, `$`, `` ` `` and `"` escaped (or, after `$name`, which the value
  would lengthen, the quotes closed round a single-quoted value);
- inside single quotes: each `'` written `'\\''`.

Contexts where no quoting can make a value safe are refused (the loader says so with file,
line and field; rendering raises): backquotes, arithmetic (`$((...))`, `((...))`, `[[ ]]`
whose `-eq` evaluates its operands), `${...}`, `$'...'`, `$"..."`, right after `$` or a
backslash, comments, here-documents, and commands that evaluate an argument as code or as a
variable name (`eval`, `trap`, `source`, `let`, `declare`, `read`, `printf -v`, `sh -c`, `ssh`,
...). Pure: no I/O, so the plan, the loader and the engine share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runbook_tui.checklist.kinds import PLACEHOLDER
from runbook_tui.errors import UsageError

# What bash never reads specially, even glued to other text: no ',' (brace expansion), no '='
# (a first word would become an assignment), no '~', globs, quotes or operators.
_PLAIN = re.compile(r"[A-Za-z0-9_@%+:./-]+")
_NAME_BEFORE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*$")
_DQ_ESCAPE = re.compile(r'([\\$`"])')

# Commands that read an argument as code, as an arithmetic expression or as a variable name
# (whose subscript bash evaluates: `read 'a[$(id)]'` runs id).
_EVALUATING = frozenset({"eval", "trap", "source", ".", "let", "declare", "typeset", "local", "readonly",
                         "read", "unset", "mapfile", "readarray", "alias", "ssh", "fc", "complete"})
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox", "su", "sudo"})
_NEEDS_V = frozenset({"printf", "test", "[", "export", "wait"})  # evaluate a name given with -v / -n


class UnsafePlaceholder(UsageError):
    """A placeholder in a context where no quoting makes its value one inert word."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{{{{{name}}}}} {reason}")
        self.name, self.reason = name, reason


@dataclass
class _Use:
    match: re.Match[str]
    context: str  # "bare", "dq", "sq", or why it is refused ("refused: ...")
    name_before: bool = False  # right after `$name`, which a value could lengthen


@dataclass
class _Frame:
    """A level where bash reads commands: the top, a subshell, `$(...)`, `<(...)`."""
    closer: str | None
    words: list[str] = field(default_factory=list)
    word: str = ""
    case_depth: int = 0
    in_test: bool = False

    def end_word(self) -> None:
        if self.word:
            w = self.word
            self.words.append(w)
            if w == "[[" and len(self.words) == 1:
                self.in_test = True
            elif w == "]]":
                self.in_test = False
            elif w == "case":
                self.case_depth += 1
            elif w == "esac" and self.case_depth:
                self.case_depth -= 1
            self.word = ""

    def end_command(self) -> None:
        self.end_word()
        self.words = []
        self.in_test = False

    def evaluating(self) -> str | None:
        words = [*self.words, self.word] if self.word else list(self.words)
        base = [w.rsplit("/", 1)[-1] for w in words]
        for w in base:
            if w in _EVALUATING:
                return f"'{w}' reads its arguments as code or as a variable name"
        options = [w for w in base if w.startswith("-") and not w.startswith("--")]
        if any(w in _SHELLS for w in base) and any("c" in w for w in options):
            return "a shell's -c runs its argument as code"
        if any(w in _NEEDS_V for w in base) and any(("v" in w or "n" in w) for w in options):
            return "with -v or -n it reads its argument as a variable name"
        if self.in_test or "[[" in base:
            return "inside [[ ]], whose comparisons evaluate their operands as arithmetic"
        return None


def _scan(template: str) -> list[_Use]:
    """Every placeholder of the template with the quoting context bash reads it in."""
    starts = {m.start(): m for m in PLACEHOLDER.finditer(template)}
    uses: list[_Use] = []
    frames = [_Frame(None)]
    stack: list[str] = []  # quoting states above the current frame: dq, sq, ansic, locale, bt, arith, param
    depth: list[int] = []  # paren/brace depth for arith and param states
    heredocs: list[tuple[str, bool]] = []  # (delimiter, strip tabs) waiting for the end of the line
    i, n = 0, len(template)

    def refuse(m: re.Match[str], why: str) -> None:
        uses.append(_Use(m, "refused: " + why))

    while i < n:
        top = "bare" if not stack or stack[-1] == "frame" else stack[-1]
        frame = frames[-1]
        m = starts.get(i)
        if m is not None:
            before = template[:i]
            if top in ("bare", "dq") and before.endswith("$") and not before.endswith("\\$"):
                refuse(m, "right after '$': write ${name} or quote the text around it")
            elif top in ("bare", "dq"):
                why = frame.evaluating()
                if why:
                    refuse(m, why)
                else:
                    uses.append(_Use(m, top, bool(_NAME_BEFORE.search(before))))
            elif top == "sq":
                why = frame.evaluating()
                uses.append(_Use(m, "refused: " + why) if why else _Use(m, "sq"))
            else:
                refuse(m, {"ansic": "inside $'...', which reads backslash escapes",
                           "locale": "inside $\"...\", which a message catalogue may replace",
                           "bt": "inside backquotes, which read quotes in it again: use $(...)",
                           "arith": "inside arithmetic, which evaluates it",
                           "param": "inside ${...}",
                           "comment": "inside a comment, which a newline in it would end",
                           "heredoc": "inside a here-document, which expands it or ends on a line of it"}
                       .get(top, f"inside {top}"))
            if top == "bare":
                frame.word += "\x00"  # a word, never one of the command names above
            i = m.end()
            continue
        c = template[i]
        nxt = template[i + 1] if i + 1 < n else ""
        if top == "sq":
            if c == "'":
                stack.pop()
            else:
                frame.word += c
            i += 1
            continue
        if top in ("ansic",):
            if c == "\\":
                if i + 1 in starts:
                    refuse(starts[i + 1], "right after a backslash")
                    i = starts[i + 1].end()
                    continue
                i += 2
                continue
            if c == "'":
                stack.pop()
            i += 1
            continue
        if top == "comment":
            if c == "\n":
                stack.pop()
                continue  # the newline ends the command too: read it as bare
            i += 1
            continue
        if top == "heredoc":
            # The body, line by line, until the delimiter line.
            end = template.find("\n", i)
            line = template[i:] if end < 0 else template[i:end]
            delim, strip = heredocs[0]
            for s in [s for s in starts if i <= s < (n if end < 0 else end)]:
                refuse(starts[s], "inside a here-document, which expands it or ends on a line of it")
            i = n if end < 0 else end + 1
            if (line.lstrip("\t") if strip else line) == delim:
                heredocs.pop(0)
                stack.pop()
                if heredocs:
                    stack.append("heredoc")
            continue
        if c == "\\":
            if i + 1 in starts:
                refuse(starts[i + 1], "right after a backslash")
                i = starts[i + 1].end()
                continue
            if top == "bare" or (top == "dq" and nxt in '$`"\\'):
                frame.word += nxt
            elif top == "dq":
                frame.word += template[i:i + 2]
            i += 2
            continue
        if top == "bt":
            if c == "`":
                stack.pop()
            i += 1
            continue
        if top == "arith":
            if c == "(":
                depth[-1] += 1
            elif c == ")":
                if depth[-1] == 0 and nxt == ")":
                    stack.pop(), depth.pop()
                    i += 2
                    continue
                depth[-1] -= 1
            i += 1
            continue
        if top == "param":
            if c == "{":
                depth[-1] += 1
            elif c == "}":
                if depth[-1] == 0:
                    stack.pop(), depth.pop()
                else:
                    depth[-1] -= 1
            i += 1
            continue
        # bare or dq: expansions open here
        if c == "$" and i + 1 in starts:
            refuse(starts[i + 1], "right after '$': write ${name} or quote the text around it")
            i = starts[i + 1].end()
            continue
        if c == "$":
            if template.startswith("$((", i):
                stack.append("arith")
                depth.append(0)
                i += 3
                continue
            if nxt == "(":
                frames.append(_Frame(")"))
                stack.append("frame")
                i += 2
                continue
            if nxt == "{":
                stack.append("param")
                depth.append(0)
                i += 2
                continue
            if top == "bare" and nxt == "'":
                stack.append("ansic")
                i += 2
                continue
            if top == "bare" and nxt == '"':
                stack.append("locale")
                i += 2
                continue
        if c == "`":
            stack.append("bt")
            i += 1
            continue
        if top == "dq":
            if c == '"':
                stack.pop()
            else:
                frame.word += c
            i += 1
            continue
        if top == "locale":
            if c == '"':
                stack.pop()
            i += 1
            continue
        # bare: the words of a command
        if c == "'":
            stack.append("sq")
        elif c == '"':
            stack.append("dq")
        elif c == "#" and frame.word == "":
            stack.append("comment")
        elif c in " \t":
            frame.end_word()
        elif c == "\n":
            frame.end_command()
            if heredocs:
                stack.append("heredoc")
        elif template.startswith("<<<", i):  # a here-string: the next word is an ordinary word
            frame.end_word()
            i += 3
            continue
        elif template.startswith("<<", i):
            frame.end_word()
            j = i + 2
            strip = template.startswith("-", j)
            j += 1 if strip else 0
            while j < n and template[j] in " \t":
                j += 1
            k = j
            while k < n and template[k] not in " \t\n;&|<>()":
                k += 1
            word = template[j:k]
            for s in [s for s in starts if j <= s < k]:
                refuse(starts[s], "in a here-document's delimiter")
            heredocs.append((word.replace("'", "").replace('"', "").replace("\\", ""), strip))
            i = max(k, j)
            for s in [s for s in starts if j <= s < k]:
                i = max(i, starts[s].end())
            continue
        elif c == "(" and nxt == "(" and frame.word == "":  # `((`: arithmetic (`( (` is a subshell)
            stack.append("arith")
            depth.append(0)
            i += 2
            continue
        elif c == "(":
            frame.end_word()
            frames.append(_Frame(")"))
            stack.append("frame")
        elif c == ")":
            if frame.case_depth:
                frame.end_word()
                frame.words = []
            elif frame.closer == ")" and len(frames) > 1:
                frame.end_command()
                frames.pop()
                stack.pop()
            else:
                frame.end_command()
        elif c in ";&|":
            frame.end_command()
        else:
            frame.word += c
        i += 1
    return uses


def problems(template: str) -> list[tuple[str, str, int]]:
    """(name, why, offset in the template) for each placeholder no quoting can make safe in
    this shell command."""
    return [(use.match.group(1), use.context.removeprefix("refused: "), use.match.start())
            for use in _scan(template) if use.context.startswith("refused: ")]


def quote_bare(value: str, force: bool = False) -> str:
    if _PLAIN.fullmatch(value) and not force:
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def render(template: str, values: dict[str, str]) -> str:
    """The command bash runs: each placeholder's value one inert word, quoted for its context.
    Raises UnsafePlaceholder where no quoting can do that (the loader refuses those first)."""
    out: list[str] = []
    last = 0
    for use in _scan(template):
        m = use.match
        name = m.group(1)
        value = values[name]
        if "\x00" in value:
            raise UnsafePlaceholder(name, "holds a NUL, which no command argument can")
        if use.context.startswith("refused: "):
            raise UnsafePlaceholder(name, use.context.removeprefix("refused: "))
        out.append(template[last:m.start()])
        if use.context == "bare":
            out.append(quote_bare(value, force=use.name_before))
        elif use.context == "dq":
            out.append('"' + quote_bare(value, force=True) + '"' if use.name_before else _DQ_ESCAPE.sub(r"\\\1", value))
        else:  # sq
            out.append(value.replace("'", "'\\''"))
        last = m.end()
    out.append(template[last:])
    return "".join(out)


