"""paho-mqtt's Client, with the changes the probe needs to keep up with a flood.

All reach into paho 2.2's internals (`_create_socket`, `_ping_t`, `_last_bytes_received`,
`_on_message_filtered`, `_in_callback_mutex`),
which is why pyproject pins paho-mqtt to 2.2.x. tests/integration/test_60_mqtt_backlog.py floods a
real broker past the keepalive, and test_62_mqtt_framing.py checks what the framing in 5 hands on.

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
   With paho's one packet per loop pass, test_60 lost the connection twice in 300,000
   messages without this change; since 3 (a pass per buffer, not per packet) it did not
   happen in that test even without it, but nothing in paho rules it out, so it stays.
2. Reads are buffered. paho reads a packet's first byte, each length byte and its body with
   a recv() each, after a select() each. A 64 KB read serves hundreds of small messages;
   paho asks a socket for `pending()` (as it does of TLS sockets) and skips the select wait
   while buffered bytes remain.
3. A read handles what is buffered. paho's loop handles one packet per pass, and each pass
   costs a select() and a keepalive check: a third of the probe's CPU in a flood went to
   them. `loop_read` here goes on while the buffer holds bytes, up to DRAIN_PACKETS, then
   lets the loop pass (writes, pings, keepalive) as paho would.
4. A message goes straight to `on_message`. paho first matches every topic against the
   callbacks added with `message_callback_add`, which the probe never uses: a tenth of its
   CPU in a flood. With any such callback, paho's own path is taken.
5. QoS 0 PUBLISH packets already whole in the buffer are framed here, and their topic,
   payload and retain flag go to `on_qos0_publish` (when set) without paho's per-packet
   state machine (a method call and a slice per byte of the header, a dict of state, two
   message objects). That was half of what remained of the probe's CPU in a flood, and
   no MQTT library for Python frames faster. Only MQTT 3.1 and 3.1.1 packets (5 has
   properties), and only while paho is between packets; anything else (another packet type, a packet cut by the buffer's
   end, a topic that is not UTF-8, a malformed header) is left to paho, which reads it
   from the same buffer as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

READ_SIZE = 64 * 1024
DRAIN_PACKETS = 2000  # a pass of paho's loop at least this often: about 40 ms of a flood here


class BufferedSocket:
    """A connected socket whose reads come from a buffer refilled READ_SIZE at a time;
    everything else (send, fileno, setblocking, close) is the socket's own."""

    def __init__(self, sock: SocketLike) -> None:
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
        inner: int = self._sock.pending() if hasattr(self._sock, "pending") else 0  # TLS: what it decrypted already
        return len(self._buf) - self._pos + inner

    # What paho's socket type promises, the socket's own; anything else too (__getattr__).
    def send(self, buffer: bytes | bytearray) -> int:
        return self._sock.send(buffer)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class ProbeClient(mqtt.Client):
    def _create_socket(self) -> BufferedSocket:
        return BufferedSocket(super()._create_socket())

    def loop_misc(self) -> MQTTErrorCode:
        sock = self._sock
        if isinstance(sock, BufferedSocket) and self._ping_t \
                and time.monotonic() - sock.received_at < self.keepalive:
            self._ping_t = 0.0  # paho's clock is time.monotonic too
        return super().loop_misc()

    # Called with (topic, payload, retain) for each QoS 0 message framed here; None: paho's way.
    on_qos0_publish: Callable[[str, bytes, bool], None] | None = None
    framed = 0  # messages framed here rather than by paho (tests show the fast path ran)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        if not isinstance(self._sock, BufferedSocket):
            return rc
        sock: BufferedSocket = self._sock
        fast = self.on_qos0_publish is not None and self._protocol != mqtt.MQTTv5
        handled = 1
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and handled < DRAIN_PACKETS \
                and self._sock is sock and sock.pending() > 0:
            if fast:
                handled += self._take_qos0_publishes(sock)
                if sock.pending() == 0:
                    break
            rc = super().loop_read(max_packets)
            handled += 1
        return rc

    def _take_qos0_publishes(self, sock: BufferedSocket) -> int:
        """Frame and deliver the whole QoS 0 PUBLISH packets at the buffer's read position;
        stop at the first thing that is not one. Returns how many were delivered."""
        if self._in_packet["command"] != 0:  # paho is inside a packet: it finishes it
            return 0
        buf, pos, end = sock._buf, sock._pos, len(sock._buf)
        deliver = self.on_qos0_publish
        if deliver is None:  # loop_read frames here only for a callback
            return 0
        taken = 0
        with self._in_callback_mutex:
            while pos + 4 <= end:
                header = buf[pos]
                if header & 0xF6 != 0x30:  # PUBLISH with QoS 0 (DUP and RETAIN may be set)
                    break
                length, shift, i = 0, 0, pos + 1
                while i < end and i - pos <= 4:
                    byte = buf[i]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    i += 1
                    if not byte & 0x80:
                        break
                else:
                    break  # cut by the buffer's end, or more than 4 length bytes: paho's to judge
                body_end = i + length
                if body_end > end or length < 2:
                    break
                topic_end = i + 2 + ((buf[i] << 8) | buf[i + 1])
                if topic_end > body_end or topic_end == i + 2:
                    break  # malformed, or an empty topic: paho says so
                try:
                    topic = buf[i + 2:topic_end].decode("utf-8")
                except UnicodeDecodeError:
                    break
                pos = sock._pos = body_end
                taken += 1
                deliver(topic, buf[topic_end:body_end], bool(header & 0x01))
        if taken:
            self.framed += taken
            with self._msgtime_mutex:
                self._last_bytes_received = time.monotonic()
        return taken

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        if self._on_message_filtered._root._children or self.on_message is None:  # paho's way: filtered callbacks first
            super()._handle_on_message(message)
            return
        with self._in_callback_mutex:
            self.on_message(self, self._userdata, message)
