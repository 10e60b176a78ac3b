#!/usr/bin/env bash
# Set everything up, bring the training lab's room up (both stacks, DNS, controller) and open
# the TUI on it. Extra argument: another room (default room1).
set -euo pipefail
cd "$(dirname "$0")/../.."
room=${1:-room1}
bash infra/host/setup.sh
.venv/bin/runbook-tui lab up "$room"
if [ -t 1 ]; then
  exec .venv/bin/runbook-tui --room "$room"
fi
.venv/bin/runbook-tui lab status
echo "no terminal here: open the TUI with .venv/bin/runbook-tui --room $room"
