"""`runbook-tui base-image`: the Debian base the room stacks' images build FROM, on this host.

A site without a registry (as these machines are) cannot pull debian:bookworm-slim: the base
is built once with debootstrap from the host's own Debian mirror and imported as a local
image. Prints the image's name on standard output, for
`BASE_IMAGE=$(runbook-tui base-image) scripts/new-room-standby.sh ...`.
"""

from __future__ import annotations

import argparse
import sys


def add_image_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("base-image", help="the Debian base image for the room stacks: pulled, or built with debootstrap "
                                          "where no registry answers; prints its name")
    p.set_defaults(handler=_base_image)


def _base_image(_args: argparse.Namespace) -> int:
    from runbook_tui.lab.base_image import ensure_base_image
    from runbook_tui.lab.docker_cli import check_docker

    check_docker()  # a missing engine, or a base that cannot be made, raises LabError: said, exit 1
    name, how = ensure_base_image(lambda message: print(message, file=sys.stderr))
    print(f"base image {name}: {how}", file=sys.stderr)
    print(name)
    return 0
