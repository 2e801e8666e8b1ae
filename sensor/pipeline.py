"""The only wiring: packets -> decode -> flows -> SMTP -> records -> outputs.

``Pipeline.run(packets)`` drives every stage with packets from any source (files,
tcpdump pipe) and returns ``Stats``. Expiry is driven by packet time: every
``expire_interval`` seconds of capture time the flow table drops idle connections.

Early verdicts: a consumer that acts before the conversation ends (the Postfix policy
service, at RCPT) needs the verdict while the flow is open. So besides the one record at
the end, a flow gets an *early* alert (``"early": true``, ``end: "open"``) when the
verdict the lines so far support first becomes ``bot`` (the dialects, or strong
evidence), and one at its first RCPT line whatever the verdict then (so the policy
service need not wait for flows that are not bots). Early alerts go only to the
``early_outputs`` (by default the alert stream publishers), never to the per-conversation
record files, and are not counted as conversations.

Errors: a bug in one flow's processing is isolated (logged once with the flow, counted
as ``internal_error``, the flow dropped) unless ``isolate_errors`` is false, as in tests.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .alert import Alert, DecidedAt
from .capture import RawPacket
from .capture.bypass import Bypass
from .capture.decode import Decoder, TcpSegment
from .config import Settings
from .dialect.matcher import DecisionMachine, MatchRun, explain
from .outputs import Output
from .reassembly import FlowTable, StreamEvent
from .reassembly.events import Flow
from .smtp import SmtpConversation
from .stats import Stats

logger = logging.getLogger(__name__)


# Marks a flow whose processing failed: it is dropped, its later events ignored.
_DROPPED = object()


class FlowState:
    """Per conversation: the SMTP stepper and its walk through the decision machine."""

    __slots__ = ("smtp", "run", "early")

    def __init__(self, smtp: SmtpConversation, run: MatchRun | None) -> None:
        self.smtp = smtp
        self.run = run
        self.early = 0  # early alerts sent: bit 1 "bot", bit 2 "at RCPT"


# Young-generation threshold of the cyclic garbage collector during a run (default 700).
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Collector settings for a long packet loop, called once by the commands.

    The stages allocate many short-lived tuples and lists, all freed by reference
    counting (the per-flow state holds no cycles). With the default threshold the cyclic
    collector scans the young generation every 700 allocations, and the older ones (the
    flow table) often: 5-10% of a replay. Objects alive now (modules, the decision
    machine) are frozen out of its sight; cycles, if any, are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


# Text form of recently seen packed addresses (ipaddress is slow, and a mail server sees
# the same clients again and again); emptied when it reaches this many entries.
ADDRESS_CACHE = 65536
_addresses: dict[bytes, str] = {}


def address(packed: bytes) -> str:
    text = _addresses.get(packed)
    if text is None:
        if len(_addresses) >= ADDRESS_CACHE:
            _addresses.clear()
        if len(packed) == 4:
            text = f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"
        else:
            text = str(ipaddress.ip_address(packed))
        _addresses[packed] = text
    return text


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        outputs: list[Output],
        *,
        isolate_errors: bool = True,
        progress: Callable[[int], None] | None = None,
        machine: DecisionMachine | None = None,
        explain: bool = False,
        early_outputs: list[Output] | None = None,
    ) -> None:
        self.machine = machine
        self.explain = explain
        self.settings = settings
        self.outputs = outputs
        # The alert stream publishers (the same duck type cli.await_subscriber uses).
        self.early_outputs = (
            early_outputs if early_outputs is not None
            else [o for o in outputs if hasattr(o, "wait_subscribers")]
        )
        self.isolate_errors = isolate_errors
        self.progress = progress
        self.decoder = Decoder(settings.capture.ports)
        # Give this to the packet source so that finished conversations are dropped there.
        self.bypass = Bypass()
        self.table = FlowTable(settings.reassembly, settings.capture.ports, self.bypass)
        self.stats = Stats()
        self.strong_evidence = settings.verdict.strong_evidence
        self.last_ts = 0.0

    def run(self, packets: Iterable[RawPacket] | Iterable[TcpSegment], *, decoded: bool = False) -> Stats:
        """Every packet through every stage. With ``decoded``, the source yields this
        pipeline's decoder's segments itself (``PcapFile(..., decoder=pipeline.decoder)``)
        and counts the records it skipped in ``decoder.counts``."""
        started = time.perf_counter()
        decode = self.decoder.decode
        skipped_before = sum(self.decoder.counts.values())
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
                seg: TcpSegment | None = packet if decoded else decode(packet)  # type: ignore[assignment,arg-type]
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
            if decoded:  # the records the source decoded and dropped were packets too
                count += sum(self.decoder.counts.values()) - skipped_before
            self.stats.packets += count
            self.stats.segments += segments
            self.stats.seconds += time.perf_counter() - started
        return self.stats

    def run_conversations(self, conversations: Iterable[tuple[Any, list[StreamEvent]]]) -> Stats:
        """Conversations already reassembled elsewhere (the Zeek front end): each a
        connection-like object (endpoints, ``first_ts``, ``mid_stream``) and its stream
        events, through the same SMTP and dialect stages and outputs."""
        started = time.perf_counter()
        try:
            for conn, events in conversations:
                self.stats.flows += 1
                self._handle([(conn, events)])
        finally:
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
        self.stats.flows += self.table.counts["flows"]
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
    def _handle(self, results: Sequence[tuple[Flow, list[StreamEvent]]]) -> None:
        for conn, events in results:
            try:
                self._flow_events(conn, events)
            except BrokenPipeError:
                raise  # the reader of our output went away (| head): not this flow's fault
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

    def _flow_events(self, conn: Flow, events: list[StreamEvent]) -> None:
        state = conn.app
        if state is None:
            if not conn.payload_seen:
                return  # a handshake, a scan, a SYN flood: no conversation to report
            settings = self.settings.smtp
            state = conn.app = FlowState(
                SmtpConversation(
                    max_line_length=settings.max_line_length,
                    max_held_bytes=settings.max_held_bytes,
                    mid_stream=conn.mid_stream,
                ),
                MatchRun(self.machine) if self.machine is not None else None,
            )
        if state is _DROPPED:
            return
        assert isinstance(state, FlowState)
        smtp = state.smtp
        if smtp.done:
            return
        feed = smtp.feed
        run = state.run
        for event in events:
            feed(event)
            if run is not None and len(smtp.client_lines) > run.lines:
                for i in range(run.lines, len(smtp.client_lines)):
                    command, ts = smtp.line_meta[i]
                    run.step(smtp.after[i], smtp.client_lines[i], command, ts)
            if self.early_outputs and state.early != 3 and not smtp.done:
                self._early(conn, state)
            if smtp.done:
                self._emit(conn, state)
                self.table.settle(conn)
                return

    def _early(self, conn: Flow, state: FlowState) -> None:
        """Publish the flow's verdict so far, once when it becomes bot, once at RCPT."""
        smtp = state.smtp
        lines = len(smtp.client_lines)
        if not lines:
            return
        verdict = state.run.current if state.run is not None else "unknown"
        if verdict == "unknown" and any(n in smtp.anomalies for n in self.strong_evidence):
            verdict = "bot"
        if verdict == "bot":
            state.early = 3  # nothing to add after a bot verdict
        elif not state.early & 2 and smtp.line_meta[-1][0] == "RCPT":
            state.early |= 2
        else:
            return
        names: tuple[str, ...] = ()
        family: str | None = None
        if state.run is not None and state.run.lines:
            decision = state.run.finish()
            names, family = decision.dialects, decision.family
        command, ts = smtp.line_meta[-1]
        alert = self._alert(conn, state, verdict, DecidedAt(lines, command, max(0.0, ts - conn.first_ts)),
                            names, family, "open", True, {"early": True})
        for output in self.early_outputs:
            output.publish(alert)

    def _verdict(self, conn: Flow, state: FlowState) -> tuple[str, DecidedAt | None, tuple[str, ...], str | None]:
        """The dialects' verdict; an unknown conversation is "bot" only on strong evidence."""
        smtp = state.smtp
        verdict: str = "unknown"
        decided_at: DecidedAt | None = None
        names: tuple[str, ...] = ()
        family: str | None = None
        if state.run is not None:
            decision = state.run.finish()
            verdict, names, family = decision.verdict, decision.dialects, decision.family
            if decision.decided_line is not None and decision.decided_ts is not None:
                decided_at = DecidedAt(
                    decision.decided_line, decision.decided_command or "",
                    max(0.0, decision.decided_ts - conn.first_ts),
                )
        if verdict == "unknown":
            evidence = [smtp.anomalies[n] for n in self.strong_evidence if n in smtp.anomalies]
            if evidence:
                line, command, ts = min(evidence, key=lambda e: e[2])
                return "bot", DecidedAt(line, command, max(0.0, ts - conn.first_ts)), names, family
        return verdict, decided_at, names, family

    def _emit(self, conn: Flow, state: FlowState) -> None:
        smtp = state.smtp
        end = smtp.end
        assert end is not None
        verdict, decided_at, names, family = self._verdict(conn, state)
        extra = {}
        if self.explain and self.machine is not None:
            extra["explain"] = self._explain(smtp)
        alert = self._alert(conn, state, verdict, decided_at, names, family, end.end, end.incomplete, extra)
        stats = self.stats
        stats.conversations += 1
        stats.verdicts[alert.verdict] += 1
        stats.ends[alert.end] += 1
        for name in alert.anomalies:
            stats.anomalies[name] += 1
        for output in self.outputs:
            output.publish(alert)

    def _alert(
        self, conn: Flow, state: FlowState, verdict: str, decided_at: DecidedAt | None,
        names: tuple[str, ...], family: str | None, end: str, incomplete: bool, extra: dict[str, Any],
    ) -> Alert:
        smtp = state.smtp
        return Alert(
            ts=conn.first_ts,
            client=address(conn.client),
            client_port=conn.client_port,
            server=address(conn.server),
            server_port=conn.server_port,
            verdict=verdict,
            dialects=names,
            family=family,
            decided_at=decided_at,
            anomalies=tuple(smtp.anomalies),
            end=end,
            incomplete=incomplete,
            client_lines=tuple(smtp.client_lines),
            replies=tuple(smtp.replies),
            pipelined=tuple(smtp.pipelined),
            after=tuple(smtp.after),
            extra=extra,
        )

    def _explain(self, smtp: SmtpConversation) -> list[str]:
        """Every dialect's reason, those that went furthest first."""
        assert self.machine is not None
        steps = list(zip(smtp.after, smtp.client_lines, strict=True))
        reasons = [explain(d, steps) for d in self.machine.dialects]

        def reached(reason: str) -> int:
            return 10**9 if " accepts " in reason else int(reason.split(" at line ", 1)[1].split(":", 1)[0])

        return sorted(reasons, key=lambda r: (-reached(r), r))
