"""The runbook as data: model, loader and validator, variables, the printable plan."""
