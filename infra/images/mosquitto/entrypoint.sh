#!/bin/sh
# The host keeps the password file root-only; the broker drops to the mosquitto user,
# so give it a private copy it can read.
set -eu
if [ ! -s /mosquitto/config/passwd ]; then
  echo "mosquitto: /mosquitto/config/passwd is missing or empty; run scripts/mosquitto-make-passwd.sh <stack>/.env" >&2
  exit 78
fi
install -m 0600 -o mosquitto -g mosquitto /mosquitto/config/passwd /etc/mosquitto/passwd
exec "$@"
