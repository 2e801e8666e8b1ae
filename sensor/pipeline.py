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

from .alert import Alert, DecidedAt
from .capture import RawPacket
from .capture.bypass import Bypass
from .capture.decode import Decoder
from .config import Settings
from .outputs import Output
from .reassembly import FlowTable, StreamEvent, TcpConnection
from .smtp import SmtpConversation
from .stats import Stats

logger = logging.getLogger(__name__)


# Marks a flow whose processing failed: it is dropped, its later events ignored.
_DROPPED = object()


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
        # Give this to the packet source so that finished conversations are dropped there.
        self.bypass = Bypass()
        self.table = FlowTable(settings.reassembly, settings.capture.ports, self.bypass)
        self.stats = Stats()
        self.strong_evidence = settings.verdict.strong_evidence
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
        self.stats.packets += self.bypass.dropped
        self.stats.segments += self.bypass.dropped
        self.stats.bypassed = self.bypass.dropped
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
                self.table.settle(conn)
                conn.app = _DROPPED

    def _flow_events(self, conn: TcpConnection, events: list[StreamEvent]) -> None:
        smtp = conn.app
        if smtp is None:
            if not conn.payload_seen:
                return  # a handshake, a scan, a SYN flood: no conversation to report
            settings = self.settings.smtp
            smtp = conn.app = SmtpConversation(
                max_line_length=settings.max_line_length,
                max_held_bytes=settings.max_held_bytes,
                mid_stream=conn.mid_stream,
            )
        if smtp is _DROPPED:
            return
        assert isinstance(smtp, SmtpConversation)
        if smtp.done:
            return
        feed = smtp.feed
        for event in events:
            feed(event)
            if smtp.done:
                self._emit(conn, smtp)
                self.table.settle(conn)
                return

    def _verdict(self, conn: TcpConnection, smtp: SmtpConversation) -> tuple[str, DecidedAt | None]:
        """Until the dialect engine decides: strong evidence makes "bot", else "unknown"."""
        evidence = [smtp.anomalies[n] for n in self.strong_evidence if n in smtp.anomalies]
        if not evidence:
            return "unknown", None
        line, command, ts = min(evidence, key=lambda e: e[2])
        return "bot", DecidedAt(line, command, max(0.0, ts - conn.first_ts))

    def _emit(self, conn: TcpConnection, smtp: SmtpConversation) -> None:
        end = smtp.end
        assert end is not None
        verdict, decided_at = self._verdict(conn, smtp)
        alert = Alert(
            ts=conn.first_ts,
            client=address(conn.client),
            client_port=conn.client_port,
            server=address(conn.server),
            server_port=conn.server_port,
            verdict=verdict,
            dialects=(),
            family=None,
            decided_at=decided_at,
            anomalies=tuple(smtp.anomalies),
            end=end.end,
            incomplete=end.incomplete,
            client_lines=tuple(smtp.client_lines),
            replies=tuple(smtp.replies),
            pipelined=tuple(smtp.pipelined),
        )
        stats = self.stats
        stats.conversations += 1
        stats.verdicts[alert.verdict] += 1
        stats.ends[alert.end] += 1
        for name in alert.anomalies:
            stats.anomalies[name] += 1
        for output in self.outputs:
            output.publish(alert)
