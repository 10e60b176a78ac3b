"""The Debian base every lab image builds FROM.

Where a registry answers, the public debian:bookworm-slim is used. Where none does (these
machines), a minimal bookworm is built with debootstrap from the Debian mirror the host
already uses and imported as a local image, once; later runs find it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from runbook_tui.lab.docker_cli import image_exists
from runbook_tui.lab.errors import LabError

PUBLIC_BASE = "debian:bookworm-slim"
LOCAL_BASE = "runbook-tui/debian:bookworm"  # a site's .env names it too: the tool's name, not the lab's
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def debian_mirror(sources: tuple[Path, ...] = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))) -> str:
    """The host's own Debian mirror (the one its apt already reaches)."""
    files: list[Path] = []
    for src in sources:
        files += sorted(src.glob("*")) if src.is_dir() else [src]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        for url in re.findall(r"(?:URIs:|^deb)\s+(?:\[[^\]]*\]\s+)?(\S+)", text, flags=re.M):
            if url.rstrip("/").endswith("/debian"):
                return url.rstrip("/")
    return DEFAULT_MIRROR


def ensure_base_image(report: Callable[[str], None], pull_timeout_s: float = 30.0) -> tuple[str, str]:
    """(image name, how it was obtained)."""
    for name in (PUBLIC_BASE, LOCAL_BASE):
        if image_exists(name):
            return name, "already present"
    try:
        pulled = subprocess.run(["docker", "pull", "-q", PUBLIC_BASE], capture_output=True, timeout=pull_timeout_s)
        if pulled.returncode == 0:
            return PUBLIC_BASE, "pulled from the registry"
    except subprocess.TimeoutExpired:
        pass
    if shutil.which("debootstrap") is None:
        raise LabError("no registry answers and debootstrap is not installed (apt-get install debootstrap)")
    mirror = debian_mirror()
    report(f"no registry answers: building {LOCAL_BASE} with debootstrap from {mirror} (about a minute)")
    with tempfile.TemporaryDirectory(prefix="runbook-lab-rootfs-") as rootfs:
        boot = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror], capture_output=True, text=True
        )
        if boot.returncode != 0:
            raise LabError("debootstrap failed:\n" + "\n".join(boot.stdout.splitlines()[-10:] + boot.stderr.splitlines()[-10:]))
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", LOCAL_BASE], stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise LabError(f"docker import failed: {imported.stderr.strip()}")
    return LOCAL_BASE, "built locally with debootstrap"
