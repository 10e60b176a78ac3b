#!/usr/bin/env bash
# Create a room's primary and standby stack directories from infra/room-template
# (runbook section 1). Refuses to touch a room that already exists.
USAGE="usage: scripts/new-room-standby.sh ROOM [--primary-addr IP] [--standby-addr IP] [--primary-local-port N] [--standby-local-port N]"
# This script's folder without a dirname process (the fuzz runs the scripts hundreds of times).
[[ $0 == */* ]] && SCRIPT_DIR=${0%/*} || SCRIPT_DIR=.
source "$SCRIPT_DIR/lib/common.sh"

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

# Addresses and ports are read as numbers (python's ipaddress and int), checked and written in
# their one normal form, and compared with the other stacks' in that form: 010.000.000.001 and
# 10.0.0.1 are one address, 08 and 8 one port. Lab default addresses: room number n (in creation
# order) gets 127.0.0.(2+2n) and 127.0.0.(3+2n), so room1 matches the runbook. A site gives its
# room VLAN's addresses; the tool runs this step with RUNBOOK_SITE=1 there, and the lab's
# addresses are refused. Localhost ports: 1883+2n and 1884+2n for the first n that no stack uses
# yet and nothing on this host listens on (on a site too: two rooms on one host never share a port).
# The template's .env is read first, in this shell: that read finds the project's Python too (one
# start, not a look and then a read), and the loop below, reading its BASE_IMAGE inside $(...),
# finds it read (a read there would not be kept: once per stack).
env_load "$template/.env.example" || exit 1
picked=$(ROOMS_DIR=$ROOMS_DIR "$RUNBOOK_PY" - "$primary_addr" "$standby_addr" "$primary_local" "$standby_local" <<'PY'
import ipaddress, os, socket, sys
from pathlib import Path
from runbook_tui.envfile import read_env

def fail(code, message):
    print(f"{code} {message}")
    raise SystemExit(0)

def address(name, text):
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        fail(2, f"{name} {text!r} is not an IPv4 address (four numbers 0 to 255, no leading zeros)")
    for bad, what in ((addr.is_unspecified, "listens on every address"), (addr == ipaddress.IPv4Address("255.255.255.255"), "is the broadcast address"),
                      (addr.is_multicast, "is a multicast address")):
        if bad:
            fail(2, f"{name} {text!r} {what}: a broker binds one host address")
    return str(addr)

def port(name, text):
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        fail(2, f"{name} {text!r} is not a port (1 to 65535)")
    return int(text)

def bound(number):
    """Does something on this host listen on 127.0.0.1:number (the stacks' local ports)?"""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", number))
        except OSError:
            return True
    return False

pa, sa, pl, sl = sys.argv[1:5]
used_addrs, used_ports = {}, {}
rooms = Path(os.environ["ROOMS_DIR"])
for env_file in sorted(rooms.glob("*/.env")) if rooms.is_dir() else ():
    try:
        env = read_env(env_file)
    except (OSError, ValueError):
        continue
    try:
        used_addrs.setdefault(str(ipaddress.IPv4Address((env.get("MQTT_BIND_ADDR") or "").strip())), env_file)
    except ValueError:
        pass
    text = (env.get("MQTT_LOCAL_PORT") or "").strip()
    if text.isascii() and text.isdigit():
        used_ports.setdefault(int(text), env_file)
if not pa or not sa:
    if os.environ.get("RUNBOOK_SITE") == "1":
        fail(2, "give --primary-addr and --standby-addr: the room VLAN's addresses of the two brokers (the lab's 127.0.0.x defaults are for the training lab only)")
    n = 0
    while (not pa and f"127.0.0.{2 + 2 * n}" in used_addrs) or (not sa and f"127.0.0.{3 + 2 * n}" in used_addrs):
        n += 1
    pa, sa = pa or f"127.0.0.{2 + 2 * n}", sa or f"127.0.0.{3 + 2 * n}"
else:
    n = 0
pa, sa = address("--primary-addr", pa), address("--standby-addr", sa)
if pa == sa:
    fail(2, "the primary and the standby need two addresses (both brokers listen on port 1883)")
pl = port("--primary-local-port", pl) if pl else None
sl = port("--standby-local-port", sl) if sl else None
if pl is None or sl is None:
    p = n
    while p < 30000 and any(x in used_ports or bound(x) for x, given in ((1883 + 2 * p, pl), (1884 + 2 * p, sl)) if given is None):
        p += 1
    pl, sl = pl or 1883 + 2 * p, sl or 1884 + 2 * p
if pl == sl:
    fail(2, "the two stacks need two local ports")
for a in (pa, sa):
    if a in used_addrs:
        fail(1, f"address {a} is already a broker's (MQTT_BIND_ADDR in {used_addrs[a]}): two brokers cannot listen on {a}:1883")
for x in (pl, sl):
    if x in used_ports:
        fail(1, f"local port {x} is already a stack's (MQTT_LOCAL_PORT in {used_ports[x]})")
    if bound(x):
        fail(1, f"local port {x} is in use on this host (127.0.0.1:{x})")
print(f"0 {pa} {sa} {pl} {sl}")
PY
) || die "could not check the addresses and ports"
read -r code rest <<<"$picked"
case "$code" in
  0) read -r primary_addr standby_addr primary_local standby_local <<<"$rest" ;;
  2) usage_error "$rest" ;;
  *) die "$rest" ;;
esac

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
  say "created $dir (broker $addr:1883 and localhost:$local, CORE_DISPATCH_ENABLED=$dispatch)"
done
trap - EXIT
echo "MQTT and DB passwords were generated into both .env files (mode 0600; not shown)."
echo "Next: review both .env files, then"
say "  scripts/mosquitto-make-passwd.sh infra/rooms/$room-primary/.env"
say "  scripts/mosquitto-make-passwd.sh infra/rooms/$room-standby/.env"
