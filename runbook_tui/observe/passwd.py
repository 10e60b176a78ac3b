"""Does a stack's Mosquitto passwd file still let its own .env's credentials in?

Mosquitto 2 writes `user:$7$ITERATIONS$SALT$HASH` (PBKDF2-HMAC-SHA512, base64) and older
releases `user:$6$SALT$HASH` (SHA-512 of password then salt). Checking the hash tells for
certain whether the file predates a credential change, which a file's age cannot. Done by
hand because no library reads Mosquitto's format; the secret never leaves this function.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path

from runbook_tui.files import PASSWD_CAP, read_bounded

MAX_ITERATIONS = 1_000_000  # a file that asks for more is not one mosquitto_passwd wrote


def passwd_admits(passwd: Path, username: str, password: str) -> bool | None:
    """True: the file has the user with this password; False: it has not (stale, or another
    user); None: it cannot be told (no file, no credentials, a format this does not know)."""
    if not username or not password:
        return None
    try:
        lines = read_bounded(passwd, PASSWD_CAP, "passwd file").decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    entry = next((line.split(":", 1)[1] for line in lines if line.split(":", 1)[0] == username and ":" in line), None)
    if entry is None:
        return False
    parts = entry.strip().split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            iterations, salt, want = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
            if not 0 < iterations <= MAX_ITERATIONS:
                return None
            got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=len(want))
        elif len(parts) == 4 and parts[1] == "6":
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            got = hashlib.sha512(password.encode() + salt).digest()
        else:
            return None
    except (ValueError, binascii.Error):
        return None
    return hmac.compare_digest(got, want)
