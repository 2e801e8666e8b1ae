"""TCP reassembly: segments in, ordered byte streams of both directions out."""

from .connection import TcpConnection
from .events import (
    Anomaly,
    ConnectionClosed,
    StreamData,
    StreamEnd,
    StreamEvent,
    StreamGap,
    TcpSegment,
)
from .segments import StreamBuffer
from .table import FlowTable

__all__ = [
    "Anomaly",
    "ConnectionClosed",
    "FlowTable",
    "StreamBuffer",
    "StreamData",
    "StreamEnd",
    "StreamEvent",
    "StreamGap",
    "TcpConnection",
    "TcpSegment",
]
