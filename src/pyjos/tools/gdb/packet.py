"""GDB remote serial protocol framing: ``$data#cs`` packets, acks, escapes, runs.

A packet on the wire is ``$`` + data + ``#`` + two hex digits, the checksum
being the sum of the data bytes modulo 256.  Outside a packet the peer may send
``+`` (ack), ``-`` (nak: retransmit) and the byte 0x03 (Ctrl-C).  Inside data,
``*`` followed by a byte n repeats the previous byte n - 29 times (run-length
encoding), and in binary data (``X`` packets, ``qXfer`` replies) ``}`` escapes
the following byte, which is xored with 0x20.

`PacketReader` turns a byte stream into events one `feed` at a time and keeps
at most `limit` bytes of any packet, so a hostile peer cannot grow it.
"""

from __future__ import annotations

from dataclasses import dataclass

PACKET_SIZE = 0x4000  # largest packet data we accept (qSupported PacketSize)
INTERRUPT = 0x03  # Ctrl-C byte sent by gdb while the target runs
ESCAPE = 0x7D  # '}'
RUN = 0x2A  # '*'
_SPECIAL = b"#$}*"
_HEX = b"0123456789abcdefABCDEF"

# Event kinds produced by PacketReader.feed.
ACK = "ack"
NAK = "nak"
CTRL_C = "interrupt"
PACKET = "packet"  # a well-formed packet; data is the run-expanded payload
BAD = "bad"  # checksum mismatch or bad checksum digits: answer '-'
MALFORMED = "malformed"  # checksum right, payload unusable (overlong, bad run)


class ProtocolError(ValueError):
    """A packet whose arguments cannot be parsed."""


@dataclass(frozen=True)
class Event:
    kind: str
    data: bytes = b""


def checksum(data: bytes) -> int:
    """The RSP checksum of packet data: the byte sum modulo 256."""
    return sum(data) & 0xFF


def frame(data: bytes) -> bytes:
    """The wire form of a packet whose data is already escaped."""
    return b"$" + data + b"#%02x" % checksum(data)


def escape(data: bytes) -> bytes:
    """Escape binary reply data: '#', '$', '}' and '*' become '}' + (byte ^ 0x20)."""
    out = bytearray()
    for b in data:
        if b in _SPECIAL:
            out += bytes((ESCAPE, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Undo `escape`; raises ProtocolError on a trailing lone '}'."""
    out = bytearray()
    pending = False
    for b in data:
        if pending:
            out.append(b ^ 0x20)
            pending = False
        elif b == ESCAPE:
            pending = True
        else:
            out.append(b)
    if pending:
        raise ProtocolError("escape character at end of data")
    return bytes(out)


def expand_runs(data: bytes, limit: int = PACKET_SIZE) -> bytes:
    """Expand run-length encoding ('*' n: previous byte n - 29 more times).

    Raises ProtocolError on a run with no previous byte, a repeat count outside
    3..97, or an expansion longer than `limit`.
    """
    if RUN not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b != RUN:
            out.append(b)
            i += 1
            continue
        if not out or i + 1 >= len(data):
            raise ProtocolError("run-length encoding without a byte to repeat")
        count = data[i + 1] - 29
        if count < 3 or count > 97:
            raise ProtocolError("bad run-length count")
        out += bytes((out[-1],)) * count
        i += 2
        if len(out) > limit:
            raise ProtocolError("run-length expansion too long")
    return bytes(out)


class PacketReader:
    """Incremental RSP parser: `feed(bytes)` returns the complete events in them.

    Garbage between packets is dropped.  A '$' inside a packet abandons the
    truncated packet and starts a new one.  Data beyond `limit` bytes is not
    stored (the checksum still covers it); such a packet is reported MALFORMED.
    """

    def __init__(self, limit: int = PACKET_SIZE):
        self.limit = limit
        self.dropped = 0  # garbage bytes and abandoned packets, for tests
        self._state = "idle"
        self._reset()

    def _reset(self) -> None:
        self._data = bytearray()
        self._sum = 0
        self._overflow = False
        self._digits = bytearray()

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        for b in chunk:
            event = self._byte(b)
            if event is not None:
                events.append(event)
        return events

    def _byte(self, b: int) -> Event | None:
        if self._state == "idle":
            return self._idle(b)
        if self._state == "data":
            return self._payload(b)
        return self._checksum_digit(b)

    def _idle(self, b: int) -> Event | None:
        if b == ord("+"):
            return Event(ACK)
        if b == ord("-"):
            return Event(NAK)
        if b == INTERRUPT:
            return Event(CTRL_C)
        if b == ord("$"):
            self._reset()
            self._state = "data"
        else:
            self.dropped += 1
        return None

    def _payload(self, b: int) -> Event | None:
        if b == ord("$"):
            self.dropped += 1
            self._reset()
        elif b == ord("#"):
            self._state = "checksum"
        else:
            self._sum = (self._sum + b) & 0xFF
            if len(self._data) < self.limit:
                self._data.append(b)
            else:
                self._overflow = True
        return None

    def _checksum_digit(self, b: int) -> Event | None:
        if b not in _HEX:
            self._state = "idle"
            return Event(BAD, b"bad checksum digits")
        self._digits.append(b)
        if len(self._digits) < 2:
            return None
        self._state = "idle"
        if int(self._digits, 16) != self._sum:
            return Event(BAD, b"checksum mismatch")
        if self._overflow:
            return Event(MALFORMED, b"packet longer than PacketSize")
        try:
            return Event(PACKET, expand_runs(bytes(self._data), self.limit))
        except ProtocolError as exc:
            return Event(MALFORMED, str(exc).encode())
