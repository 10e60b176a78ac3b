# Shared helpers for the runbook's scripts. Sourced, not run.
# STACK_ROOT is the checkout holding infra/ (this repository by default, or an operator's own).

set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_ROOT=${STACK_ROOT:-$(dirname "$SCRIPTS_DIR")}
ROOMS_DIR=${ROOMS_DIR:-$STACK_ROOT/infra/rooms}

# terminal_safe TEXT...: TEXT with every control character (C0 but tab and newline, DEL, C1
# as UTF-8, bidirectional overrides and isolates) and every byte that is not part of valid
# UTF-8 (a raw 0x9B is the 8-bit CSI of a terminal not in UTF-8 mode) replaced by U+FFFD, the
# rule the tool's own output follows (runbook_tui/terminal.py): a message quoting an argument or
# a .env value must not retitle, clear or reorder the operator's terminal. Pure bash on the
# bytes (LC_ALL=C: patterns and lengths count bytes): it runs before any Python is found.
_UTF8_VALID=$'([\x01-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf][\x80-\xbf]|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf][\x80-\xbf]|[\xf1-\xf3][\x80-\xbf][\x80-\xbf][\x80-\xbf]|\xf4[\x80-\x8f][\x80-\xbf][\x80-\xbf])*'
terminal_safe() {
  local LC_ALL=C text="$*" bad=$'\xef\xbf\xbd' rest
  if [[ $text == *[$'\x80'-$'\xff']* ]]; then
    # The longest valid UTF-8 prefix is kept, the byte after it replaced, and on from there.
    rest=$text text=""
    while [ -n "$rest" ]; do
      [[ $rest =~ ^$_UTF8_VALID ]]
      text+=${BASH_REMATCH[0]}
      rest=${rest:${#BASH_REMATCH[0]}}
      if [ -n "$rest" ]; then text+=$bad; rest=${rest:1}; fi
    done
  fi
  text=${text//[$'\x01'-$'\x08'$'\x0b'-$'\x1f'$'\x7f']/$bad}
  text=${text//$'\xc2'[$'\x80'-$'\x9f']/$bad}
  text=${text//$'\xe2\x80'[$'\xaa'-$'\xae']/$bad}
  text=${text//$'\xe2\x80'[$'\x8e'-$'\x8f']/$bad}  # U+200E/F, the bidi marks
  text=${text//$'\xd8\x9c'/$bad}  # U+061C, the Arabic letter mark
  text=${text//$'\xe2\x81'[$'\xa6'-$'\xa9']/$bad}
  printf '%s\n' "$text"
}
# say TEXT...: a line of a script's output that quotes anything it was given.
say() { terminal_safe "$@"; }

die() { terminal_safe "$(basename "$0"): $*" >&2; exit 1; }
# The reason last: a tool that shows a failed command's last line shows why, not the usage.
usage_error() { echo "$USAGE" >&2; terminal_safe "$(basename "$0"): $*" >&2; exit 2; }

# The project's Python, the first of these that has runbook-tui and its libraries: the one
# RUNBOOK_TUI_PYTHON names; the one beside the runbook-tui on the PATH (a site's stack root is
# an operator's own checkout, without the tool's virtualenv; a symlink to the tool is followed);
# the virtualenv beside these scripts or in the stack root; python3.
runbook_python() {
  local py tool
  tool=$(command -v runbook-tui || true)
  [ -n "$tool" ] && tool="$(dirname "$(readlink -f "$tool")")/python"
  for py in "${RUNBOOK_TUI_PYTHON:-}" "$tool" "$(dirname "$SCRIPTS_DIR")/.venv/bin/python" "$STACK_ROOT/.venv/bin/python" \
            "$(command -v python3 || true)"; do
    if [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import dotenv, paho.mqtt.enums, runbook_tui' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}
# need_python: sets RUNBOOK_PY, once. Looking costs a Python start, so a script calls it after its
# usage checks (require_stack does): --help and a usage error start no Python. The readers below
# call it too, for a script that did not; inside $(...) what they find is not kept.
RUNBOOK_PY=
need_python() {
  [ -n "$RUNBOOK_PY" ] && return 0
  RUNBOOK_PY=$(runbook_python) \
    || die "no Python with runbook-tui's libraries found: put the tool's .venv/bin on the PATH or set RUNBOOK_TUI_PYTHON to its python (the tool's checkout: 'bash infra/host/setup.sh')"
}

# env_get FILE KEY: the value of KEY in a .env file, parsed by python-dotenv (the same rules
# compose and the tool use), so quoting and comments are read the same way everywhere. Read as
# the tool reads it (runbook_tui.envfile: a regular file within its cap, UTF-8): a file it will
# not read is said in a line (exit 1), never a traceback.
env_get() {
  need_python
  "$RUNBOOK_PY" - "$1" "$2" <<'PY'
import sys
from pathlib import Path
from runbook_tui.envfile import read_env
from runbook_tui.terminal import safe_text
try:
    print(read_env(Path(sys.argv[1])).get(sys.argv[2]) or "")
except (OSError, ValueError) as exc:
    said = str(exc) if sys.argv[1] in str(exc) else f"{sys.argv[1]}: {getattr(exc, 'strerror', None) or exc}"
    print(safe_text(said, 2000), file=sys.stderr)
    raise SystemExit(1)
PY
}

# stack_dir NAME: the directory of a stack (room1-primary, room1-standby).
stack_dir() { echo "$ROOMS_DIR/$1"; }

require_stack() {
  local dir
  # A stack is named ROOM-primary or ROOM-standby, a room id as the tool checks it: never a path
  # (../ would reach outside the stack root).
  [[ "$1" =~ ^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?-(primary|standby)$ ]] \
    || usage_error "'$1' is not a stack name (ROOM-primary or ROOM-standby; a room id is lower-case letters, digits, inner dashes)"
  dir=$(stack_dir "$1")
  [ -f "$dir/.env" ] || die "no stack '$1': $dir/.env does not exist (create it with scripts/new-room-standby.sh ROOM)"
  [ -f "$dir/compose.yaml" ] || die "no stack '$1': $dir/compose.yaml does not exist"
  need_python
}

# env_keys FILE: the keys a .env file sets, one a line.
env_keys() {
  need_python
  "$RUNBOOK_PY" - "$1" <<'PY'
import sys
from pathlib import Path
from runbook_tui.envfile import read_env
from runbook_tui.terminal import safe_text
try:
    print("\n".join(read_env(Path(sys.argv[1]))))
except (OSError, ValueError) as exc:
    said = str(exc) if sys.argv[1] in str(exc) else f"{sys.argv[1]}: {getattr(exc, 'strerror', None) or exc}"
    print(safe_text(said, 2000), file=sys.stderr)
    raise SystemExit(1)
PY
}

# engine_of NAME: the Docker engine a stack's commands go to. The tool exports each stack's
# engine from the site settings (RUNBOOK_PRIMARY_DOCKER_HOST, RUNBOOK_STANDBY_DOCKER_HOST): on a
# venue the two stacks live on two hosts. Neither set: DOCKER_HOST as the caller has it.
engine_of() {
  case "$1" in
    *-primary) echo "${RUNBOOK_PRIMARY_DOCKER_HOST:-${DOCKER_HOST:-}}" ;;
    *-standby) echo "${RUNBOOK_STANDBY_DOCKER_HOST:-${DOCKER_HOST:-}}" ;;
    *) echo "${DOCKER_HOST:-}" ;;
  esac
}

# docker_on NAME ARGS...: docker on a stack's engine.
docker_on() {
  local engine; engine=$(engine_of "$1"); shift
  if [ -n "$engine" ]; then DOCKER_HOST=$engine docker "$@"; else docker "$@"; fi
}

# compose_in NAME ARGS...: docker compose in a stack's directory, on its engine, the way the
# runbook runs it. Compose lets exported shell variables win over .env; the stack's .env is its
# truth, so the keys it sets are unset for this call (an exported STACK_ROLE would act on
# another project).
compose_in() {
  local name=$1 dir key engine; shift
  dir=$(stack_dir "$name")
  engine=$(engine_of "$name")
  (
    cd "$dir"
    while IFS= read -r key; do [ -n "$key" ] && unset "$key"; done < <(env_keys .env)
    if [ -n "$engine" ]; then export DOCKER_HOST=$engine; fi
    docker compose --env-file .env "$@"
  )
}
