"""The one set of rules: pure functions of a RoomObservation (and of the run's state).

What the panels show, what the banner says, what a guard decides, what ticks a step and what
the journal records all come from these functions, so the same observation always gives the
same verdict everywhere. No I/O, no clock, no Textual: a property test feeds them generated
observations.
"""
