"""The training lab: both stacks of a room, a real DNS server and simulated controllers,
all on one machine (brokers on distinct loopback addresses)."""
