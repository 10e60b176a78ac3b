#!/usr/bin/env bash
# Restore a gzipped SQL backup into a stack's database, normally the standby's during a
# maintenance window (runbook section 5). Refuses a stack whose core has dispatch enabled
# (in .env or in the running container): that stack is live, and the restore would replace
# its records. --force overrides.
# It also refuses when the stack holds dispatches the backup lacks (a standby that dispatched
# during a promotion): the restore would lose them. It names them, notes them for readiness
# (.records-only-here in the stack's folder) and names the two honest ways on: copy them back
# to the primary first (scripts/copy-back-room-db.sh ROOM, then a new backup), or discard them
# as a decision, --discard-newer REASON, which restores anyway and records the discarded ids and
# the reason in the stack's .last-restore (readiness shows them; the run's journal keeps the output).
USAGE="usage: scripts/restore-room-db.sh ROOM-standby BACKUP.sql.gz [--force] [--discard-newer REASON]"
# This script's folder without a dirname process (the fuzz runs the scripts hundreds of times).
[[ $0 == */* ]] && SCRIPT_DIR=${0%/*} || SCRIPT_DIR=.
source "$SCRIPT_DIR/lib/common.sh"

force=false discard_reason="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=true; shift ;;
    --discard-newer) discard_reason=${2:-}; [ -n "$discard_reason" ] || usage_error "--discard-newer needs a reason"; shift 2 ;;
    -h|--help) echo "$USAGE"; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 2 ] || usage_error "expected a stack and a backup file"
stack=${args[0]} backup=${args[1]}
[[ "$stack" == *-primary || "$stack" == *-standby ]] \
  || usage_error "name the stack to overwrite explicitly, e.g. $stack-standby"
require_stack "$stack"
[ -f "$backup" ] || die "$backup: no such file"
gzip -t "$backup" 2>/dev/null || die "$backup: not a valid gzip file"

env_file=$(stack_dir "$stack")/.env
in_env=$(env_get "$env_file" CORE_DISPATCH_ENABLED)
core_id=$(compose_in "$stack" ps -q sentient-core 2>/dev/null || true)
in_container=""
if [ -n "$core_id" ]; then
  # Only this variable: the container's environment also holds the passwords.
  in_container=$(docker_on "$stack" inspect --format \
    '{{range .Config.Env}}{{if eq (index (split . "=") 0) "CORE_DISPATCH_ENABLED"}}{{index (split . "=") 1}}{{end}}{{end}}' \
    "$core_id" 2>/dev/null || true)
fi
is_true() { [[ "${1,,}" =~ ^(1|true|yes|on)$ ]]; }
if is_true "$in_env" || is_true "$in_container"; then
  if ! $force; then
    die "refusing to restore into $stack: its core has dispatch enabled (.env: ${in_env:-unset}, running container: ${in_container:-not running}). Restoring would replace a live stack's records. Disable dispatch first, or pass --force."
  fi
  say "restoring into $stack although its core has dispatch enabled (--force)" >&2
fi

db_user=$(env_get "$env_file" POSTGRES_USER)
db_name=$(env_get "$env_file" POSTGRES_DB)
[ -n "$(compose_in "$stack" ps -q --status running db 2>/dev/null)" ] \
  || die "the db service of $stack is not running; start it with (cd $(stack_dir "$stack") && docker compose --env-file .env up -d db)"
# Records only this stack has (dispatched here after the backup was taken) would be lost. A
# dispatch it rejected (dispatch disabled) did nothing in the room: not counted.
held=$(compose_in "$stack" exec -T db psql -tA -X -U "${db_user:-sentient}" -d "${db_name:-sentient}" \
  -c "select id from dispatches where status <> 'rejected' order by received_at" 2>/dev/null || true)
in_backup=$(gzip -dc "$backup" | awk '/^COPY [a-z_.]*dispatches /{on=1; next} on && /^\\\.$/{on=0} on{print $1}')
lost=$(comm -23 <(printf '%s\n' $held | sort -u) <(printf '%s\n' $in_backup | sort -u) | grep -av '^$' || true)
mark=$(stack_dir "$stack")/.records-only-here
room=${stack%-*}
if [ -n "$lost" ]; then
  count=$(printf '%s\n' "$lost" | wc -l)
  shown=$(printf '%s\n' "$lost" | head -10 | paste -sd, -)
  if [ -z "$discard_reason" ]; then
    printf '%s\n' "$lost" > "$mark"
    # A new backup of the primary cannot help with a record made on this stack: it is not there.
    die "refusing to restore into $stack: it holds $count dispatch(es) the backup lacks, which the restore would lose: $shown$([ "$count" -gt 10 ] && echo ", ..."). Either copy them back to the primary first (scripts/copy-back-room-db.sh $room, then a new backup: scripts/backup-room-db.sh $room), or discard them as a decision: --discard-newer REASON (the ids and the reason are recorded in $stack's .last-restore)."
  fi
  say "discarding $count dispatch(es) only $stack held ($shown): $discard_reason"
fi
# One transaction: a failed restore leaves the old data in place.
gzip -dc "$backup" | compose_in "$stack" exec -T db psql -q -X --single-transaction -v ON_ERROR_STOP=1 \
  -U "${db_user:-sentient}" -d "${db_name:-sentient}" >/dev/null \
  || die "restore into $stack failed; its database is unchanged"
# When (the file's time), from what, and what was discarded and why: readiness (runbook 5)
# shows them. One key a line; the reason on one line.
{
  echo "backup=$(basename "$backup")"
  if [ -n "$lost" ]; then
    echo "discarded=$(printf '%s\n' "$lost" | paste -sd, -)"
    echo "reason=$(printf '%s' "$discard_reason" | tr '\r\n' '  ')"
  fi
} > "$(stack_dir "$stack")/.last-restore"
rm -f "$mark"
say "restored $backup into $stack database ${db_name:-sentient}"
