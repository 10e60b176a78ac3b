"""Masking covers the encodings a secret takes in output, across lines and colour codes, and
short secrets (issue: hostile input; each case leaked before)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
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


# ---- every form a secret can take in a command's output -------------------------------------
# Each case: the bytes a command prints. Run through run_command (as a step's output is), none
# may show 8 characters of the secret in any spelling. Each case but "as is" leaked before.
PASSWORD = "Qx7-mB2!vR9/kL4@wZ1#pN6$tH3%dF8^"  # 32 characters, as on the site
NON_ASCII = "pässwörd-Ωmega-4711"
API_KEY = "ak_live_7f3c2e9a1b4d6f8e0c2a"
PRIVATE_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


def _xxd(data: bytes, lead: bytes = b"") -> bytes:
    out, data = [], lead + data
    for at in range(0, len(data), 16):
        row = data[at:at + 16]
        groups = " ".join(row[i:i + 2].hex() for i in range(0, len(row), 2))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        out.append(f"{at:08x}: {groups:<39}  {text}")
    return ("\n".join(out) + "\n").encode()


def _hexdump_c(data: bytes, lead: bytes = b"") -> bytes:
    out, data = [], lead + data
    for at in range(0, len(data), 16):
        row = data[at:at + 16]
        pairs = [f"{b:02x}" for b in row]
        hexes = " ".join(pairs[:8]) + ("  " + " ".join(pairs[8:]) if len(pairs) > 8 else "")
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        out.append(f"{at:08x}  {hexes:<48}  |{text}|")
    return ("\n".join(out) + "\n").encode()


P = PASSWORD.encode()
FORM_CASES = {
    # form (a key of secrets.FORMS): {case id: the bytes a command prints}
    "as is": {"as is": b"password: " + P + b"\n"},
    "long lines": {"straddles the cut": b"x" * 3984 + P + b" tail\n",
                   "straddles a piece of an endless line": b"y" * 15990 + P + b"z" * 30000 + b"\n"},
    "over lines": {"three lines": P[:11] + b"\n" + P[11:22] + b"\n" + P[22:] + b"\n",
                   "one character a line": b"\n".join(bytes([c]) for c in P) + b"\n",
                   "a lone CR": P[:16] + b"\r" + P[16:] + b"\n",
                   "base64 wrapped": base64.encodebytes(b"prefix " + P * 3)},
    "escape sequences": {"8-bit CSI": P[:16] + "\u009b31m".encode() + P[16:] + b"\n",
                         "8-bit CSI as a raw byte": P[:16] + b"\x9b31m" + P[16:] + b"\n",
                         "7-bit CSI": P[:5] + b"\x1b[1;31m" + P[5:] + b"\x1b[0m\n"},
    "base64": {"HTTP Basic": b"Authorization: Basic " + base64.b64encode(b"sentient:" + P) + b"\n"},
    "JSON": {"JSON-escaped": json.dumps({"pw": NON_ASCII + '"'}).encode() + b"\n"},
    "shell-quoted": {"shlex.quote": f"MQTT_PASSWORD={shlex.quote(PASSWORD)} cmd".encode() + b"\n"},
    "URL-encoded": {"lower-case %xx": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(),
                                              quote(PASSWORD, safe="")).encode() + b"\n"},
    "hex": {"spaced": b"bytes: " + P.hex(" ").encode() + b"\n",
            "spaced upper-case": P.hex(" ").upper().encode() + b"\n",
            r"\x escapes": "".join(rf"\x{b:02x}" for b in P).encode() + b"\n"},
    "hex dump": {"xxd": _xxd(P, b"abc"), "xxd odd alignment": _xxd(P, b"abcd1"),
                 "hexdump -C": _hexdump_c(P, b"0123456"), "hexdump -C aligned": _hexdump_c(P)},
    "invisible characters": {"zero-width spaces": "\u200b".join(PASSWORD).encode() + b"\n",
                             "soft hyphens and joiners": "\u00ad\u2060".join(PASSWORD).encode() + b"\n"},
    "overstrike": {"bold": b"".join(bytes([c]) + b"\b" + bytes([c]) for c in P) + b"\n",
                   "underline": b"".join(b"_\b" + bytes([c]) for c in P) + b"\n"},
    "Python": {"ascii()": ascii(NON_ASCII).encode() + b"\n", "repr() of bytes": repr(NON_ASCII.encode()).encode() + b"\n"},
    "secret keys": {"CORE_API_KEY": b"api key " + API_KEY.encode() + b"\n"},
    "private keys": {"PEM block printed": b"-----BEGIN PRIVATE KEY-----\n" + PRIVATE_KEY_BODY.encode() + b"\n"
                     + b"bm90IGEgcmVhbCBrZXkgYnV0IGxvbmcgZW5vdWdoIHRvIG1hdHRlcg==\n-----END PRIVATE KEY-----\n"},
}
CASES = [pytest.param(form, shown, id=f"{form}: {case}") for form, cases in FORM_CASES.items() for case, shown in cases.items()]


def _visible(text: str) -> str:
    text = re.sub(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x80-\x9f][0-?]*[ -/]*[@-~]?|\ufffd[0-?]*[ -/]*[@-~]", "", text)
    text = re.sub(r"[^\n]\x08", "", text)
    return re.sub(r"[\n\r\u200b-\u200f\u2060\u00ad]", "", text)


def _leaks(lines: list[str], secret: str) -> list[str]:
    """The 8-character pieces of the secret (as text, hex, URL-encoded, ascii()) that can be read."""
    seen = _visible("\n".join(lines))
    hexes = re.sub(r"[^0-9a-f]", "", seen.lower())
    texts = [secret, quote(secret, safe="").lower(), ascii(secret)[1:-1]]
    found = [t[i:i + 8] for t in texts for i in range(len(t) - 7) if t[i:i + 8].lower() in seen.lower()]
    found += [h[i:i + 12] for h in (secret.encode().hex(),) for i in range(len(h) - 11) if h[i:i + 12] in hexes]
    # A dump's text column, read down its lines.
    columns = "".join(m.group(1) for m in re.finditer(r"\|(.*)\|$|  (.{1,16})$", "\n".join(lines), re.M) if m.group(1))
    found += [secret[i:i + 6] for i in range(len(secret) - 5) if secret[i:i + 6] in columns]
    return found


def _site_env(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(f"MQTT_USERNAME=sentient\nMQTT_PASSWORD={json.dumps(PASSWORD)}\n"
                    f"POSTGRES_PASSWORD={json.dumps(NON_ASCII, ensure_ascii=False)}\n"
                    f"CORE_API_KEY={API_KEY}\n")
    return path


@pytest.mark.parametrize("form, shown", CASES)
def test_a_secret_in_command_output_is_masked_in_every_form(form: str, shown: bytes, tmp_path: Path):
    (tmp_path / "out.bin").write_bytes(shown)
    seen: list[str] = []
    result = asyncio.run(run_command("cat out.bin", tmp_path, timeout_s=10, masker=Masker.from_env_files([_site_env(tmp_path)]),
                                     on_line=seen.append))
    assert result.exit_code == 0 and list(result.output_tail) == seen[-len(result.output_tail):]
    for secret in (PASSWORD, NON_ASCII, API_KEY, PRIVATE_KEY_BODY):
        assert not _leaks(seen, secret), (form, secret, _leaks(seen, secret), seen[:5])
    assert any("•" in line for line in seen) or form == "long lines", seen[:5]  # an endless line's mask may be cut off


def test_the_readme_table_lists_every_form_the_tests_cover():
    from runbook_tui import secrets

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("### Masking: every form of a secret", 1)[1].split("\n#", 1)[0]
    rows = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "---" not in line}
    assert set(FORM_CASES) <= set(secrets.FORMS), set(FORM_CASES) - set(secrets.FORMS)
    assert rows - {"form"} == set(secrets.FORMS), rows ^ set(secrets.FORMS)
    for form in FORM_CASES:
        assert all(case in table for case in FORM_CASES[form]), form


def test_real_hex_dumps_are_masked(tmp_path: Path):
    import shutil

    tools = [t for t in ("xxd", "hexdump -C", "xxd -u", "xxd -g1") if shutil.which(t.split()[0])]
    if not tools:
        pytest.skip("neither xxd nor hexdump on this host")
    masker = Masker.from_env_files([_site_env(tmp_path)])
    for tool in tools:
        seen: list[str] = []
        command = f"printf '%s' {shlex.quote('lead ' + PASSWORD + ' trail')} | {tool}"
        asyncio.run(run_command(command, tmp_path, timeout_s=10, masker=masker, on_line=seen.append))
        assert len(seen) >= 3 and not _leaks(seen, PASSWORD), (tool, seen)


def test_which_keys_are_secret_defaults_and_a_sites_own():
    from runbook_tui.secrets import SECRET_KEY

    for key in ("MQTT_PASSWORD", "CORE_API_KEY", "PRIVATE_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "DB_CREDENTIALS",
                "ssh_passphrase"):
        assert SECRET_KEY.search(key), key
    for key in ("MQTT_USERNAME", "ROOM_ID", "MQTT_PORT", "CORE_TOPIC_DEVICES", "DOOR_PIN"):
        assert not SECRET_KEY.search(key), key
    try:
        SECRET_KEY.use_site_keys(["*_PIN"])
        assert SECRET_KEY.search("DOOR_PIN") and SECRET_KEY.search("door_pin") and SECRET_KEY.search("MQTT_PASSWORD")
    finally:
        SECRET_KEY.use_site_keys(())
    assert not SECRET_KEY.search("DOOR_PIN")


def test_a_sites_secret_keys_setting_masks_their_values(tmp_path: Path):
    from runbook_tui.secrets import SECRET_KEY
    from runbook_tui.settings import SettingsError, load_settings

    (tmp_path / "infra").mkdir()
    settings = tmp_path / "site.toml"
    settings.write_text('stack_root = "."\nsecret_keys = ["*_PIN"]\n[dns]\nresolvers = ["10.0.0.1"]\n')
    env = tmp_path / ".env"
    env.write_text("DOOR_PIN=8841-2277\n")
    try:
        assert load_settings(settings).secret_keys == ("*_PIN",)
        assert MASK in Masker.from_env_files([env]).mask("pin 8841-2277")
    finally:
        SECRET_KEY.use_site_keys(())
    assert "8841-2277" in Masker.from_env_files([env]).mask("pin 8841-2277")
    settings.write_text('stack_root = "."\nsecret_keys = ["DOOR PIN"]\n[dns]\nresolvers = ["10.0.0.1"]\n')
    with pytest.raises(SettingsError, match="secret_keys"):
        load_settings(settings)


def test_a_pem_private_key_in_an_env_value_is_a_secret_whatever_its_key(tmp_path: Path):
    env = tmp_path / ".env"
    env.write_text(f'TLS_MATERIAL="-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END PRIVATE KEY-----"\n')
    masked = Masker.from_env_files([env]).mask(f"cert body {PRIVATE_KEY_BODY}")
    assert PRIVATE_KEY_BODY[:12] not in masked and MASK in masked


def test_streamed_output_in_small_chunks_masks_a_secret_across_them():
    from runbook_tui.secrets import StreamMasker

    stream = StreamMasker(Masker([PASSWORD]))
    text = f"one\nthe password is {PASSWORD} ok\n{PASSWORD[:9]}\n{PASSWORD[9:20]}\n{PASSWORD[20:]}\nend\n"
    out = [line for i in range(0, len(text), 3) for line in stream.feed(text[i:i + 3])] + stream.flush()
    assert out[0] == "one" and out[-1] == "end" and len(out) == 6
    assert not _leaks(out, PASSWORD)


def test_a_secret_straddling_two_pieces_of_an_endless_line_is_masked_in_both():
    from runbook_tui.secrets import StreamMasker

    stream = StreamMasker(Masker([PASSWORD]), piece_chars=100)
    text = "y" * 90 + PASSWORD + "z" * 300
    out = [line for i in range(0, len(text), 7) for line in stream.feed(text[i:i + 7])] + stream.flush()
    assert len(out) >= 3 and "".join(out).startswith("y" * 90 + MASK) and not _leaks(out, PASSWORD)
