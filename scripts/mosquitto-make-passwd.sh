#!/usr/bin/env bash
# Write a stack's Mosquitto password file from MQTT_USERNAME/MQTT_PASSWORD in its .env
# (runbook sections 1 and 5). The password goes to mosquitto_passwd on stdin, never on a
# command line, and the file is replaced atomically with mode 0600.
USAGE="usage: scripts/mosquitto-make-passwd.sh STACK_DIR/.env"
# This script's folder without a dirname process (the fuzz runs the scripts hundreds of times).
[[ $0 == */* ]] && SCRIPT_DIR=${0%/*} || SCRIPT_DIR=.
source "$SCRIPT_DIR/lib/common.sh"

[ $# -eq 1 ] || usage_error "expected one .env file"
case "$1" in -h|--help) echo "$USAGE"; exit 0 ;; esac
env_file=$1
[ -f "$env_file" ] || die "$env_file: no such file"
env_load "$env_file" || exit 1
dir=$(cd "$(dirname "$env_file")" && pwd)
user=$(env_get "$env_file" MQTT_USERNAME)
password=$(env_get "$env_file" MQTT_PASSWORD)
[ -n "$user" ] || die "$env_file: MQTT_USERNAME is empty"
[ -n "$password" ] || die "$env_file: MQTT_PASSWORD is empty (set it, then run this again)"
[[ "$user" != *:* ]] || die "$env_file: MQTT_USERNAME must not contain ':'"

mkdir -p "$dir/mosquitto"
# A bind mount of a missing file leaves an empty directory behind; clear it.
[ ! -d "$dir/mosquitto/passwd" ] || rmdir "$dir/mosquitto/passwd" 2>/dev/null \
  || die "$dir/mosquitto/passwd is a non-empty directory"
umask 077
tmp=$(mktemp "$dir/mosquitto/.passwd.XXXXXX")
trap 'rm -f "$tmp"' EXIT

if command -v mosquitto_passwd >/dev/null 2>&1; then
  rm -f "$tmp"   # mosquitto_passwd -c creates the file itself
  printf '%s\n%s\n' "$password" "$password" | mosquitto_passwd -c "$tmp" "$user" >/dev/null 2>&1 \
    || die "mosquitto_passwd failed"
else
  # No mosquitto_passwd on this host: use the one in the stack's broker image.
  # The stack's own tag (compose.yaml): PREFIX/mosquitto:TAG-ROOM-ROLE.
  image="$(env_get "$env_file" IMAGE_PREFIX)/mosquitto:$(env_get "$env_file" IMAGE_TAG)-$(env_get "$env_file" ROOM_ID)-$(env_get "$env_file" STACK_ROLE)"
  docker image inspect "$image" >/dev/null 2>&1 \
    || die "mosquitto_passwd is not installed and image $image is not built (apt-get install mosquitto, or build the stack first)"
  printf '%s\n%s\n' "$password" "$password" | docker run --rm -i --entrypoint sh "$image" -c \
    'mosquitto_passwd -c /tmp/passwd "$1" >/dev/null 2>&1 && cat /tmp/passwd' sh "$user" > "$tmp" \
    || die "mosquitto_passwd in $image failed"
fi
chmod 600 "$tmp"
[ -s "$tmp" ] || die "mosquitto_passwd wrote nothing"
mv -f "$tmp" "$dir/mosquitto/passwd"
trap - EXIT
say "wrote $dir/mosquitto/passwd for user $user (mode 0600)"
say "a running broker reads it when recreated: (cd $dir && docker compose --env-file .env up -d --force-recreate mosquitto)"
