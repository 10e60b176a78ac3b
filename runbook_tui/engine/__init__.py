"""The run engine: step states, actions, guards, the journal and the after-action report.
No UI here: the TUI and the tests drive it through its API."""
