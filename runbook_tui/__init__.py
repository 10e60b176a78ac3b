"""runbook-tui: a terminal assistant for the manual warm-standby promotion of a room stack."""

__version__ = "0.1.0"
