#!/usr/bin/env bash
# Prepare a Debian 12 machine for runbook-tui and its lab, idempotently: Debian's Docker
# engine and compose v2, the lab's real parts (Mosquitto, dnsmasq, Postgres client,
# debootstrap, tmux), a running dockerd, and the project's virtualenv in .venv.
# Needs root (or sudo). Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs packages and starts dockerd)" >&2
  exit 1
fi
SUDO=
say() { echo "setup: $*"; }

packages=(docker.io mosquitto mosquitto-clients dnsmasq-base postgresql-client debootstrap tmux iproute2 procps ca-certificates
          openssl  # the TLS engine test makes its CA and certificates (tests/lab/test_81)
          openssh-client  # ssh:// engines: the Docker CLI's transport, which the tool's looks use too
          chromium)  # chromium: the browser the floor view's test drives (Playwright, no download)
# The interpreter .venv is made from: Debian's own python3 where it is 3.11 or newer. Debian builds
# it with profile-guided and link-time optimization; a python3 that a version manager (pyenv) or a
# hand build puts first on the PATH is usually built without, and was measured slower on these
# machines: a plain loop 1.0 s against 1.4-1.5 s, the fast test tiers 56-58 s against 62-64 s
# (python -m bench.tiers, same checkout). RUNBOOK_VENV_PYTHON names another; else python3.
is_usable_python() { [ -x "$1" ] && "$1" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; }
if [ -n "${RUNBOOK_VENV_PYTHON:-}" ]; then
  is_usable_python "$RUNBOOK_VENV_PYTHON" || { echo "setup: RUNBOOK_VENV_PYTHON=$RUNBOOK_VENV_PYTHON is not a Python 3.11 or newer" >&2; exit 1; }
  PY=$RUNBOOK_VENV_PYTHON
elif is_usable_python /usr/bin/python3; then
  PY=/usr/bin/python3
else
  PY=$(command -v python3 || true)
  is_usable_python "$PY" || { echo "setup: no Python 3.11 or newer (python3) found" >&2; exit 1; }
fi
# Debian's python3 needs python3-venv for `python3 -m venv`; another Python may have it built in.
"$PY" -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The sshd the ssh:// engine test starts on a port of its own (tests/lab/sshd.py). Installed
# without starting Debian's ssh service: a policy-rc.d that says no while the package installs
# (nothing listens on port 22 because of this project).
if ! dpkg-query -W -f='${Status}' openssh-server 2>/dev/null | grep -q "ok installed"; then
  say "installing openssh-server (its service is not started)"
  policy=/usr/sbin/policy-rc.d
  placed=false
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && placed=true; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null || install_failed=1
  if $placed; then rm -f "$policy"; fi
  [ -z "${install_failed:-}" ] || { echo "setup: openssh-server did not install" >&2; exit 1; }
fi
# The lab's brokers run in containers; a host broker on 127.0.0.1:1883 would take the
# primary's local port. Keep the binaries (mosquitto_passwd), not the service.
if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
  say "stopping and disabling the host's mosquitto service (the lab's brokers run in containers)"
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi

# Compose v2 is not in bookworm. Debian 13's docker-compose package (it depends only on
# libc6) installs on bookworm; fetch that one .deb without adding trixie to the sources.
if ! docker compose version >/dev/null 2>&1; then
  say "installing compose v2 (Debian 13's docker-compose package)"
  tmp=$(mktemp -d)
  # The host's own Debian mirror (the one its apt reaches); comments skipped, absent files fine.
  mirror=$(shopt -s nullglob; cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
  echo "deb ${mirror:-http://deb.debian.org/debian} trixie main" > "$tmp/sources.list"
  mkdir -p "$tmp/lists/partial"
  apt_tmp=(-o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$tmp/lists")
  $SUDO apt-get -qq "${apt_tmp[@]}" update 2>&1 | grep -v 'unsandboxed' || true
  (cd "$tmp" && $SUDO apt-get -qq "${apt_tmp[@]}" download docker-compose 2>&1 | grep -v 'unsandboxed' || true)
  ls "$tmp"/docker-compose_*.deb >/dev/null 2>&1 || { echo "setup: could not download Debian 13's docker-compose package" >&2; exit 1; }
  $SUDO dpkg -i "$tmp"/docker-compose_*.deb >/dev/null
  rm -rf "$tmp"
  docker compose version >/dev/null || { echo "setup: compose v2 did not install" >&2; exit 1; }
fi

# dockerd: through systemd where there is one, in the background otherwise (CI, containers).
if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    say "starting docker (systemd)"
    $SUDO systemctl start docker
  else
    say "starting dockerd in the background (log: /var/log/runbook-dockerd.log)"
    $SUDO bash -c 'nohup dockerd > /var/log/runbook-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/runbook-dockerd.log" >&2; exit 1; }
fi

# (Re)install when .venv is missing or pyproject.toml changed since the last install.
# A .venv made from another interpreter (before the choice above, or another RUNBOOK_VENV_PYTHON)
# is made again: its packages were built for that one.
base_of() { "$1" -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)), sys.version.split()[0])'; }
if [ -x .venv/bin/python ] && [ "$(base_of .venv/bin/python 2>/dev/null)" != "$(base_of "$PY")" ]; then
  say "making .venv again from $PY (it was made from $(base_of .venv/bin/python 2>/dev/null || echo 'an interpreter that no longer runs'))"
  rm -rf .venv
fi
stamp=.venv/.installed-from-pyproject.sha256
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing runbook-tui and its test tools into .venv ($("$PY" --version) from $PY)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v WARNING || true
  .venv/bin/pip install -q -e '.[test]' 2>&1 | grep -v WARNING || true
  (cd / && "$ROOT/.venv/bin/python" -c 'import runbook_tui, pytest, yaml, paho.mqtt.enums, importlinter, mypy') \
    || { echo "setup: the Python install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
# The package's bytecode, as an installed wheel has it. The editable install compiles a module
# the first time it is imported, and never where PYTHONDONTWRITEBYTECODE is set (as on these
# machines): then every start compiled the app again, about 50 ms before the first frame.
# Quick when nothing changed; a module edited later is compiled again on import, as usual.
.venv/bin/python -m compileall -q runbook_tui >/dev/null
say "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short | sed 's/^/compose /'), $ROOT/.venv"
