"""Live probes: Docker, DNS and MQTT. Long-lived, started and stopped explicitly, they hand
out immutable snapshots and never block or crash their caller. No UI here."""
