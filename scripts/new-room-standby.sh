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
# 127.0.0.(3+2n), so room1 matches the runbook. A site gives its room VLAN's addresses; the
# tool runs this step with RUNBOOK_SITE=1 there, and the lab's addresses are refused.
# Localhost ports: 1883+2n and 1884+2n for the first n whose ports no stack uses yet (on a
# site too: two rooms on one host never share a port).
used=" " used_ports=" "
if [ -d "$ROOMS_DIR" ]; then
  for env in "$ROOMS_DIR"/*/.env; do
    [ -f "$env" ] || continue
    used+="$(env_get "$env" MQTT_BIND_ADDR) "
    used_ports+="$(env_get "$env" MQTT_LOCAL_PORT) "
  done
fi
if [ -z "$primary_addr" ] || [ -z "$standby_addr" ]; then
  [ "${RUNBOOK_SITE:-}" != 1 ] || usage_error "give --primary-addr and --standby-addr: the room VLAN's addresses of the two brokers (the lab's 127.0.0.x defaults are for the training lab only)"
fi
n=0
while [[ ( -z "$primary_addr" && "$used" == *" 127.0.0.$((2 + 2 * n)) "* ) || ( -z "$standby_addr" && "$used" == *" 127.0.0.$((3 + 2 * n)) "* ) ]]; do n=$((n + 1)); done
primary_addr=${primary_addr:-127.0.0.$((2 + 2 * n))}
standby_addr=${standby_addr:-127.0.0.$((3 + 2 * n))}
p=$n
while [[ "$used_ports" == *" $((1883 + 2 * p)) "* || "$used_ports" == *" $((1884 + 2 * p)) "* ]]; do p=$((p + 1)); done
primary_local=${primary_local:-$((1883 + 2 * p))}
standby_local=${standby_local:-$((1884 + 2 * p))}
valid_ipv4() {
  local IFS=. octets
  [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  read -ra octets <<<"$1"
  for o in "${octets[@]}"; do [ "$((10#$o))" -le 255 ] || return 1; done
}
valid_port() { [[ "$1" =~ ^[0-9]{1,5}$ ]] && [ "$((10#$1))" -ge 1 ] && [ "$((10#$1))" -le 65535 ]; }
valid_ipv4 "$primary_addr" || usage_error "--primary-addr '$primary_addr' is not an IPv4 address"
valid_ipv4 "$standby_addr" || usage_error "--standby-addr '$standby_addr' is not an IPv4 address"
[ "$primary_addr" != "$standby_addr" ] || usage_error "the primary and the standby need two addresses (both brokers listen on port 1883)"
valid_port "$primary_local" || usage_error "--primary-local-port '$primary_local' is not a port (1 to 65535)"
valid_port "$standby_local" || usage_error "--standby-local-port '$standby_local' is not a port (1 to 65535)"
[ "$primary_local" != "$standby_local" ] || usage_error "the two stacks need two local ports"
for a in "$primary_addr" "$standby_addr"; do
  [[ "$used" != *" $a "* ]] || die "address $a is already a broker's (MQTT_BIND_ADDR in $ROOMS_DIR): two brokers cannot listen on $a:1883"
done
for port in "$primary_local" "$standby_local"; do
  [[ "$used_ports" != *" $port "* ]] || die "local port $port is already a stack's (MQTT_LOCAL_PORT in $ROOMS_DIR)"
done

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
