"""The floor view's web server: textual-serve (one floor_app process per browser connection),
behind a one-time token.

Each start draws a new token, so a link from an earlier start is refused. The page is served
only with `?token=...` (which sets an HttpOnly, SameSite=Strict cookie) or that cookie; the
websocket and the static files need the cookie too, and a websocket opened from another origin
is refused. The server writes where it listens, with its token, to a private file in the runs
folder (floor-view-<room>.json, mode 0600: one floor view per room), so that the room's console
can show the link and close it.
textual-serve has no authentication of its own; the check is an aiohttp middleware added to
its application (its `_make_app`, the one hook it offers).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
import shlex
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

from runbook_tui.engine.floor import loopback_only, serving, serving_at, state_path

COOKIE = "runbook_floor"


def _can_listen(host: str, port: int) -> str:
    """"" when host:port can be bound now, else why not (checked before a link is printed)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return ""


class FloorServer(Server):
    def __init__(self, command: str, host: str, port: int, token: str, public_url: str | None = None) -> None:
        super().__init__(command, host=host, port=port, title="runbook-tui floor view", public_url=public_url)
        self._token = token
        self._sockets: set[asyncio.Task] = set()

    def initialize_logging(self) -> None:
        # textual-serve's own logging prints tracebacks with their locals (the token among them).
        logging.basicConfig(level=logging.WARNING, format="floor view: %(message)s")

    def _valid(self, value: str | None) -> bool:
        if not value:
            return False
        return hmac.compare_digest(value.encode(), self._token.encode())

    @web.middleware
    async def _gate(self, request: web.Request, handler):
        by_link = self._valid(request.query.get("token"))
        if not (by_link or self._valid(request.cookies.get(COOKIE))):
            raise web.HTTPForbidden(text="This floor view needs the link the console shows (with its token).\n")
        if request.path == "/ws":
            origin = request.headers.get("Origin")
            if origin and _origin(origin) != _origin(self.public_url):
                raise web.HTTPForbidden(text="refused: another origin\n")
            task = asyncio.current_task()
            assert task is not None  # aiohttp runs each request's handler in a task of its own
            self._sockets.add(task)
            try:
                return await handler(request)
            finally:
                self._sockets.discard(task)
        response = await handler(request)
        if by_link and request.path == "/":
            response.set_cookie(COOKIE, self._token, httponly=True, samesite="Strict",
                                secure=self.public_url.startswith("https"), path="/")
        return response

    async def on_startup(self, app: web.Application) -> None:
        pass  # textual-serve's banner prints the address without its token: only our link is said

    async def on_shutdown(self, app: web.Application) -> None:
        # An open phone would hold the server for its websocket's timeout: close them now (each
        # floor_app child is told to quit when its socket ends).
        for task in list(self._sockets):
            task.cancel()
        if self._sockets:
            await asyncio.wait(list(self._sockets), timeout=5)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._gate)
        return app


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def floor_command(runs_dir: Path, room: str) -> str:
    """The command each browser connection runs (textual-serve runs it through a shell)."""
    # exec: one process per browser tab (no shell left in between), stopped with it.
    return "exec " + shlex.join([sys.executable, "-m", "runbook_tui.ui.floor_app", "--runs-dir", str(runs_dir), "--room", room])


def serve(runs_dir: Path, room: str, host: str, port: int, public_url: str | None = None, say=print) -> int:
    """Serve the floor view until SIGINT/SIGTERM; says the link (and its QR code) first."""
    if (other := serving(runs_dir, room)) is not None:
        say(f"a floor view of {room} already serves (pid {other.pid}); close it first: runbook-tui floor {room} --close")
        return 1
    if why := _can_listen(host, port):
        say(_cannot_listen(runs_dir, room, host, port, why))
        return 1
    token = secrets.token_urlsafe(24)
    server = FloorServer(floor_command(runs_dir, room), host, port, token, public_url)
    url = f"{server.public_url}/?token={token}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(runs_dir, room)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"pid": os.getpid(), "room": room, "url": url, "started": time.time(), "listen": [host, port]}, out)
    say(f"Floor view of {room}: {url}")
    say(qr_text(url))
    if loopback_only(host, public_url):
        say(f"Only this machine can open it ({host}): for phones, set [floor] listen and public_url in the settings.")
    say("Anyone with this link sees the run and can confirm the steps left to the room until it is closed: "
        f"Ctrl-C, w in the console, or runbook-tui floor {room} --close. The next start draws a new token.")
    try:
        server.serve()
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
    return 0


def _cannot_listen(runs_dir: Path, room: str, host: str, port: int, why: str) -> str:
    """Why the floor view cannot listen, in one line (the console's w shows the last line said):
    which room's floor view holds the port, and how to serve this room on another one."""
    said = f"cannot listen on {host}:{port}: {why}"
    if (holder := serving_at(runs_dir, host, port)) is not None:
        said += f" (the floor view of {holder.room} serves there, pid {holder.pid})"
    free = next((p for p in range(port + 1, min(port + 50, 65536)) if not _can_listen(host, p)), None)
    said += (f". One port per room's floor view: serve {room} on another with runbook-tui floor {room} --listen "
             f"{host}:{free if free is not None else 'PORT'}")
    return said


def qr_text(url: str) -> str:
    """The link as a QR code drawn with block characters (two rows per line)."""
    import io

    import segno

    out = io.StringIO()
    segno.make(url, error="l").terminal(out=out, compact=True, border=2)
    return out.getvalue().rstrip("\n")
