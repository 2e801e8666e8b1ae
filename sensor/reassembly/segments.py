"""One direction of a TCP connection: sequence space, out-of-order store, overlaps.

Input: ``add(seq, data, meta)`` with 32-bit sequence numbers and an opaque ``meta``
(the connection passes the segment's timestamp and acknowledgement). Output: in-order
chunks ``(offset, bytes, meta)`` ready for delivery, and anomaly names. Invariants:

* offsets are 64-bit relative to the first data byte; a 32-bit sequence number is
  unwrapped to the offset nearest the delivery point, so wraparound is invisible above;
* bytes are delivered once, in order, never across a hole; a hole becomes a gap only
  when declared (hole cap, FIN with a hole, connection end) and is reported by
  ``declare_gap``, never guessed across;
* first data wins: for any offset, the first bytes seen are kept; later different bytes
  for the same offset raise ``tcp_overlap_mismatch`` (compared against the pending store,
  and against the last ``window`` delivered bytes);
* at most ``max_hole_bytes`` are held above a hole.

It knows nothing of SYN/FIN/RST semantics beyond the FIN's offset, nor of the other
direction.
"""

from __future__ import annotations

from typing import Any

MOD = 1 << 32
HALF = 1 << 31

Meta = Any
Chunk = tuple[int, bytes, Meta]


class StreamBuffer:
    __slots__ = (
        "base",
        "next",
        "pending",
        "pending_bytes",
        "fin_at",
        "history",
        "window",
        "max_hole_bytes",
        "ended",
    )

    def __init__(self, window: int, max_hole_bytes: int) -> None:
        self.base: int | None = None  # absolute sequence number of offset 0
        self.next = 0  # offset of the next byte to deliver
        self.pending: dict[int, tuple[bytes, Meta]] = {}  # offset -> bytes above ``next``
        self.pending_bytes = 0
        self.fin_at: int | None = None
        self.history = bytearray()  # the last ``window`` delivered bytes
        self.window = window
        self.max_hole_bytes = max_hole_bytes
        self.ended = False  # FIN reached in order

    def offset(self, seq: int) -> int:
        """The 64-bit offset of 32-bit ``seq`` nearest the delivery point."""
        assert self.base is not None
        diff = (seq - self.base - self.next) % MOD
        if diff >= HALF:
            diff -= MOD
        return self.next + diff

    def add(self, seq: int, data: bytes, meta: Meta, anomalies: list[str]) -> list[Chunk]:
        """Store ``data`` at ``seq``; return the chunks now deliverable in order."""
        start = self.offset(seq)
        nxt = self.next
        if start == nxt and not self.pending:  # the common case: in order, nothing held
            self.next = nxt + len(data)
            self._remember(data)
            return [(nxt, data, meta)]
        end = start + len(data)
        if end <= nxt:
            self._compare_delivered(start, data, anomalies)
            return []
        if start < nxt:
            self._compare_delivered(start, data[: nxt - start], anomalies)
            data = data[nxt - start :]
            start = nxt
        self._insert(start, data, meta, anomalies)
        out = self._drain()
        if self.pending_bytes > self.max_hole_bytes:
            anomalies.append("tcp_hole_cap")
        return out

    def _insert(self, start: int, data: bytes, meta: Meta, anomalies: list[str]) -> None:
        """Add the parts of [start, start+len) not already pending (first wins)."""
        end = start + len(data)
        cursor = start
        parts: list[tuple[int, bytes]] = []
        for p_start in sorted(self.pending):
            p_data = self.pending[p_start][0]
            p_end = p_start + len(p_data)
            if p_end <= cursor or p_start >= end:
                continue
            if p_start > cursor:
                parts.append((cursor, data[cursor - start : p_start - start]))
            lo, hi = max(cursor, p_start), min(end, p_end)
            if data[lo - start : hi - start] != p_data[lo - p_start : hi - p_start]:
                anomalies.append("tcp_overlap_mismatch")
            cursor = max(cursor, p_end)
            if cursor >= end:
                break
        if cursor < end:
            parts.append((cursor, data[cursor - start :]))
        for p_start, p_data in parts:
            if p_data:
                self.pending[p_start] = (p_data, meta)
                self.pending_bytes += len(p_data)

    def _drain(self) -> list[Chunk]:
        out: list[Chunk] = []
        pending = self.pending
        while self.next in pending:
            data, meta = pending.pop(self.next)
            self.pending_bytes -= len(data)
            out.append((self.next, data, meta))
            self.next += len(data)
            self._remember(data)
        return out

    def _remember(self, data: bytes) -> None:
        if self.window:
            history = self.history
            history += data
            if len(history) > self.window:
                del history[: len(history) - self.window]

    def _compare_delivered(self, start: int, data: bytes, anomalies: list[str]) -> None:
        """A retransmission of delivered bytes: compare what is still in the window."""
        h_start = self.next - len(self.history)
        lo = max(start, h_start)
        hi = start + len(data)
        if lo < hi and self.history[lo - h_start : hi - h_start] != data[lo - start : hi - start]:
            anomalies.append("tcp_overlap_mismatch")

    def declare_gap(self) -> tuple[int, int | None, list[Chunk]]:
        """Skip the hole at ``next``: return (offset, length, chunks delivered after it).

        With nothing pending, the length is unknown (None) and nothing follows.
        """
        at = self.next
        if not self.pending:
            return at, None, []
        first = min(self.pending)
        self.next = first
        self.history.clear()
        return at, first - at, self._drain()

    def drop_pending(self) -> None:
        self.pending.clear()
        self.pending_bytes = 0
        self.history = bytearray()
        self.window = 0
