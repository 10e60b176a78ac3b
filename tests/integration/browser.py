"""A real browser for the floor view's tests: Debian's chromium, driven by Playwright (no
browser download; infra/host/setup.sh installs the package).

textual-serve draws the app with xterm.js on a canvas, so the page's DOM holds no text. An init
script keeps a reference to the page's terminal object when textual.js creates it (it assigns
`fitAddon` in its constructor), and the screen is read from xterm's own buffer."""

from __future__ import annotations

import shutil
import time

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}

CAPTURE_TERMINAL = r"""
(() => {
  Object.defineProperty(Object.prototype, 'fitAddon', {
    configurable: true,
    set(v) {
      delete Object.prototype.fitAddon;
      Object.defineProperty(this, 'fitAddon', {value: v, writable: true, configurable: true, enumerable: true});
      window.__textual = this;
    },
    get() { return undefined; },
  });
})();
"""

SCREEN = r"""
() => {
  const t = window.__textual && window.__textual.terminal;
  if (!t) return null;
  const buf = t.buffer.active, out = [];
  for (let y = 0; y < t.rows; y++) {
    const line = buf.getLine(buf.viewportY + y);
    out.push(line ? line.translateToString(true) : '');
  }
  return out.join('\n');
}
"""

CELL = r"""
(n) => {
  const t = window.__textual.terminal, buf = t.buffer.active;
  for (let y = 0; y < t.rows; y++) {
    const s = buf.getLine(buf.viewportY + y).translateToString(false);
    const x = s.indexOf(n);
    if (x >= 0) {
      const r = t.element.querySelector('.xterm-screen').getBoundingClientRect();
      const cw = r.width / t.cols, ch = r.height / t.rows;
      return [r.left + (x + n.length / 2) * cw, r.top + (y + 0.5) * ch];
    }
  }
  return null;
}
"""


def phone_context(browser):
    # Not is_mobile: without a viewport meta tag the page would lay out 980 px wide and be cropped.
    context = browser.new_context(viewport=PHONE)  # scale 1: at 2, the headless canvas drew at twice the size, cropped
    context.add_init_script(CAPTURE_TERMINAL)
    context.route("**/fonts.googleapis.com/**", lambda route: route.abort())  # no internet here
    return context


def screen_text(page) -> str:
    return page.evaluate(SCREEN) or ""


def wait_text(page, *needles: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = screen_text(page)
        if all(n in text for n in needles):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{[n for n in needles if n not in text]!r} not on the phone after {timeout}s:\n{text}")
        time.sleep(0.1)


def click_text(page, needle: str) -> None:
    at = page.evaluate(CELL, needle)
    assert at is not None, f"{needle!r} is not on the phone:\n{screen_text(page)}"
    page.mouse.click(*at)
