"""Capture: packet sources that yield ``(ts, linktype, frame)`` records.

A ``RawPacket`` is a plain tuple rather than a dataclass because every packet of a
capture passes through here: the replay benchmark holds the sensor to 60% of the rate
of a bare dpkt record loop, and a tuple costs a tenth of a frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

RawPacket = tuple[float, int, bytes]
"""(timestamp in epoch seconds, LINKTYPE_* number, frame bytes)."""


class PacketSource(Protocol):
    """Anything that yields raw packets in capture order."""

    name: str

    def __iter__(self) -> Iterator[RawPacket]: ...


from .pcapfile import PcapFile, open_captures  # noqa: E402

__all__ = ["PacketSource", "PcapFile", "RawPacket", "open_captures"]
