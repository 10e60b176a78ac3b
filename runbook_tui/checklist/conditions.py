"""The sensed conditions a checklist may name (guards, done_when, wait steps).

Names and meanings only: the loader validates against this catalogue; the sensing that
judges them is in runbook_tui.rules.conditions (pure functions of an observation). A name here without an implementation
there is caught by a test.
"""

from __future__ import annotations

CONDITIONS: dict[str, str] = {
    "stack_dirs_absent": "neither stack directory of the room exists yet",
    "stack_dirs_exist": "both stack directories exist with compose.yaml and .env",
    "primary_passwd_present": "the primary's mosquitto/passwd exists and is not empty",
    "standby_passwd_present": "the standby's mosquitto/passwd exists and is not empty",
    "primary_stack_running": "the primary's mosquitto, sentient-core and db containers are running",
    "standby_stack_running": "the standby's mosquitto, sentient-core and db containers are running",
    "primary_core_stopped": (
        "the primary's sentient-core container is not live (exited, or removed) on its Docker host, or that host is "
        "fenced (a fence step done) and unreachable"
    ),
    "primary_stack_down": (
        "the primary's stack is down: none of its containers is live (running, restarting or paused) on its Docker host; "
        "or that host is fenced (a fence step done) and neither its engine nor its broker answers"
    ),
    "primary_not_dispatching": (
        "the primary core is not running, and its broker (if it answers) shows no online core with dispatch enabled; "
        "or the primary host is fenced and neither its engine nor its broker answers"
    ),
    "standby_not_dispatching": (
        "the standby core runs with dispatch disabled (in .env and in the running container), or is not running"
    ),
    "standby_start_safe": (
        "starting the standby cannot make dual control: its .env keeps dispatch disabled, or the primary is not dispatching"
    ),
    "standby_core_critical_armed": "the running standby core was started with CORE_CRITICAL_ARMED=true and reports it",
    "standby_core_dispatch_enabled": (
        "the running standby core was started with CORE_DISPATCH_ENABLED=true and reports dispatch_enabled"
    ),
    "standby_core_dispatch_disabled": "the running standby core was started with CORE_DISPATCH_ENABLED=false",
    "primary_core_dispatch_enabled": (
        "the running primary core was started with CORE_DISPATCH_ENABLED=true and reports dispatch_enabled"
    ),
    "dns_points_to_standby": "every configured resolver answers the broker name with the standby broker's address",
    "dns_points_to_primary": "every configured resolver answers the broker name with the primary broker's address",
    "broker_name_serves_standby": "the broker reached through the broker name is the standby's (its core reports role standby)",
    "controllers_on_standby": "at least one room controller reports itself online on the standby broker (retained device status)",
    "primary_broker_reads_passwd": "the primary's mosquitto runs and was started after its mosquitto/passwd was last written",
    "standby_broker_reads_passwd": "the standby's mosquitto runs and was started after its mosquitto/passwd was last written",
    "standby_core_reads_env": "the standby's sentient-core runs and was started after its .env was last written",
    "controllers_on_primary": (
        "room controllers report themselves online on the primary broker, and none still on the standby broker"
    ),
    "core_versions_match": "both .env files name the same CORE_VERSION and both running cores say that version",
    "env_files_aligned": "both .env files agree except role, bind address and ports, and the dispatch flags",
    "primary_host_unreachable": "neither the primary's Docker engine nor its broker answers (the host is lost, or cut off)",
    "primary_start_safe": (
        "starting or recreating the primary cannot make dual control: its .env keeps dispatch disabled, or no standby "
        "core dispatches (by Docker's account and by its broker)"
    ),
    "primary_env_dispatch_disabled": "the primary's .env says CORE_DISPATCH_ENABLED=false (it comes up without dispatch)",
    "primary_env_dispatch_enabled": "the primary's .env says CORE_DISPATCH_ENABLED=true",
    "standby_env_dispatch_enabled": "the standby's .env says CORE_DISPATCH_ENABLED=true",
    "standby_env_disarmed": "the standby's .env says CORE_DISPATCH_ENABLED=false and CORE_CRITICAL_ARMED=false",
    "standby_env_critical_armed": "the standby's .env says CORE_CRITICAL_ARMED=true",
    # Non-normal conditions (what queues a procedure) and what says one is over. "The active stack"
    # is whose core dispatches, by Docker's account or its own status (as readiness judges it).
    "dual_control_standby_promoted": (
        "dual control (both cores dispatching, or device commands carried by both brokers) while the standby's .env "
        "enables dispatch: the primary's core is the one that must stop"
    ),
    "dual_control_standby_not_promoted": (
        "dual control while the standby's .env keeps dispatch off: the standby's core is the one that must stop"
    ),
    "primary_came_back": (
        "the standby's core dispatches (promoted) and the primary is live again: one of its containers runs on its "
        "Docker host, or its broker answers (not while dual control: that is answered first)"
    ),
    "controllers_lost_on_active": "the active stack's broker is read and no room controller reports online there",
    "controllers_on_active": "at least one room controller reports online on the active stack's broker",
    "dns_points_away_from_active": (
        "a configured resolver answers the broker name with an address other than the active stack's broker"
    ),
    "dns_points_to_active": "every configured resolver answers the broker name with the active stack's broker address",
    "active_stack_failing": (
        "the active stack's broker is unreachable or its mosquitto is not running, or its core crash-loops "
        "(Docker restarting it, or restarted 3 times and up less than a minute)"
    ),
    "active_stack_healthy": "there is one active stack, its broker answers and its core is not crash-looping",
    "resolvers_disagree": "the configured resolvers answer the broker name differently",
}
