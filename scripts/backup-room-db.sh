#!/usr/bin/env bash
# Dump a room's database (the primary's, unless a stack is named) to a gzipped SQL file
# (runbook section 5). Prints the backup's path on stdout.
#   scripts/backup-room-db.sh room1            -> the room1-primary database
#   scripts/backup-room-db.sh room1-standby    -> that stack's database
# BACKUP_DIR chooses the folder (default: backups/ in the stack root).
USAGE="usage: scripts/backup-room-db.sh ROOM|ROOM-primary|ROOM-standby"
# This script's folder without a dirname process (the fuzz runs the scripts hundreds of times).
[[ $0 == */* ]] && SCRIPT_DIR=${0%/*} || SCRIPT_DIR=.
source "$SCRIPT_DIR/lib/common.sh"

[ $# -eq 1 ] || usage_error "expected one room"
case "$1" in -h|--help) echo "$USAGE"; exit 0 ;; -*) usage_error "unknown option $1" ;; esac
stack=$1
[[ "$stack" == *-primary || "$stack" == *-standby ]] || stack="$stack-primary"
require_stack "$stack"
env_file=$(stack_dir "$stack")/.env
db_user=$(env_get "$env_file" POSTGRES_USER)
db_name=$(env_get "$env_file" POSTGRES_DB)
[ -n "$(compose_in "$stack" ps -q --status running db 2>/dev/null)" ] \
  || die "the db service of $stack is not running; start it with (cd $(stack_dir "$stack") && docker compose --env-file .env up -d db)"

backup_dir=${BACKUP_DIR:-$STACK_ROOT/backups}
umask 077
mkdir -p "$backup_dir"
out="$backup_dir/$stack-$(date -u +%Y%m%dT%H%M%SZ).sql.gz"
tmp=$(mktemp "$backup_dir/.backup.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# --clean --if-exists: the dump replaces the tables it holds when restored elsewhere.
compose_in "$stack" exec -T db pg_dump --clean --if-exists --no-owner -U "${db_user:-sentient}" -d "${db_name:-sentient}" \
  | gzip -c > "$tmp" || die "pg_dump of $stack failed"
gzip -t "$tmp" || die "backup of $stack is corrupt"
mv "$tmp" "$out"
trap - EXIT
# The newest backup of each stack under a fixed name, for restore-room-db.sh and checklists.
ln -sfn "$(basename "$out")" "$backup_dir/$stack-latest.sql.gz"
say "backed up $stack database ${db_name:-sentient} ($(stat -c %s "$out") bytes)" >&2
say "$out"
