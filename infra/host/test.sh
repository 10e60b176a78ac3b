#!/usr/bin/env bash
# Set everything up, then run the whole test suite against real parts (Docker engine,
# Mosquitto brokers, dnsmasq, Postgres). Extra arguments go to pytest.
#
# The unit and UI tiers run first, in three workers: their tests wait on child processes and
# Textual's timers as much as they compute, so a third worker on two cores fills the waits.
# The integration and lab tiers then run serially: they share host ports, the lab's
# addresses and its compose project names.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/host/setup.sh
status=0
.venv/bin/python -m pytest -m "unit or ui" -n 3 "$@" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then  # 5: nothing selected (arguments that name other tests)
  exit "$status"
fi
status=0
.venv/bin/python -m pytest -m "integration or lab" "$@" || status=$?
[ "$status" -eq 5 ] && [ -n "$*" ] && status=0  # the arguments named only fast-tier tests
exit "$status"
