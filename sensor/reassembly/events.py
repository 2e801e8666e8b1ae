"""Events of the TCP reassembly stage.

In: ``TcpSegment`` (from ``sensor.capture.decode``). Out, per connection, in causal
order: ``StreamData`` (in-order bytes of one direction with the peer's acknowledgement
at the time they were sent), ``StreamGap`` (bytes that will never come), ``StreamEnd``
(a direction's FIN reached in order), ``ConnectionClosed`` (the connection is over for
the reassembler), and ``Anomaly``.

Offsets are 64-bit relative: byte 0 is the first data byte after the SYN (or the first
byte seen, for a connection picked up mid-stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ..anomalies import Anomaly
from ..capture.decode import TcpSegment


class StreamData(NamedTuple):
    """In-order bytes of one direction. A NamedTuple: one per data segment."""

    ts: float
    from_client: bool
    offset: int
    data: bytes
    # Bytes of the *other* direction the sender had acknowledged when it sent these
    # (relative offset), or None if unknown. Lets the SMTP stage tell a client line sent
    # before the banner arrived from one sent after, whatever the capture timestamps say.
    peer_ack: int | None


@dataclass(frozen=True, slots=True)
class StreamGap:
    ts: float
    from_client: bool
    offset: int
    length: int | None  # None: unknown (stream cut at a cap, or ended inside a hole)
    reason: str  # "acked" (peer acknowledged past it), "hole_cap", "stream_cap", "close"


@dataclass(frozen=True, slots=True)
class StreamEnd:
    ts: float
    from_client: bool


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    ts: float
    reason: str  # "close" | "reset" | "timeout" | "eof" | "evicted"


StreamEvent = StreamData | StreamGap | StreamEnd | ConnectionClosed | Anomaly


class Flow(Protocol):
    """A connection as the stages after reassembly see it: a ``TcpConnection``, or a
    conversation reassembled elsewhere (``sensor.capture.zeeklog.ZeekFlow``)."""

    client: bytes
    client_port: int
    server: bytes
    server_port: int
    first_ts: float
    mid_stream: bool
    payload_seen: bool
    closed: bool
    app: object | None

    def stop_payload(self) -> None: ...

__all__ = [
    "Anomaly",
    "ConnectionClosed",
    "Flow",
    "StreamData",
    "StreamEnd",
    "StreamEvent",
    "StreamGap",
    "TcpSegment",
]
