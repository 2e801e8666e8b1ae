"""TcpConnection: the stepper for one TCP connection, both directions.

Input: ``feed(segment, from_client)``, ``close(now, reason)``, ``stop_payload()``.
Output: stream events (``events.py``) in *causal* order. Invariants:

* roles come from the handshake: the SYN sender is the client (the table decides, and
  guesses from the ports for a connection picked up mid-stream, marked ``tcp_mid_stream``);
* each direction's bytes come out in order, exactly once, with gaps reported
  (``segments.StreamBuffer``); a hole is declared a gap as soon as the peer acknowledges
  bytes beyond it (the capture lost them), else at the hole cap or the end;
* between directions, a chunk is delivered only once every byte of the other direction
  that its sender had acknowledged has been delivered. Capture timestamps are not
  trusted for this (a mirror port reorders, and equal timestamps are common): a client
  segment whose ACK covers the banner comes after the banner even if the capture shows
  it first, and one whose ACK does not cover it was sent before the client saw it. A
  chunk waits at most until ``max_hole_bytes`` are waiting, or the other direction ends
  or gaps (then ``tcp_ack_unseen``);
* after ``stop_payload()`` (the conversation has ended) payload is dropped unbuffered
  and only FIN/RST are followed, to see the close.

It knows nothing of SMTP, of other connections, or of the clock: time is ``segment.ts``.
"""

from __future__ import annotations

from ..anomalies import Anomaly
from ..capture.decode import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpSegment
from .events import ConnectionClosed, StreamData, StreamEnd, StreamEvent, StreamGap
from .segments import StreamBuffer

# NamedTuple instances built without their Python-level __new__ (a third of the cost),
# on the per-packet and per-line paths.
_new = tuple.__new__

# A queued item: (arrival number, kind, ts, offset, data, extra) where extra is the
# peer acknowledgement for data, (length, reason) for a gap, None for an end.
_DATA, _GAP, _END = 0, 1, 2
_CONTROL = TCP_SYN | TCP_FIN | TCP_RST
_NO_EVENTS: list[StreamEvent] = []  # shared: callers only iterate
Item = tuple[int, int, float, int, bytes, object]


class TcpConnection:
    __slots__ = (
        "client",
        "client_port",
        "server",
        "server_port",
        "first_ts",
        "last_ts",
        "mid_stream",
        "client_isn",
        "server_isn",
        "c",
        "s",
        "cq",
        "sq",
        "c_delivered",
        "s_delivered",
        "arrivals",
        "payload_seen",
        "ignore_payload",
        "closed",
        "fins",
        "max_stream_bytes",
        "max_wait_bytes",
        "capped",
        "c_stopped",
        "s_stopped",
        "app",
    )

    def __init__(
        self,
        client: bytes,
        client_port: int,
        server: bytes,
        server_port: int,
        ts: float,
        *,
        mid_stream: bool = False,
        max_stream_bytes: int = 1 << 20,
        max_hole_bytes: int = 1 << 18,
        retransmit_window: int = 16384,
    ) -> None:
        self.client = client
        self.client_port = client_port
        self.server = server
        self.server_port = server_port
        self.first_ts = ts
        self.last_ts = ts
        self.mid_stream = mid_stream
        self.client_isn: int | None = None
        self.server_isn: int | None = None
        self.c = StreamBuffer(retransmit_window, max_hole_bytes)
        self.s = StreamBuffer(retransmit_window, max_hole_bytes)
        # Delivery queues: plain lists (a few items at most; an empty deque costs 600 bytes
        # per connection, and a SYN flood fills the table with connections).
        self.cq: list[Item] = []
        self.sq: list[Item] = []
        self.c_delivered = 0
        self.s_delivered = 0
        self.arrivals = 0
        self.payload_seen = False
        self.ignore_payload = False
        self.closed = False
        self.fins = 0  # bit 1: client FIN seen, bit 2: server FIN seen
        self.max_stream_bytes = max_stream_bytes
        self.max_wait_bytes = max_hole_bytes
        self.capped = False
        # A gap or the end of a direction has been delivered: its bytes will not catch up,
        # so the other direction no longer waits for them.
        self.c_stopped = False
        self.s_stopped = False
        self.app: object | None = None  # the pipeline's per-flow state

    # ------------------------------------------------------------------ input
    def feed(self, seg: TcpSegment, from_client: bool) -> list[StreamEvent]:
        """Step with one segment of this connection."""
        ts = seg.ts
        self.last_ts = ts
        flags = seg.flags
        if self.closed:
            return []
        if flags & TCP_RST:
            return self._finish(ts, "reset")
        if self.ignore_payload:
            if flags & TCP_FIN:
                self.fins |= 1 if from_client else 2
                if self.fins == 3:
                    self.closed = True
                    return [ConnectionClosed(ts, "close")]
            return []

        payload = seg.payload
        if not flags & _CONTROL:
            # The common cases, without queueing: a pure ACK, or the next bytes in order
            # whose sender's ACK covers everything delivered from the other side.
            other = self.s if from_client else self.c
            if not other.pending:
                if not payload:
                    return _NO_EVENTS
                buf = self.c if from_client else self.s
                if buf.base is not None and not buf.pending and not self.cq and not self.sq:
                    start = buf.offset(seg.seq)
                    end = start + len(payload)
                    if start == buf.next and end <= self.max_stream_bytes and buf.fin_at is None:
                        ack = other.offset(seg.ack) if flags & TCP_ACK and other.base is not None else None
                        if from_client:
                            ready = ack is None or ack <= self.s_delivered or self.s_stopped
                        else:
                            ready = ack is None or ack <= self.c_delivered or self.c_stopped
                        if ready:
                            self.payload_seen = True
                            buf.next = end
                            buf._remember(payload)
                            if from_client:
                                self.c_delivered = end
                            else:
                                self.s_delivered = end
                            return [_new(StreamData, (ts, from_client, start, payload, ack))]

        events: list[StreamEvent] = []
        seq = seg.seq
        if flags & TCP_SYN:
            if from_client:
                if self.client_isn is None:
                    self.client_isn = seq
                    self.c.base = (seq + 1) & 0xFFFFFFFF
            else:
                if self.server_isn is None:
                    self.server_isn = seq
                    self.s.base = (seq + 1) & 0xFFFFFFFF
                    if self.c.base is None and flags & TCP_ACK:
                        self.c.base = seg.ack
            seq = (seq + 1) & 0xFFFFFFFF  # data in a SYN (TCP Fast Open) follows the SYN
        buf = self.c if from_client else self.s
        if payload or flags & TCP_FIN:
            if buf.base is None:
                buf.base = seq
        if payload:
            self.payload_seen = True
            other = self.s if from_client else self.c
            ack = other.offset(seg.ack) if flags & TCP_ACK and other.base is not None else None
            names: list[str] = []
            chunks = buf.add(seq, payload, (ts, ack), names)
            queue = self.cq if from_client else self.sq
            for offset, data, (cts, cack) in chunks:
                self.arrivals += 1
                queue.append((self.arrivals, _DATA, cts, offset, data, cack))
            if names:
                for name in names:
                    if name == "tcp_hole_cap":
                        self._gap(buf, queue, ts, "hole_cap")
                    events.append(Anomaly(ts, name))
            if buf.next > self.max_stream_bytes and not self.capped:
                self.capped = True
                events.append(Anomaly(ts, "tcp_stream_cap", f"{buf.next} bytes"))
                self.arrivals += 1
                queue.append((self.arrivals, _GAP, ts, buf.next, b"", (None, "stream_cap")))
        if flags & TCP_ACK:
            other = self.s if from_client else self.c
            if other.pending and other.base is not None:
                # The peer received bytes above a hole in the other direction: the hole
                # is capture loss, not reordering; declare it now rather than at a cap.
                acked = other.offset(seg.ack)
                if acked > other.next and acked > min(other.pending):
                    self._gap(other, self.sq if from_client else self.cq, ts, "acked")
        if flags & TCP_FIN:
            self.fins |= 1 if from_client else 2
            if buf.fin_at is None:
                buf.fin_at = buf.offset(seq) + len(payload)
        if buf.fin_at is not None and not buf.ended and buf.next >= buf.fin_at:
            buf.ended = True
            self.arrivals += 1
            (self.cq if from_client else self.sq).append((self.arrivals, _END, ts, buf.next, b"", None))
        self._drain(events, force=False)
        if self.c.ended and self.s.ended and not self.cq and not self.sq:
            self.closed = True
            events.append(ConnectionClosed(ts, "close"))
        return events

    def close(self, ts: float, reason: str) -> list[StreamEvent]:
        """End the connection now (idle expiry, end of capture, eviction)."""
        if self.closed:
            return []
        return self._finish(ts, reason)

    def stop_payload(self) -> None:
        """The application is done: drop buffers, follow only FIN/RST from now on."""
        self.ignore_payload = True
        self.cq.clear()
        self.sq.clear()
        self.c.drop_pending()
        self.s.drop_pending()

    # ------------------------------------------------------------------ internals
    def _gap(self, buf: StreamBuffer, queue: list[Item], ts: float, reason: str) -> None:
        at, length, chunks = buf.declare_gap()
        self.arrivals += 1
        queue.append((self.arrivals, _GAP, ts, at, b"", (length, reason)))
        for offset, data, (cts, cack) in chunks:
            self.arrivals += 1
            queue.append((self.arrivals, _DATA, cts, offset, data, cack))

    def _finish(self, ts: float, reason: str) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self.ignore_payload:
            for buf, queue in ((self.c, self.cq), (self.s, self.sq)):
                while buf.pending:
                    self._gap(buf, queue, ts, "close")
                if buf.fin_at is not None and not buf.ended and buf.next < buf.fin_at:
                    self.arrivals += 1
                    queue.append((self.arrivals, _GAP, ts, buf.next, b"", (buf.fin_at - buf.next, "close")))
            self._drain(events, force=True)
        self.closed = True
        events.append(ConnectionClosed(ts, reason))
        return events

    def _eligible(self, item: Item, from_client: bool) -> bool:
        ack = item[5]
        if item[1] != _DATA or ack is None:
            return True
        assert isinstance(ack, int)
        if from_client:
            return ack <= self.s_delivered or self.s_stopped
        return ack <= self.c_delivered or self.c_stopped

    def _drain(self, events: list[StreamEvent], force: bool) -> None:
        cq, sq = self.cq, self.sq
        while cq or sq:
            c_ok = bool(cq) and self._eligible(cq[0], True)
            s_ok = bool(sq) and self._eligible(sq[0], False)
            if c_ok and s_ok:
                from_client = cq[0][0] < sq[0][0]
            elif c_ok or s_ok:
                from_client = c_ok
            else:
                waiting = sum(len(i[4]) for i in cq) + sum(len(i[4]) for i in sq)
                if not force and waiting <= self.max_wait_bytes:
                    return
                # Both heads wait for bytes the capture never showed: release the older.
                from_client = cq[0][0] < sq[0][0] if cq and sq else bool(cq)
                head = (cq if from_client else sq)[0]
                events.append(Anomaly(head[2], "tcp_ack_unseen"))
                if from_client:
                    self.s_stopped = True
                else:
                    self.c_stopped = True
            _arrival, kind, ts, offset, data, extra = (cq if from_client else sq).pop(0)
            if kind == _DATA:
                assert extra is None or isinstance(extra, int)
                events.append(StreamData(ts, from_client, offset, data, extra))
                if from_client:
                    self.c_delivered = offset + len(data)
                else:
                    self.s_delivered = offset + len(data)
            elif kind == _GAP:
                assert isinstance(extra, tuple)
                length, reason = extra
                events.append(StreamGap(ts, from_client, offset, length, reason))
                if from_client:
                    self.c_stopped = True
                else:
                    self.s_stopped = True
            else:
                events.append(StreamEnd(ts, from_client))
                if from_client:
                    self.c_stopped = True
                else:
                    self.s_stopped = True
