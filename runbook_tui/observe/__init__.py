"""The observation of the room: its immutable model, the boundary that reads hostile input, the
one-shot looks (Docker, DNS, MQTT, the stacks' files) and the site they look at. Imports the
kernel and the checklist's model only; the long-lived probes and the live watcher sit above."""
