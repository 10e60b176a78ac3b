#!/usr/bin/env bash
# Set everything up and bring the training lab's room1 up (both stacks, DNS, controller).
# Extra arguments name another room.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/host/setup.sh
.venv/bin/runbook-tui lab up "${1:-room1}"
.venv/bin/runbook-tui lab status
