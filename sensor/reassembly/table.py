"""FlowTable: the connections being followed, keyed both ways by their 4-tuple.

Input: ``feed(segment)``, ``expire(now)``, ``close_all(now)``. Output: per connection,
the events its ``TcpConnection`` produced, as ``(connection, events)`` pairs.

* A connection is created by a SYN (the sender is the client), a SYN-ACK (the receiver
  is the client: the SYN was not captured) or a segment with payload (picked up
  mid-stream: the endpoint on a watched port is the server; if both are, the lower port).
  Bare ACK/FIN/RST segments of unknown connections create nothing: they are the tails
  of connections that ended or were never seen.
* Each connection is in the dict twice, once per direction, with a flag saying whether
  that key is the client's direction: one lookup per packet gives both.
* A SYN with a new initial sequence number on a known 4-tuple closes the old connection
  and starts a new one (port reuse). A closed connection stays for
  ``handshake_timeout`` seconds to absorb late retransmissions.
* Caps: at most ``max_flows`` connections. When full, the oldest connection that has
  carried no payload yet (a SYN flood, a scan) is evicted; if there is none, the new
  connection is not followed and ``tcp_flow_table_full`` is counted.
* Expiry is driven by packet time (``now``), never by the clock.
* ``settle(conn)``: the application is done with a connection (its conversation ended).
  It stops buffering; its remaining packets (the message body) cost one lookup and a
  look at their flags, to see the close.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from ..capture.bypass import Bypass
from ..capture.decode import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpSegment
from ..config import ReassemblySettings
from .connection import TcpConnection
from .events import Flow, StreamEvent

Result = list[tuple[TcpConnection, list[StreamEvent]]]
_NOTHING: Result = []
_CLOSE_FLAGS = TCP_SYN | TCP_FIN | TCP_RST


class FlowTable:
    def __init__(
        self,
        settings: ReassemblySettings,
        ports: tuple[int, ...] | frozenset[int],
        bypass: Bypass | None = None,
    ) -> None:
        self.settings = settings
        self.bypass = bypass
        self.ports = frozenset(ports)
        self.flows: dict[tuple[bytes, int, bytes, int], tuple[TcpConnection, bool]] = {}
        # id -> connection that has carried no payload yet, oldest first. An OrderedDict:
        # taking the oldest from a plain dict after many deletions walks the dead slots.
        self.embryonic: OrderedDict[int, TcpConnection] = OrderedDict()
        self.count = 0
        self.counts: Counter[str] = Counter()

    def __len__(self) -> int:
        return self.count

    def feed(self, seg: TcpSegment) -> Result:
        entry = self.flows.get((seg.src, seg.sport, seg.dst, seg.dport))
        if entry is not None:
            conn, from_client = entry
            flags = seg.flags
            if conn.ignore_payload and not flags & _CLOSE_FLAGS:
                conn.last_ts = seg.ts  # the message body of a settled connection
                return _NOTHING
            if flags & TCP_SYN and not flags & TCP_ACK and from_client and self._is_new(conn, seg):
                if not conn.closed:
                    self.counts["tcp_syn_isn_changed"] += 1
                result = self._retire(conn, seg.ts)
                result.extend(self._create(seg))
                return result
            had_payload = conn.payload_seen
            events = conn.feed(seg, from_client)
            if not had_payload and conn.payload_seen:
                self.embryonic.pop(id(conn), None)
            return [(conn, events)] if events else _NOTHING
        return self._create(seg)

    @staticmethod
    def _is_new(conn: TcpConnection, seg: TcpSegment) -> bool:
        """Is this SYN the start of another connection on the same 4-tuple?"""
        if conn.client_isn is not None:
            return conn.client_isn != seg.seq
        base = conn.c.base
        return base is not None and base != (seg.seq + 1) & 0xFFFFFFFF

    def _create(self, seg: TcpSegment) -> Result:
        flags = seg.flags
        mid_stream = False
        if flags & TCP_SYN:
            client_is_src = not flags & TCP_ACK
        elif seg.payload:
            mid_stream = True
            if (seg.dport in self.ports) != (seg.sport in self.ports):
                client_is_src = seg.dport in self.ports
            else:
                client_is_src = seg.sport > seg.dport
        else:
            self.counts["untracked_segments"] += 1
            return _NOTHING
        result: Result = []
        if self.count >= self.settings.max_flows and not self._make_room(seg.ts, result):
            self.counts["tcp_flow_table_full"] += 1
            return result
        s = self.settings
        if client_is_src:
            conn = TcpConnection(
                seg.src, seg.sport, seg.dst, seg.dport, seg.ts, mid_stream=mid_stream,
                max_stream_bytes=s.max_stream_bytes, max_hole_bytes=s.max_hole_bytes,
                retransmit_window=s.retransmit_window,
            )
        else:
            conn = TcpConnection(
                seg.dst, seg.dport, seg.src, seg.sport, seg.ts, mid_stream=mid_stream,
                max_stream_bytes=s.max_stream_bytes, max_hole_bytes=s.max_hole_bytes,
                retransmit_window=s.retransmit_window,
            )
        self.flows[(conn.client, conn.client_port, conn.server, conn.server_port)] = (conn, True)
        self.flows[(conn.server, conn.server_port, conn.client, conn.client_port)] = (conn, False)
        self.count += 1
        self.counts["flows"] += 1
        events = conn.feed(seg, client_is_src)
        if not conn.payload_seen:
            self.embryonic[id(conn)] = conn
        result.append((conn, events))
        return result

    def _make_room(self, now: float, result: Result) -> bool:
        if not self.embryonic:
            return False
        _id, victim = self.embryonic.popitem(last=False)
        result.extend(self._retire(victim, now, "evicted"))
        self.counts["evicted_handshakes"] += 1
        return True

    def _retire(self, conn: TcpConnection, now: float, reason: str = "close") -> Result:
        events = conn.close(now, reason)
        self._remove(conn)
        return [(conn, events)] if events else []

    def settle(self, conn: Flow) -> None:
        """The conversation is over: stop buffering, follow only the close."""
        conn.stop_payload()
        if self.bypass is not None and not conn.closed:
            self.bypass.add(conn.client, conn.client_port, conn.server, conn.server_port)

    def _remove(self, conn: TcpConnection) -> None:
        if self.bypass is not None and conn.ignore_payload:
            self.bypass.discard(conn.client, conn.client_port, conn.server, conn.server_port)
        key = (conn.client, conn.client_port, conn.server, conn.server_port)
        if self.flows.get(key, (None,))[0] is conn:
            del self.flows[key]
            del self.flows[(conn.server, conn.server_port, conn.client, conn.client_port)]
            self.count -= 1
        self.embryonic.pop(id(conn), None)

    def expire(self, now: float) -> Result:
        """Close and forget connections idle for longer than their timeout."""
        s = self.settings
        result: Result = []
        stale = []
        bypass = self.bypass
        for conn, is_client_key in self.flows.values():
            if not is_client_key:
                continue
            if bypass is not None and conn.ignore_payload:
                seen = bypass.last_seen(conn.client, conn.client_port, conn.server, conn.server_port)
                if seen > conn.last_ts:
                    conn.last_ts = float(seen)
            if conn.closed or not (conn.payload_seen or conn.server_isn is not None):
                timeout = s.handshake_timeout
            else:
                timeout = s.idle_timeout
            if now - conn.last_ts > timeout:
                stale.append(conn)
        for conn in stale:
            result.extend(self._retire(conn, now, "timeout"))
        return result

    def close_all(self, now: float, reason: str = "eof") -> Result:
        """End every connection (end of capture, shutdown)."""
        result: Result = []
        for conn in [c for c, is_client_key in self.flows.values() if is_client_key]:
            result.extend(self._retire(conn, now, reason))
        return result
