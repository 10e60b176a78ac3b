#!/usr/bin/env bash
# Send one dispatch to a core through its broker and follow it: dispatch, device command,
# ack, complete, result (runbook 3.4). The broker is taken from the environment:
#   MQTT_HOST MQTT_PORT MQTT_USERNAME MQTT_PASSWORD   (or --env-file STACK/.env)
# Exit codes: 0 complete, 2 usage, 3 rejected by the core, 4 timeout, 5 broker unreachable,
# 6 broker refused the credentials.
# This script's folder without a dirname process (the fuzz runs the scripts hundreds of times).
[[ $0 == */* ]] && SCRIPT_DIR=${0%/*} || SCRIPT_DIR=.
source "$SCRIPT_DIR/lib/common.sh"
export PYTHONPATH="$CHECKOUT${PYTHONPATH:+:$PYTHONPATH}"
need_python
exec "$RUNBOOK_PY" -m runbook_tui.cli.dispatch "$@"
