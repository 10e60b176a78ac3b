"""Comparing the two stacks' .env files for drift (runbook section 5), without showing secrets."""

from __future__ import annotations

from runbook_tui.stacks import drift, shared_settings

PRIMARY = {"STACK_ROLE": "primary", "MQTT_BIND_ADDR": "127.0.0.2", "CORE_DISPATCH_ENABLED": "true",
           "CORE_VERSION": "8.0.0", "CORE_ACK_TIMEOUT_S": "3", "MQTT_PASSWORD": "s3cret-value-1", "POSTGRES_DB": "sentient"}


def test_per_stack_keys_never_count_as_drift():
    standby = {**PRIMARY, "STACK_ROLE": "standby", "MQTT_BIND_ADDR": "127.0.0.3", "CORE_DISPATCH_ENABLED": "false"}
    assert drift(shared_settings(PRIMARY), shared_settings(standby)) == []


def test_drift_names_each_differing_key_with_both_values_but_never_a_secret():
    standby = {**PRIMARY, "CORE_VERSION": "7.9.0", "CORE_ACK_TIMEOUT_S": "1", "MQTT_PASSWORD": "s3cret-value-2"}
    del standby["POSTGRES_DB"]
    shared = shared_settings(standby)
    assert "s3cret-value-2" not in repr(shared)  # hashed before it leaves the function
    assert drift(shared_settings(PRIMARY), shared) == [
        "CORE_ACK_TIMEOUT_S primary 3 / standby 1",
        "CORE_VERSION primary 8.0.0 / standby 7.9.0",
        "MQTT_PASSWORD differs (values not shown)",
        "POSTGRES_DB primary sentient / standby (unset)",
    ]
