"""The Textual UI. It depends on the rest of runbook_tui; nothing else depends on it."""
