"""Masking covers the encodings a secret takes in output, across lines and colour codes, and
short secrets (issue: hostile input; each case leaked before)."""

from __future__ import annotations

import asyncio
import base64
import json
import shlex
from pathlib import Path
from urllib.parse import quote

import pytest

from runbook_tui.engine.shell import run_command
from runbook_tui.secrets import MASK, LineMasker, Masker

SECRET = "it's-a-s3cret&/@:#"


@pytest.mark.parametrize("shown", [
    SECRET,
    quote(SECRET, safe=""),                                    # URL-encoded (a password in mqtt://user:pass@host)
    base64.b64encode(f"sentient:{SECRET}".encode()).decode(),  # HTTP Basic
    base64.b64encode(b"x" + SECRET.encode() + b"yz").decode(),  # base64, another alignment inside a blob
    base64.urlsafe_b64encode(b"ab" + SECRET.encode()).decode(),
    SECRET.encode().hex(),
    json.dumps({"password": SECRET}),                          # JSON-escaped (none here, but quotes would be)
    json.dumps(SECRET + '"\\'),
    f"MQTT_PASSWORD={shlex.quote(SECRET)} scripts/core-dispatch.sh",  # shell-quoted in a journaled command line
    f"\x1b[31m{SECRET[:5]}\x1b[0m{SECRET[5:]}",                # split by colour codes
])
def test_each_spelling_of_a_secret_is_masked(shown: str):
    masker = Masker([SECRET, f"sentient:{SECRET}"])
    masked = masker.mask(f"before {shown} after")
    assert MASK in masked
    for form in (SECRET, SECRET[2:-2], quote(SECRET, safe="")[3:-3], SECRET.encode().hex()[4:-4]):
        assert form not in masked, (shown, masked)


def test_a_secret_split_across_two_lines_is_masked_in_both():
    lines = LineMasker(Masker([SECRET]))
    out = lines.feed("token: it's-a-") + lines.feed("s3cret&/@:# end") + lines.feed("plain") + lines.flush()
    assert out == [f"token: {MASK}", f"{MASK} end", "plain"]
    quiet = LineMasker(Masker([SECRET]))
    assert quiet.feed("it's") + quiet.feed("nothing more") + quiet.flush() == ["it's", "nothing more"]


def test_short_secrets_are_masked_as_whole_words_only():
    masker = Masker(["ab1"])
    assert masker.mask("password ab1, and cab1e") == f"password {MASK}, and cab1e"


def test_a_command_printing_the_secret_in_pieces_is_masked_on_screen_and_in_the_tail(tmp_path: Path):
    seen: list[str] = []
    command = f"printf '%s\\n' {shlex.quote(SECRET[:6])}; printf '%s\\n' {shlex.quote(SECRET[6:] + ' done')}; " \
              f"printf '%s' {shlex.quote(SECRET)} | base64"
    result = asyncio.run(run_command(command, tmp_path, timeout_s=10, masker=Masker.from_env_files([_env(tmp_path)]),
                                     on_line=seen.append))
    assert result.exit_code == 0
    text = "\n".join(seen)
    assert SECRET[:6] not in text and SECRET[6:] not in text and base64.b64encode(SECRET.encode()).decode()[:12] not in text
    assert seen[1].endswith(" done") and list(result.output_tail) == seen


def _env(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(f"MQTT_USERNAME=sentient\nMQTT_PASSWORD={json.dumps(SECRET)}\n")
    return path
