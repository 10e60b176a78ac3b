#!/usr/bin/env bash
# Copy the dispatch records a room's standby holds and its primary lacks (made while the
# standby was the active stack: the promotion's smoke test, the room's play) into the primary's
# database (runbook section 5, keeping the standby current after a promotion). It adds rows
# the primary lacks and changes none it has. Afterwards a new backup of the primary carries
# them, and restoring it into the standby loses nothing.
#   scripts/copy-back-room-db.sh room1           copy them
#   scripts/copy-back-room-db.sh room1 --check   only name them (and note them for readiness)
# Both databases must be running; only the db service is needed, no core.
USAGE="usage: scripts/copy-back-room-db.sh ROOM [--check]"
# This script's folder without a dirname process (the fuzz runs the scripts hundreds of times).
[[ $0 == */* ]] && SCRIPT_DIR=${0%/*} || SCRIPT_DIR=.
source "$SCRIPT_DIR/lib/common.sh"

check=false args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=true; shift ;;
    -h|--help) echo "$USAGE"; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 1 ] || usage_error "expected one room"
room=${args[0]} primary=${args[0]}-primary standby=${args[0]}-standby
# Each reads its stack's .env, once: a file the tool will not read (not UTF-8, a FIFO) stops the
# copy here with why, where psql_in, called under ||, would go on with the default user.
require_stack "$primary"
require_stack "$standby"
for stack in "$primary" "$standby"; do
  [ -n "$(compose_in "$stack" ps -q --status running db 2>/dev/null)" ] \
    || die "the db service of $stack is not running; start only it with (cd $(stack_dir "$stack") && docker compose --env-file .env up -d db)"
done

# psql_in STACK ARGS...: psql in a stack's database, as its .env names it.
psql_in() {
  local stack=$1 env_file user db; shift
  env_file=$(stack_dir "$stack")/.env
  user=$(env_get "$env_file" POSTGRES_USER) db=$(env_get "$env_file" POSTGRES_DB)
  compose_in "$stack" exec -T db psql -X -v ON_ERROR_STOP=1 -U "${user:-sentient}" -d "${db:-sentient}" "$@"
}
# The records restore-room-db.sh counts: a dispatch the core rejected did nothing in the room.
held() { psql_in "$1" -tA -c "select id from dispatches where status <> 'rejected'"; }
standby_ids=$(held "$standby") || die "cannot read the dispatch records of $standby"
primary_ids=$(psql_in "$primary" -tA -c "select id from dispatches") || die "cannot read the dispatch records of $primary"
only=$(comm -23 <(printf '%s\n' "$standby_ids" | sort -u) <(printf '%s\n' "$primary_ids" | sort -u) | grep -av '^$' || true)
# What readiness shows: the records only the standby holds, as this comparison found them.
mark=$(stack_dir "$standby")/.records-only-here
if [ -z "$only" ]; then
  rm -f "$mark"
  say "$standby holds no dispatch record $primary lacks"
  exit 0
fi
count=$(printf '%s\n' "$only" | wc -l)
shown=$(printf '%s\n' "$only" | head -10 | paste -sd, -)
if [ "$count" -gt 10 ]; then shown="$shown, ..."; fi
if $check; then
  printf '%s\n' "$only" > "$mark"
  say "$standby holds $count dispatch record(s) $primary lacks: $shown"
  say "copy them back: scripts/copy-back-room-db.sh $room (then a new backup: scripts/backup-room-db.sh $room);" \
       "or discard them as a decision: scripts/restore-room-db.sh $standby BACKUP --discard-newer REASON"
  exit 0
fi

export_file=$(mktemp)
trap 'rm -f "$export_file"' EXIT
psql_in "$standby" -q -c "copy (select * from dispatches where status <> 'rejected') to stdout" > "$export_file" \
  || die "export from $standby failed; nothing was copied"
# One transaction: rows the primary has (by id) are left as they are; the ids are never part
# of the SQL text.
copied=$( { echo "create temp table incoming (like dispatches);"
            echo "copy incoming from stdin;"
            cat "$export_file"
            printf '%s\n' '\.'
            echo "insert into dispatches select * from incoming on conflict (id) do nothing returning id;"
          } | psql_in "$primary" -q -tA --single-transaction) \
  || die "copy into $primary failed; its database is unchanged"
rm -f "$mark"
n=$(printf '%s\n' "$copied" | grep -a -c -v '^$' || true)
say "copied $n dispatch record(s) from $standby into $primary: $(printf '%s\n' "$copied" | grep -av '^$' | head -10 | paste -sd, -)"
say "next: a new backup of the primary (scripts/backup-room-db.sh $room), then restore it into the standby"
