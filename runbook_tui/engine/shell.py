"""Running a step's shell command: its own process group, streamed output, timeout, cancel.

Output is merged (stdout and stderr, as the operator would see them in a terminal), masked as
a stream (a secret split across reads or lines is masked whole), and only then cut to lines of
MAX_LINE_CHARS, handed to the caller as it comes and kept bounded for the journal. On timeout or
cancel the whole group gets TERM, then KILL after a grace period; the finally clause makes
sure no child outlives the step.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runbook_tui.secrets import Masker, StreamMasker

OUTPUT_TAIL_LINES = 200
MAX_LINE_CHARS = 4000


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None  # None when it was killed before exiting by itself
    output_tail: tuple[str, ...]
    duration_s: float
    timed_out: bool = False
    cancelled: bool = False


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


async def run_command(
    command: str | tuple[str, ...],
    cwd: Path,
    *,
    timeout_s: float,
    masker: Masker,
    on_line: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
    cancel: asyncio.Event | None = None,
    grace_s: float = 5.0,
) -> CommandResult:
    """Run `command` (a string: bash runs it; a tuple: those words as the program and its arguments,
    no shell, so no word of it is ever read as code). A program that cannot be started raises OSError."""
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    argv = ("/bin/bash", "-c", command) if isinstance(command, str) else command
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, start_new_session=True,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )

    # Masked before any cut: a secret straddling the cut was journaled half before.
    masked = StreamMasker(masker, piece_chars=4 * MAX_LINE_CHARS)

    def show(line: str) -> None:
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f"… (+{len(line) - MAX_LINE_CHARS} chars)"
        tail.append(line)
        if on_line:
            on_line(line)

    async def pump() -> None:
        # Chunks, not readline(): a line longer than the stream's limit would raise, and a
        # command writing one would then block on a full pipe until its timeout. Decoded
        # incrementally: a character split between two reads stays one character.
        import codecs

        assert proc.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await proc.stdout.read(65536):
            for line in masked.feed(decoder.decode(chunk)):
                show(line)
        for line in masked.feed(decoder.decode(b"", final=True)):
            show(line)

    timed_out = cancelled = False
    pump_task = asyncio.create_task(pump())
    waits = [asyncio.create_task(proc.wait())]
    if cancel is not None:
        waits.append(asyncio.create_task(cancel.wait()))
    try:
        done, _pending = await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if waits[0] not in done:
            timed_out = not done
            cancelled = bool(done)
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace_s)
            except TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        try:
            await asyncio.wait_for(pump_task, 2.0)
        except TimeoutError:
            pump_task.cancel()
    finally:
        for task in waits[1:]:
            task.cancel()
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()
        # Children that outlived bash in the group (a backgrounded job): end them too.
        _signal_group(proc.pid, signal.SIGKILL)
    for line in masked.flush():  # output held back for a secret that never came
        show(line)
    exit_code = None if (timed_out or cancelled) else proc.returncode
    return CommandResult(exit_code, tuple(tail), time.monotonic() - started, timed_out, cancelled)
