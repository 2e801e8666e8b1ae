"""The only wiring: packets -> decode -> flows -> SMTP -> records -> outputs.

``Pipeline.run(packets)`` drives every stage with packets from any source (files,
tcpdump pipe) and returns ``Stats``. Expiry is driven by packet time: every
``expire_interval`` seconds of capture time the flow table drops idle connections.

Errors: a bug in one flow's processing is isolated (logged once with the flow, counted
as ``internal_error``, the flow dropped) unless ``isolate_errors`` is false, as in tests.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .alert import Alert
from .capture import RawPacket
from .capture.decode import Decoder
from .config import Settings
from .outputs import Output
from .reassembly import Anomaly, ConnectionClosed, FlowTable, StreamEvent, TcpConnection
from .smtp import ClientLine, ConversationEnd, ServerReply, SmtpConversation
from .stats import Stats

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class FlowState:
    """What the pipeline keeps per conversation until its record is written."""

    smtp: SmtpConversation
    lines: list[bytes] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    pipelined: list[int] = field(default_factory=list)
    anomalies: dict[str, None] = field(default_factory=dict)
    finished: bool = False


def address(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        outputs: list[Output],
        *,
        isolate_errors: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.outputs = outputs
        self.isolate_errors = isolate_errors
        self.progress = progress
        self.decoder = Decoder(settings.capture.ports)
        self.table = FlowTable(settings.reassembly, settings.capture.ports)
        self.stats = Stats()
        self.last_ts = 0.0

    def run(self, packets: Iterable[RawPacket]) -> Stats:
        started = time.perf_counter()
        decode = self.decoder.decode
        feed = self.table.feed
        handle = self._handle
        interval = self.settings.reassembly.expire_interval
        next_expiry: float | None = None
        count = 0
        segments = 0
        progress = self.progress
        try:
            for packet in packets:
                count += 1
                if progress is not None and not count & 0xFFFF:
                    progress(count)
                seg = decode(packet)
                if seg is None:
                    continue
                segments += 1
                ts = seg.ts
                if next_expiry is None:
                    next_expiry = ts + interval
                elif ts >= next_expiry:
                    next_expiry = ts + interval
                    handle(self.table.expire(ts))
                if ts > self.last_ts:
                    self.last_ts = ts
                results = feed(seg)
                if results:
                    handle(results)
        finally:
            self.stats.packets += count
            self.stats.segments += segments
            self.stats.seconds += time.perf_counter() - started
        return self.stats

    def finish(self) -> Stats:
        """End of input: close every open connection (``end: eof``) and the outputs."""
        started = time.perf_counter()
        self._handle(self.table.close_all(self.last_ts, "eof"))
        self.stats.seconds += time.perf_counter() - started
        self.stats.flows = self.table.counts["flows"]
        self.stats.skipped.update(
            {k: v for k, v in self.decoder.counts.items() if not k.startswith("capture_")}
        )
        for name, value in self.decoder.counts.items():
            if name.startswith("capture_"):
                self.stats.anomalies[name] += value
        for name in ("tcp_flow_table_full", "tcp_syn_isn_changed"):
            if self.table.counts[name]:
                self.stats.anomalies[name] += self.table.counts[name]
        for name in ("evicted_handshakes", "untracked_segments"):
            if self.table.counts[name]:
                self.stats.skipped[name] += self.table.counts[name]
        for output in self.outputs:
            output.close()
        return self.stats

    # ------------------------------------------------------------------ per flow
    def _handle(self, results: list[tuple[TcpConnection, list[StreamEvent]]]) -> None:
        for conn, events in results:
            try:
                self._flow_events(conn, events)
            except Exception:
                if not self.isolate_errors:
                    raise
                logger.exception(
                    "internal error in flow [%s]:%d -> [%s]:%d; flow dropped",
                    address(conn.client), conn.client_port, address(conn.server), conn.server_port,
                )
                self.stats.anomalies["internal_error"] += 1
                conn.stop_payload()
                conn.app = FlowState(SmtpConversation(), finished=True)

    def _flow_events(self, conn: TcpConnection, events: list[StreamEvent]) -> None:
        state = conn.app
        if state is None:
            if not conn.payload_seen:
                return  # a handshake, a scan, a SYN flood: no conversation to report
            smtp = self.settings.smtp
            state = FlowState(
                SmtpConversation(
                    max_line_length=smtp.max_line_length,
                    max_held_bytes=smtp.max_held_bytes,
                    mid_stream=conn.mid_stream,
                )
            )
            if conn.mid_stream:
                state.anomalies["tcp_mid_stream"] = None
            conn.app = state
        assert isinstance(state, FlowState)
        if state.finished:
            return
        for event in events:
            if isinstance(event, Anomaly) and not isinstance(event, ConnectionClosed):
                state.anomalies[event.name] = None
                continue
            for out in state.smtp.feed(event):
                if isinstance(out, ClientLine):
                    state.lines.append(out.raw)
                    if out.pipelined:
                        state.pipelined.append(out.index)
                elif isinstance(out, ServerReply):
                    state.replies.append(out.raw)
                elif isinstance(out, Anomaly):
                    state.anomalies[out.name] = None
                elif isinstance(out, ConversationEnd):
                    self._emit(conn, state, out)
                    conn.stop_payload()
                    return

    def _emit(self, conn: TcpConnection, state: FlowState, end: ConversationEnd) -> None:
        state.finished = True
        alert = Alert(
            ts=conn.first_ts,
            client=address(conn.client),
            client_port=conn.client_port,
            server=address(conn.server),
            server_port=conn.server_port,
            verdict="unknown",
            dialects=(),
            family=None,
            decided_at=None,
            anomalies=tuple(state.anomalies),
            end=end.end,
            incomplete=end.incomplete,
            client_lines=tuple(state.lines),
            replies=tuple(state.replies),
            pipelined=tuple(state.pipelined),
        )
        stats = self.stats
        stats.conversations += 1
        stats.verdicts[alert.verdict] += 1
        stats.ends[alert.end] += 1
        for name in alert.anomalies:
            stats.anomalies[name] += 1
        for output in self.outputs:
            output.publish(alert)
