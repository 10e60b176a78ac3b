# Shared helpers for the runbook's scripts. Sourced, not run.
# STACK_ROOT is the checkout holding infra/ (this repository by default, or an operator's own).

set -euo pipefail

# Paths are cut with bash's own expansions, not dirname and basename: a script's usage error is
# then one process, not five (the scripts' fuzz runs hundreds).
SCRIPTS_DIR=$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)
# The folder holding these scripts: the tool's checkout, or a site's stack root with a copy.
CHECKOUT=${SCRIPTS_DIR%/*}
CHECKOUT=${CHECKOUT:-/}
STACK_ROOT=${STACK_ROOT:-$CHECKOUT}
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

die() { terminal_safe "${0##*/}: $*" >&2; exit 1; }
# The reason last: a tool that shows a failed command's last line shows why, not the usage.
usage_error() { echo "$USAGE" >&2; terminal_safe "${0##*/}: $*" >&2; exit 2; }

# Whether a Python has the libraries: found on its path, not imported (importing python-dotenv
# alone is a third of a Python start; a script may look at five interpreters). 3: it has not
# (a package's parent missing is an ImportError).
_HAS_LIBRARIES='from importlib.util import find_spec
try:
    found = all(map(find_spec, ("runbook_tui", "dotenv", "paho.mqtt.enums")))
except ImportError:
    found = False
if not found:
    raise SystemExit(3)'
# The Pythons that may be the project's, in the order they are tried: the one RUNBOOK_TUI_PYTHON
# names; the one beside the runbook-tui on the PATH (a site's stack root is an operator's own
# checkout, without the tool's virtualenv; a symlink to the tool is followed); the virtualenv
# beside these scripts or in the stack root; python3. The project's is the first with runbook-tui
# and its libraries.
python_candidates() {
  local tool
  tool=$(command -v runbook-tui || true)
  [ -n "$tool" ] && tool=$(readlink -f "$tool") && tool="${tool%/*}/python" || tool=""
  printf '%s\n' "${RUNBOOK_TUI_PYTHON:-}" "$tool" "$CHECKOUT/.venv/bin/python" "$STACK_ROOT/.venv/bin/python" \
    "$(command -v python3 || true)"
}
runbook_python() {
  local py
  while IFS= read -r py; do
    if [ -n "$py" ] && [ -x "$py" ] && "$py" -c "$_HAS_LIBRARIES" 2>/dev/null; then
      echo "$py"; return 0
    fi
  done < <(python_candidates)
  return 1
}
# need_python: sets RUNBOOK_PY, once. Looking costs a Python start, so a script calls it after its
# usage checks (require_stack does): --help and a usage error start no Python. The first .env read
# finds it too (env_load), in the same start.
RUNBOOK_PY=
NO_PYTHON="no Python with runbook-tui's libraries found: put the tool's .venv/bin on the PATH or set RUNBOOK_TUI_PYTHON to its python (the tool's checkout: 'bash infra/host/setup.sh')"
need_python() {
  [ -n "$RUNBOOK_PY" ] && return 0
  RUNBOOK_PY=$(runbook_python) || die "$NO_PYTHON"
}

# A script reads each .env file once, the first time it needs it: one Python start (python-dotenv's
# parser, as compose and the tool read it), where a read per value took one each (copy-back-room-db.sh
# took sixteen). What the script acts on is the file as it was then. ENV_KEYS[FILE] holds its keys,
# a line each; ENV_VALUE[FILE<US>KEY] each value. A file the tool will not read (runbook_tui.envfile:
# a regular file within its cap, UTF-8) is said in a line, never a traceback, and returns 1.
declare -gA ENV_KEYS=() ENV_VALUE=()
# The reader's output: the number of keys, then each key and its value, NUL-terminated (a value may
# hold a newline; no value holds a NUL).
_READ_ENV='import sys
from pathlib import Path
from runbook_tui.envfile import read_env
from runbook_tui.terminal import safe_text
try:
    values = read_env(Path(sys.argv[1]))
except (OSError, ValueError) as exc:
    said = str(exc) if sys.argv[1] in str(exc) else f"{sys.argv[1]}: {getattr(exc, 'strerror', None) or exc}"
    print(safe_text(said, 2000), file=sys.stderr)
    raise SystemExit(1)
sys.stdout.write("".join(f"{field}\0" for pair in values.items() for field in pair) + f"{len(values)}\0")'
# env_load FILE: reads FILE into ENV_KEYS and ENV_VALUE, unless this shell has. Called in the
# script's own shell (require_stack does), later reads in $(...) find it there.
env_load() {
  local file=$1 i py status=3
  local -a fields=()
  [ -n "${ENV_KEYS[$file]+set}" ] && return 0
  if [ -n "$RUNBOOK_PY" ]; then
    mapfile -d '' fields < <("$RUNBOOK_PY" -c "$_READ_ENV" "$file")
  else
    # No Python chosen yet: each candidate is asked to read the file, and the first with the
    # libraries does (exit 3: it has not, and said nothing). One Python start, where a look
    # and then a read took two. Inside $(...) the one found is not kept.
    while IFS= read -r py; do
      [ -n "$py" ] && [ -x "$py" ] || continue
      mapfile -d '' fields < <("$py" -c "$_HAS_LIBRARIES"$'\n'"$_READ_ENV" "$file")
      wait "$!" && status=0 || status=$?
      [ "$status" -ne 3 ] && RUNBOOK_PY=$py && break
    done < <(python_candidates)
    [ "$status" -ne 3 ] || die "$NO_PYTHON"
  fi
  # The count comes last: output cut short (the reader failed) has no count that matches it.
  [ ${#fields[@]} -ge 1 ] && [ "${fields[-1]}" = $(( (${#fields[@]} - 1) / 2 )) ] && [ $(( ${#fields[@]} % 2 )) -eq 1 ] \
    || return 1
  ENV_KEYS[$file]=""
  for ((i = 0; i + 1 < ${#fields[@]}; i += 2)); do
    ENV_KEYS[$file]+="${fields[i]}"$'\n'
    ENV_VALUE[$file$'\x1f'${fields[i]}]=${fields[i + 1]}
  done
}

# env_get FILE KEY: the value of KEY in a .env file ("" when it is not set).
env_get() {
  env_load "$1" || return 1
  printf '%s\n' "${ENV_VALUE[$1$'\x1f'$2]-}"
}

# env_keys FILE: the keys a .env file sets, one a line.
env_keys() {
  env_load "$1" || return 1
  printf '%s' "${ENV_KEYS[$1]}"
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
  # Read here, in the script's own shell, once: every later read of it is this copy.
  env_load "$dir/.env" || exit 1
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
  local name=$1 dir key engine keys; shift
  dir=$(stack_dir "$name")
  engine=$(engine_of "$name")
  keys=$(env_keys "$dir/.env") || true  # said on stderr; compose reads the file itself
  (
    cd "$dir"
    while IFS= read -r key; do [ -n "$key" ] && unset "$key"; done <<< "$keys"
    if [ -n "$engine" ]; then export DOCKER_HOST=$engine; fi
    docker compose --env-file .env "$@"
  )
}
