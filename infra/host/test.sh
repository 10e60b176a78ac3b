#!/usr/bin/env bash
# Set everything up, then run the whole test suite against real parts (Docker engine,
# Mosquitto brokers, dnsmasq, Postgres). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/host/setup.sh
exec .venv/bin/python -m pytest "$@"
