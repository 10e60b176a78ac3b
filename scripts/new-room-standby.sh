#!/usr/bin/env bash
# Create a room's primary and standby stack directories from infra/room-template
# (runbook section 1). Refuses to touch a room that already exists.
USAGE="usage: scripts/new-room-standby.sh ROOM [--primary-addr IP] [--standby-addr IP] [--primary-local-port N] [--standby-local-port N]"
source "$(dirname "$0")/lib/common.sh"

room="" primary_addr="" standby_addr="" primary_local="" standby_local=""
while [ $# -gt 0 ]; do
  case "$1" in
    --primary-addr) primary_addr=${2:-}; shift 2 || usage_error "--primary-addr needs a value" ;;
    --standby-addr) standby_addr=${2:-}; shift 2 || usage_error "--standby-addr needs a value" ;;
    --primary-local-port) primary_local=${2:-}; shift 2 || usage_error "--primary-local-port needs a value" ;;
    --standby-local-port) standby_local=${2:-}; shift 2 || usage_error "--standby-local-port needs a value" ;;
    -h|--help) echo "$USAGE"; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *) [ -z "$room" ] || usage_error "one ROOM only"; room=$1; shift ;;
  esac
done
[ -n "$room" ] || usage_error "ROOM is required"
[[ "$room" =~ ^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$ ]] \
  || usage_error "ROOM '$room' must be a DNS label: lower-case letters, digits and inner dashes (it becomes mqtt.$room.sentientengine.ai)"
[[ "$room" != *-primary && "$room" != *-standby ]] || usage_error "give the room id ('${room%-*}'), not a stack name"

template=$STACK_ROOT/infra/room-template
[ -f "$template/compose.yaml" ] || die "template missing: $template/compose.yaml"
for role in primary standby; do
  [ ! -e "$(stack_dir "$room-$role")" ] || die "refusing to overwrite existing $(stack_dir "$room-$role")"
done

# Lab default addresses: room number n (in creation order) gets 127.0.0.(2+2n) and
# 127.0.0.(3+2n), and localhost ports 1883+2n and 1884+2n, so room1 matches the runbook
# (standby on localhost:1884) and further rooms never collide.
used=" "
if [ -d "$ROOMS_DIR" ]; then
  for env in "$ROOMS_DIR"/*/.env; do
    [ -f "$env" ] && used+="$(env_get "$env" MQTT_BIND_ADDR) "
  done
fi
n=0
while [[ "$used" == *" 127.0.0.$((2 + 2 * n)) "* || "$used" == *" 127.0.0.$((3 + 2 * n)) "* ]]; do n=$((n + 1)); done
primary_addr=${primary_addr:-127.0.0.$((2 + 2 * n))}
standby_addr=${standby_addr:-127.0.0.$((3 + 2 * n))}
primary_local=${primary_local:-$((1883 + 2 * n))}
standby_local=${standby_local:-$((1884 + 2 * n))}
ip_re='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
[[ "$primary_addr" =~ $ip_re && "$standby_addr" =~ $ip_re ]] || usage_error "addresses must be IPv4 addresses"
[[ "$primary_local" =~ ^[0-9]+$ && "$standby_local" =~ ^[0-9]+$ ]] || usage_error "local ports must be numbers"

# Passwords are generated here and never printed; the room shares one set (runbook section 5:
# keep the .env files aligned).
new_secret() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
mqtt_password=$(new_secret)
db_password=$(new_secret)

umask 077
mkdir -p "$ROOMS_DIR"
# Both stacks or neither: a failure part-way removes what this run created.
created=()
tmp=""
trap 'rm -rf "$tmp" "${created[@]}"' EXIT
for role in primary standby; do
  dir=$(stack_dir "$room-$role")
  tmp=$(mktemp -d "$ROOMS_DIR/.new-$room-$role.XXXXXX")
  mkdir -p "$tmp/mosquitto"
  cp "$template/compose.yaml" "$tmp/compose.yaml"
  cp "$template/mosquitto/mosquitto.conf" "$tmp/mosquitto/mosquitto.conf"
  if [ "$role" = primary ]; then addr=$primary_addr local=$primary_local dispatch=true
  else addr=$standby_addr local=$standby_local dispatch=false; fi
  base_image=${BASE_IMAGE:-$(env_get "$template/.env.example" BASE_IMAGE)}
  # Secrets reach awk through its environment, never its command line (ps shows that).
  mqttpw=$mqtt_password dbpw=$db_password \
  awk -v room="$room" -v role="$role" -v addr="$addr" -v local="$local" -v dispatch="$dispatch" -v base="$base_image" '
    /^ROOM_ID=/ { print "ROOM_ID=" room; next }
    /^STACK_ROLE=/ { print "STACK_ROLE=" role; next }
    /^MQTT_BIND_ADDR=/ { print "MQTT_BIND_ADDR=" addr; next }
    /^MQTT_LOCAL_PORT=/ { print "MQTT_LOCAL_PORT=" local; next }
    /^MQTT_PASSWORD=/ { print "MQTT_PASSWORD=" ENVIRON["mqttpw"]; next }
    /^POSTGRES_PASSWORD=/ { print "POSTGRES_PASSWORD=" ENVIRON["dbpw"]; next }
    /^CORE_DISPATCH_ENABLED=/ { print "CORE_DISPATCH_ENABLED=" dispatch; next }
    /^BASE_IMAGE=/ { print "BASE_IMAGE=" base; next }
    { print }' "$template/.env.example" > "$tmp/.env"
  chmod 600 "$tmp/.env"
  chmod 755 "$tmp" "$tmp/mosquitto"
  chmod 644 "$tmp/compose.yaml" "$tmp/mosquitto/mosquitto.conf"
  mv "$tmp" "$dir"
  created+=("$dir")
  tmp=""
  echo "created $dir (broker $addr:1883 and localhost:$local, CORE_DISPATCH_ENABLED=$dispatch)"
done
trap - EXIT
echo "MQTT and DB passwords were generated into both .env files (mode 0600; not shown)."
echo "Next: review both .env files, then"
echo "  scripts/mosquitto-make-passwd.sh infra/rooms/$room-primary/.env"
echo "  scripts/mosquitto-make-passwd.sh infra/rooms/$room-standby/.env"
