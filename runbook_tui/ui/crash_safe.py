"""The apps' unhandled errors: to a masked file (runbook_tui.crash), never to the screen.

Textual's default (`App._fatal_error`) renders the traceback with every frame's locals when
the app exits; these apps write it to a file instead and leave the path for the command
line to say. Textual offers no public hook for this, so its two private methods are
overridden here, in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what it is mixed into, for the checker (at run time the App comes after it)
    from textual.app import App

    _MixedIntoApp = App[Any]
else:
    _MixedIntoApp = object


class CrashToFile(_MixedIntoApp):
    """Mixed into an App. crash_dir(): where the file goes; crash_root(): whose secrets to mask."""

    crash_file: Path | None = None
    crash_error: BaseException | None = None

    def crash_dir(self) -> Path | None:
        return None

    def crash_root(self) -> Path | None:
        return None

    def _handle_exception(self, error: Exception) -> None:
        self.crash_error = error
        super()._handle_exception(error)  # sets the return code, then calls _fatal_error

    def _fatal_error(self) -> None:
        error = self.crash_error
        if error is not None:
            from runbook_tui.crash import secret_masker, write_crash  # loaded when needed: not before the first frame

            try:
                self.crash_file = write_crash(error, self.crash_dir(), secret_masker(self.crash_root()))
            except OSError:
                self.crash_file = None
        self.bell()
        self._close_messages_no_wait()
