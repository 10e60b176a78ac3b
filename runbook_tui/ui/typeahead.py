"""Keys pressed between the first frame and the open run.

The command line's app draws its first frame before the checklist and the engine load (about a
quarter of a second, more on a busy console). An operator who knows the keys types on at once.
What such a key does depends on what it would act on, which the operator has not seen yet:
- the pane and live-tab keys wait and are replayed, in order, once the run is on screen:
  `3 ] ]` opens the MQTT tab as it would a second later. They are the app's own keys, the same
  whatever has the focus; a cursor key is not (the focus moves a message after `2` or `3`);
- every other key (run, done, skip, the cursor, the palette…) is set aside, never replayed, and
  named in a notice: pressed again, it acts on what the operator now sees;
- quit and help act at once: they need nothing the opening brings.
When a question comes first (resume the unfinished run?), nothing is replayed into it.
"""

from __future__ import annotations

from textual import events

MOVES = frozenset({"1", "2", "3", "left_square_bracket", "right_square_bracket"})
AT_ONCE = frozenset({"q", "question_mark", "escape", "ctrl+q", "ctrl+c"})
ACTIONS_AT_ONCE = frozenset({"help", "quit_app", "quit", "help_quit"})  # what the footer shows meanwhile


class Typeahead:
    def __init__(self) -> None:
        self.pressed: list[events.Key] = []  # in the order pressed

    def take(self, event: events.Key) -> bool:
        """True when the key waits for the open run; False: handle it now."""
        if event.key in AT_ONCE:
            return False
        self.pressed.append(event)
        return True

    def release(self, replay: bool) -> tuple[list[events.Key], str]:
        """The moves to handle now, as new key events (none unless replay), and the keys not
        acted on, named as pressed ("" when none)."""
        replayed = [e for e in self.pressed if replay and e.key in MOVES]
        dropped = [e for e in self.pressed if e not in replayed]
        return [events.Key(e.key, e.character) for e in replayed], ", ".join(
            e.character if e.character and e.character.isprintable() and not e.character.isspace() else e.key
            for e in dropped)
