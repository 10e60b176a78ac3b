#!/usr/bin/env bash
# Set everything up, then run the whole test suite against real parts (Docker engine,
# Mosquitto brokers, dnsmasq, Postgres). Extra arguments go to pytest.
#
# The unit and UI tiers run first, in five workers: their tests wait on child processes and
# Textual's timers as much as they compute, and on two cores five workers fill the waits (the fast
# tiers, python -m bench.tiers at full depth with Debian's Python: 4 workers 64 s, 5 workers 55-58 s,
# 6 workers 51-56 s, 7-8 workers 60-64 s; on a fresh clone as CI runs them, 5 and 6 workers both
# 55-58 s, so five, the fewer processes).
# The integration and lab tiers then run serially: they share host ports, the lab's
# addresses and its compose project names. Arguments that choose tiers themselves (-m) get
# one serial run, as they ask.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/host/setup.sh
# The randomized tests draw all their cases here (a developer's quick run draws a quarter:
# tests/depth.py).
export RUNBOOK_TEST_DEPTH=${RUNBOOK_TEST_DEPTH:-full}
for arg in "$@"; do
  case "$arg" in
    -m|-m*) exec .venv/bin/python -m pytest "$@" ;;
  esac
done
fast=0 slow=0
# pytest rewrites each test module for its assert messages and keeps the result beside it
# (tests/conftest.py lets it on these machines): once here, not once in each worker.
.venv/bin/python -m pytest -q --collect-only "$@" >/dev/null 2>&1 || true  # errors show in the runs below
.venv/bin/python -m pytest -m "unit or ui" -n 5 "$@" || fast=$?
.venv/bin/python -m pytest -m "integration or lab" "$@" || slow=$?
# 5 is "no tests collected": fine for one run (arguments naming only the other's tests),
# not for both. Otherwise the first failure's status.
if [ "$fast" -eq 5 ] && [ "$slow" -eq 5 ]; then exit 5; fi
[ "$fast" -eq 5 ] && fast=0
[ "$slow" -eq 5 ] && slow=0
[ "$fast" -ne 0 ] && exit "$fast"
exit "$slow"
