"""The UI tier: Textual apps driven by its Pilot, headless.

Pilot.press waits after every key until the process looks idle: Textual samples it in 20 ms
sleeps (textual._wait, pinned with textual in pyproject) and waits two such samples a key, so
typing a reason of 20 characters cost about a second of sleeping. Here the sample is 5 ms,
with the same ratio for "idle" (a twentieth of the sample in CPU). Each key is still waited
for until its messages are handled (Pilot._wait_for_screen), as before.
"""

from __future__ import annotations

import textual._wait
import textual.constants

textual._wait.SLEEP_GRANULARITY = 1 / 200
textual._wait.SLEEP_IDLE = textual._wait.SLEEP_GRANULARITY / 20
# No animations (TEXTUAL_ANIMATIONS=none, read by each App when it is made): a tab's underline
# or a scroll drawn over many frames is CPU the tests spend without checking it, and Pilot
# waits for every animation to end after each key. What the tests check is where they end.
textual.constants.TEXTUAL_ANIMATIONS = "none"
