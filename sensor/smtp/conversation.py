"""SmtpConversation: the stepper for one SMTP conversation.

Input: the stream events of one TCP connection (``sensor.reassembly.events``).
Output: ``ClientLine``, ``ServerReply``, ``Anomaly`` and one final ``ConversationEnd``.

Invariants:

* client bytes are never stripped, case-folded or decoded: ``ClientLine.raw`` is what
  was sent, terminator included; only AUTH secrets are replaced by ``***``, here, so that
  no output can leak them;
* replies are paired with commands strictly in order (RFC 5321 s4.3, RFC 2920 s3:
  pipelined commands are answered in order); the first reply is the banner;
* "pipelined" and "pregreet" come from the ACK numbers (``StreamData.peer_ack``): a line
  is pipelined when the client's acknowledgement at the time it sent the line did not
  cover the end of the previous reply. Without an ACK, from the order of delivery, which
  the reassembler made causal;
* nothing is read across a gap: a gap in either direction ends the conversation,
  ``incomplete``;
* after the end, every further event is ignored.

Besides the events, the conversation keeps its own transcript (``client_lines``,
``replies``, ``pipelined``, ``anomalies``, ``end``): what the record of the conversation
is made of, kept here so that the pipeline need not walk every event.

It knows nothing of addresses, files, dialects or time beyond the events' ``ts``.
"""

from __future__ import annotations

from collections import deque

from ..anomalies import Anomaly
from ..reassembly.events import ConnectionClosed, StreamData, StreamEnd, StreamEvent, StreamGap
from .events import ClientLine, ConversationEnd, ServerReply, SmtpEvent
from .lines import Line, LineSplitter, ehlo_keywords, reply_code
from .state import END_ON_COMMAND, KNOWN_VERBS, NON_SMTP_VERBS, TRANSITIONS, Outcome, Phase

# NamedTuple instances built without their Python-level __new__ (a third of the cost),
# on the per-packet and per-line paths.
_new = tuple.__new__

# (ts of the first byte, peer ACK offset or None, server bytes delivered at that time)
ClientMeta = tuple[float, int | None, int]

RFC_LINE_LIMIT = 510  # 512 octets including CRLF (RFC 5321 s4.5.3.1.4)
_HEADER_NAME = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


class _Command:
    """A client command waiting for, or paired with, its reply."""

    __slots__ = ("index", "verb", "reply_end", "reply_code")

    def __init__(self, index: int, verb: str) -> None:
        self.index = index
        self.verb = verb
        self.reply_end: int | None = None
        self.reply_code = 0


class SmtpConversation:
    def __init__(
        self,
        *,
        max_line_length: int = 16384,
        max_held_bytes: int = 65536,
        mid_stream: bool = False,
    ) -> None:
        self.max_held_bytes = max_held_bytes
        self.client_split: LineSplitter[ClientMeta] = LineSplitter(max_line_length)
        self.server_split: LineSplitter[float] = LineSplitter(max_line_length)
        self.phase = Phase.COMMAND if mid_stream else Phase.BANNER
        self.incomplete = mid_stream
        # Client bytes not read yet: lines split off, then chunks not split yet (split
        # only when they are read: what follows DATA or STARTTLS never is), then, once
        # the client's stream has ended, the unterminated rest in the splitter.
        self.held: deque[Line[ClientMeta]] = deque()
        self.chunks: deque[tuple[bytes, ClientMeta]] = deque()
        self.held_bytes = 0  # in ``held`` and ``chunks``
        self.client_ended = False
        self.reply_lines: list[bytes] = []
        self.reply_bytes = 0
        self.reply_code = 0  # of the reply being assembled
        # Mid-stream: the banner (if any) was before the capture; never call it missing.
        self.banner_end: int | None = 0 if mid_stream else None
        self.banner_seen = mid_stream
        self.pending: deque[_Command] = deque()
        self.last: _Command | None = None
        self.awaiting: _Command | None = None
        self.ehlo: tuple[frozenset[str], int] | None = None
        self.server_offset = 0
        self.server_spoke = False
        self.lines = 0
        self.pregreet_reported = False
        self.final = False  # flushing at the end: no reply will come any more
        # The transcript.
        self.client_lines: list[bytes] = []
        # per client line, what it was sent after: the code of the reply it waited for
        # ("250"), "-" if it did not wait, "?" if no reply was ever seen to tell
        self.after: list[str] = []
        self.line_meta: list[tuple[str, float]] = []  # per client line: (command, ts)
        self.banner_code = 0
        self.replies: list[bytes] = []
        self.pipelined: list[int] = []
        # name -> (line number, command, ts) where it was first seen
        self.anomalies: dict[str, tuple[int, str, float]] = (
            {"tcp_mid_stream": (0, "", 0.0)} if mid_stream else {}
        )
        self.last_command = ""
        self.end: ConversationEnd | None = None

    @property
    def done(self) -> bool:
        return self.end is not None

    # ------------------------------------------------------------------ input
    def feed(self, event: StreamEvent) -> list[SmtpEvent]:
        out: list[SmtpEvent] = []
        if self.phase is Phase.DONE:
            return out
        if isinstance(event, StreamData):
            if not event.data:
                return out
            if event.from_client:
                self.chunks.append((event.data, (event.ts, event.peer_ack, self.server_offset)))
                self.held_bytes += len(event.data)
                self._check_held(out, event.ts)
            else:
                self.server_spoke = True
                data = event.data
                self.server_offset = event.offset + len(data)
                if (
                    not self.reply_lines
                    and not self.server_split.buf
                    and not self.server_split.discarding  # the rest of a cut line
                    and data[-1:] == b"\n"
                    and self._whole_replies(data, event.ts, event.offset, out)
                ):
                    self.server_split.offset += len(data)
                    if self.held or self.chunks:
                        self._run(out)
                    return out
                for line in self.server_split.feed(data, event.ts):
                    self._reply_line(line, out)
                    # Held client lines were delivered before this reply: read them now,
                    # so that the next reply is paired with the right command.
                    if self.held or self.chunks:
                        self._run(out)
                    if self.end is not None:
                        return out
            self._run(out)
        elif isinstance(event, StreamGap):
            side = "client" if event.from_client else "server"
            self._anomaly(out, event.ts, "tcp_gap", f"{side} stream at byte {event.offset}")
            self._end(event.ts, "gap", out, incomplete=True)
        elif isinstance(event, StreamEnd):
            if event.from_client:
                self.client_ended = True
            else:
                rest_reply = self.server_split.flush()
                if rest_reply is not None:
                    self._reply_line(rest_reply, out)
                if self.reply_lines and not self.done:
                    self._reply(event.ts, self.server_offset, out, self.reply_code)
            self._run(out)
        elif isinstance(event, ConnectionClosed):
            self._close(event, out)
        else:
            self._anomaly(out, event.ts, event.name, event.detail)
        return out

    def _anomaly(self, out: list[SmtpEvent], ts: float, name: str, detail: str = "") -> None:
        out.append(Anomaly(ts, name, detail))
        if name not in self.anomalies:
            self.anomalies[name] = (self.lines, self.last_command, ts)

    # ------------------------------------------------------------------ client side
    def _check_held(self, out: list[SmtpEvent], ts: float) -> None:
        """At most ``max_held_bytes`` wait for a reply (or for the banner)."""
        if self.held_bytes > self.max_held_bytes and self.phase in (Phase.BANNER, Phase.AWAIT):
            self._anomaly(out, ts, "smtp_held_cap", f"{self.held_bytes} bytes")
            self.incomplete = True
            if self.phase is Phase.AWAIT:
                # The client did not wait for the reply: take the likely reading.
                assert self.awaiting is not None
                end = {"DATA": "data", "STARTTLS": "starttls"}.get(self.awaiting.verb, "gap")
                self._end(ts, end, out, incomplete=True)
            else:
                self.phase = Phase.COMMAND  # read them blind: the banner may never come

    def _run(self, out: list[SmtpEvent]) -> None:
        """Read held client lines while the conversation is where a command may come."""
        held = self.held
        while self.phase is Phase.COMMAND or self.phase is Phase.AUTH:
            if held:
                line = held.popleft()
                self.held_bytes -= len(line.raw)
                self._interpret(line, out)
            elif self.chunks:
                data, meta = self.chunks.popleft()
                self.held_bytes -= len(data)
                for line in self.client_split.feed(data, meta):
                    held.append(line)
                    self.held_bytes += len(line.raw)
            elif self.client_ended and self.client_split.buf:
                rest = self.client_split.flush()
                if rest is None:
                    break
                held.append(rest)
                self.held_bytes += len(rest.raw)
            else:
                break

    def _unread(self) -> bool:
        """Client bytes that were never read as a line."""
        return bool(self.held or self.chunks or self.client_split.buf)

    def _waited(self, known: int, reply_end: int | None) -> bool:
        return reply_end is not None and known >= reply_end

    def _interpret(self, line: Line[ClientMeta], out: list[SmtpEvent]) -> None:
        ts, ack, seen = line.meta
        known = ack if ack is not None else seen
        blind = self.final and not self.server_spoke  # no reply was ever seen: can't tell
        pregreet = not blind and not self._waited(known, self.banner_end)
        if self.last is None or pregreet:
            pipelined = pregreet
        else:
            pipelined = not blind and not self._waited(known, self.last.reply_end)
        self.lines += 1
        index = self.lines
        raw = line.raw
        term = line.terminator
        names: list[str] = []
        if pregreet and not self.pregreet_reported:
            self.pregreet_reported = True
            names.append("smtp_pregreet")
        if pipelined and not pregreet:
            ehlo = self.ehlo
            if ehlo is None or "PIPELINING" not in ehlo[0] or not self._waited(known, ehlo[1]):
                names.append("smtp_pipelining_unadvertised")
        if line.cut:
            names.append("smtp_line_cap")
            self.incomplete = True
        body = raw[: len(raw) - len(term)]

        if self.phase is Phase.AUTH:
            verb = "AUTH"
            command = ""
            raw = b"***" + term
            masked = True
        else:
            if term == b"\n":
                names.append("smtp_bare_lf")
            if b"\r" in body:
                names.append("smtp_bare_cr")
            if len(body) > RFC_LINE_LIMIT:
                names.append("smtp_long_line")
            token = body.split(b" ", 1)[0]
            verb = command = token.upper().decode("latin-1")
            masked = False
            if command in KNOWN_VERBS:
                rest = body[len(token) :].upper()
                if command == "MAIL" and not rest.startswith((b" FROM:", b" FROM :")):
                    names.append("smtp_invalid_syntax")
                elif command == "RCPT" and not rest.startswith((b" TO:", b" TO :")):
                    names.append("smtp_invalid_syntax")
                elif command == "AUTH":
                    parts = body.split(b" ")
                    if len(parts) > 2:  # an initial response (RFC 4954 s4): a secret
                        raw = b" ".join(parts[:2]) + b" ***" + term
                        masked = True
            elif not body:
                names.append("smtp_invalid_syntax")
            elif command in NON_SMTP_VERBS or token.startswith(b"\x16\x03") or _binary(token):
                names.append("smtp_non_smtp_command")
            elif token.endswith(b":") and len(token) > 1 and set(token[:-1]) <= _HEADER_NAME:
                names.append("smtp_header_as_command")
            else:
                names.append("smtp_unknown_command")

        if pipelined:
            after = "-"
        elif blind:
            after = "?"
        else:
            code = self.banner_code if self.last is None else self.last.reply_code
            after = str(code) if code else "?"
        cmd = _Command(index, verb)
        self.last_command = command or verb
        self.pending.append(cmd)
        self.last = cmd
        out.append(_new(ClientLine, (ts, raw, term, command, pipelined, pregreet, masked, index, after)))
        self.client_lines.append(raw)
        self.after.append(after)
        self.line_meta.append((command or verb, ts))
        if pipelined:
            self.pipelined.append(index)
        for name in names:
            self._anomaly(out, ts, name)
        if verb in TRANSITIONS:
            self.awaiting = cmd
            self.phase = Phase.AWAIT
        elif self.phase is Phase.AUTH:
            self.phase = Phase.COMMAND
        end = END_ON_COMMAND.get(command)
        if end is not None:
            self._end(ts, end, out)

    # ------------------------------------------------------------------ server side
    def _whole_replies(self, data: bytes, ts: float, offset: int, out: list[SmtpEvent]) -> bool:
        """Fast path: a chunk of whole, well-formed replies (the usual server segment).

        Returns False, having done nothing, if the chunk is anything else: the line by
        line path then handles it, anomalies included.
        """
        replies: list[tuple[int, int, int]] = []  # (start, end, code)
        start = pos = 0
        n = len(data)
        find = data.find
        limit = self.server_split.max_line
        while pos < n:
            nl = find(b"\n", pos)
            sep = data[pos + 3 : pos + 4]
            if nl - pos >= limit or nl - start > self.max_held_bytes or not data[pos : pos + 3].isdigit():
                return False
            if sep == b"-":
                pos = nl + 1
                continue
            if sep not in (b" ", b"\r", b"\n") or pos + 3 > nl:
                return False
            replies.append((start, nl + 1, int(data[pos : pos + 3])))
            start = pos = nl + 1
        if start != n:
            return False  # ends inside a multi-line reply
        for first, end, code in replies:
            self.reply_lines = [data[first:end]]
            self._reply(ts, offset + end, out, code)
            if self.held or self.chunks:
                self._run(out)
            if self.end is not None:
                break
        return True

    def _reply_line(self, line: Line[float], out: list[SmtpEvent]) -> None:
        raw, _term, ts, end_offset, _cut = line
        parsed = reply_code(raw)
        if parsed is None:
            if self.reply_lines:  # a broken continuation: close the reply before it
                self._reply(ts, end_offset - len(raw), out, self.reply_code)
            self._anomaly(out, ts, "smtp_invalid_reply")
            self.reply_lines.append(raw)
            self._reply(ts, end_offset, out, 0)
            return
        code, final = parsed
        self.reply_lines.append(raw)
        self.reply_code = code
        self.reply_bytes += len(raw)
        if final or self.reply_bytes > self.max_held_bytes:
            if not final:
                self._anomaly(out, ts, "smtp_held_cap", "multi-line reply")
            self._reply(ts, end_offset, out, code)

    def _reply(self, ts: float, end_offset: int, out: list[SmtpEvent], code: int) -> None:
        lines = self.reply_lines
        self.reply_lines = []
        self.reply_bytes = 0
        raw = b"".join(lines)
        if not self.banner_seen:
            self.banner_seen = True
            self.banner_end = end_offset
            self.banner_code = code
            out.append(ServerReply(ts, code, raw, frozenset(), 0))
            self.replies.append(raw)
            if self.phase is Phase.BANNER:
                self.phase = Phase.COMMAND
            return
        if not self.pending:
            out.append(ServerReply(ts, code, raw, frozenset(), -1))
            self.replies.append(raw)
            self._anomaly(out, ts, "smtp_unsolicited_reply", f"{code}")
            return
        cmd = self.pending.popleft()
        cmd.reply_end = end_offset
        cmd.reply_code = code
        extensions: frozenset[str] = frozenset()
        if cmd.verb == "EHLO" and code == 250:
            extensions = ehlo_keywords(raw)
            self.ehlo = (extensions, end_offset)
        out.append(_new(ServerReply, (ts, code, raw, extensions, cmd.index)))
        self.replies.append(raw)
        if cmd is self.awaiting:
            self.awaiting = None
            outcome = TRANSITIONS[cmd.verb].get(code // 100, Outcome.COMMANDS)
            if outcome is Outcome.SECRET:
                self.phase = Phase.AUTH
            elif outcome is Outcome.COMMANDS:
                self.phase = Phase.COMMAND
            else:
                self._end(ts, outcome.value, out)

    # ------------------------------------------------------------------ the end
    def _close(self, event: ConnectionClosed, out: list[SmtpEvent]) -> None:
        ts = event.ts
        self.final = True
        self.client_ended = True
        rest_reply = self.server_split.flush()
        if rest_reply is not None:
            self._reply_line(rest_reply, out)
        if self.reply_lines and self.phase is not Phase.DONE:
            self._reply(ts, self.server_offset, out, self.reply_code)
        if self.phase is Phase.DONE:
            return
        if self.phase is Phase.BANNER:
            self.phase = Phase.COMMAND  # no banner will come: read what the client sent
        self._run(out)
        if self.phase is Phase.DONE:
            return
        if self._unread():  # waiting for a reply that never came: content, TLS or a secret
            self.incomplete = True
            self.held.clear()
            self.chunks.clear()
        reason = {"close": "close", "reset": "reset", "eof": "eof"}.get(event.reason, "timeout")
        self._end(ts, reason, out)

    def _end(self, ts: float, end: str, out: list[SmtpEvent], incomplete: bool = False) -> None:
        if self.phase is Phase.DONE:
            return
        if not self.server_spoke:
            self._anomaly(out, ts, "smtp_server_silent")
        if not self.lines:
            self._anomaly(out, ts, "smtp_client_silent")
        self.phase = Phase.DONE
        self.held.clear()
        self.chunks.clear()
        self.end = ConversationEnd(ts, end, incomplete or self.incomplete)
        out.append(self.end)


def _binary(token: bytes) -> bool:
    """Control bytes or bytes above 0x7e in a verb: not a text protocol."""
    return any(b < 0x20 or b > 0x7E for b in token.rstrip(b"\r"))
