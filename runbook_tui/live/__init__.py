"""The live observation: the long-lived probes of a room composed into one RoomObservation
each time a part changes. Above the probes and the one-shot look, which it composes; below the
session and the UI, which start it."""
