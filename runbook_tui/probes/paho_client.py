"""paho-mqtt's Client, with two changes the probe needs to keep up with a flood.

Both reach into paho 2.2's internals (`_create_socket`, `_ping_t`, `_last_bytes_received`),
which is why pyproject pins paho-mqtt to 2.2.x; tests/lab/test_60_probes.py floods a real
broker past the keepalive and fails if either change stops taking effect.

1. A busy link is not a dead link. paho sends PINGREQ when it has sent nothing for a
   keepalive, and `loop_misc` closes the connection when the PINGRESP is a keepalive late.
   A broker draining a backlog to a reader that fell behind sends that PINGRESP *behind* the
   backlog, so a few seconds of flood made paho drop a healthy connection, and the broker
   threw the backlog away with it (QoS 0, clean session): the probe said "disconnected" and
   lost messages, both untrue of the broker. paho's own `_check_keepalive` already treats
   bytes received within the keepalive as proof of life; `loop_misc`'s late-PINGRESP check
   does not, and a timing race between the two (the ping's clock starts microseconds after
   the one that decides whether to send it) makes the check fire whenever a PINGRESP is late.
   Here, bytes read from the socket within the keepalive count as the PINGRESP: the
   outstanding ping is forgotten, so paho sends a fresh PINGREQ every keepalive (the broker
   still hears from us), and a link that goes silent is still closed, a keepalive after the
   next ping (at most three keepalives after its last byte, against two before). Our own
   clock of the last read is used: paho also sets `_last_bytes_received` when it sends a ping.
2. Reads are buffered. paho reads a packet's first byte, each length byte and its body with
   a recv() each, after a select() each. A 64 KB read serves hundreds of small messages;
   paho asks a socket for `pending()` (as it does of TLS sockets) and skips the select wait
   while buffered bytes remain.
"""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt

READ_SIZE = 64 * 1024


class BufferedSocket:
    """A connected socket whose reads come from a buffer refilled READ_SIZE at a time;
    everything else (send, fileno, setblocking, close) is the socket's own."""

    def __init__(self, sock) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0
        self.received_at = time.monotonic()  # when a read last brought bytes from the peer

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._buf):
            # BlockingIOError when nothing is there: paho's cue to wait in select().
            data = self._sock.recv(max(size, READ_SIZE))
            if not data:
                return data  # the peer closed the connection
            self.received_at = time.monotonic()
            if len(data) <= size:  # all of it was asked for (a large body): no copy
                return data
            self._buf, self._pos = data, 0
        chunk = self._buf[self._pos:self._pos + size]
        self._pos += len(chunk)
        return chunk

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + inner

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class ProbeClient(mqtt.Client):
    def _create_socket(self):
        return BufferedSocket(super()._create_socket())

    def loop_misc(self) -> mqtt.MQTTErrorCode:
        sock = getattr(self, "_sock", None)
        if isinstance(sock, BufferedSocket) and getattr(self, "_ping_t", 0) \
                and time.monotonic() - sock.received_at < self.keepalive:
            self._ping_t = 0.0  # paho's clock is time.monotonic too
        return super().loop_misc()
