"""Exact line splitting for both directions, and server reply assembly.

Lines end at LF, as in the SMTP servers that clients actually talk to (Postfix, Exim,
Sendmail read up to LF): the terminator is ``b"\\r\\n"`` or ``b"\\n"``; a CR elsewhere stays
inside the line (the caller flags it). At the end of a stream the remainder is a line
with terminator ``b"\\r"`` (it ends in CR) or ``b""``. Nothing is stripped, decoded or
case-folded. A line longer than ``max_line`` bytes before its LF is cut to ``max_line``
bytes (terminator ``b""``, ``cut`` true) and the rest of it, up to its LF, is dropped.

The splitter is chunking-invariant: the same bytes give the same lines whatever the
segment boundaries; each line carries the ``meta`` of the chunk holding its first byte.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

# NamedTuple instances built without their Python-level __new__ (a third of the cost),
# on the per-packet and per-line paths.
_new = tuple.__new__

M = TypeVar("M")


class Line(NamedTuple, Generic[M]):
    """One line. A NamedTuple: one is built for every line of every conversation."""

    raw: bytes
    terminator: bytes
    meta: M  # of the chunk that held the first byte
    end_offset: int  # stream offset just past the line (past the kept bytes, if cut)
    cut: bool = False


class LineSplitter(Generic[M]):
    __slots__ = ("max_line", "buf", "meta", "discarding", "offset", "start")

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.buf = bytearray()
        self.meta: M | None = None
        self.discarding = False
        self.offset = 0  # stream offset of the next byte fed
        self.start = 0  # stream offset of the first byte in ``buf``

    def feed(self, data: bytes, meta: M) -> list[Line[M]]:
        out: list[Line[M]] = []
        pos = 0
        n = len(data)
        if not self.buf and not self.discarding:
            # Fast path: whole lines straight from the chunk, no copy into the buffer.
            find = data.find
            base = self.offset
            limit = self.max_line
            while True:
                nl = find(b"\n", pos)
                if nl < 0 or nl - pos > limit:
                    break
                term = b"\r\n" if nl > pos and data[nl - 1] == 13 else b"\n"
                out.append(_new(Line, (data[pos : nl + 1], term, meta, base + nl + 1, False)))
                pos = nl + 1
            if pos == n:
                self.offset += n
                return out
        while pos < n:
            nl = data.find(b"\n", pos)
            stop = n if nl < 0 else nl + 1
            if self.discarding:
                if nl >= 0:
                    self.discarding = False
                pos = stop
                continue
            if not self.buf:
                self.meta = meta
                self.start = self.offset + pos
            self.buf += data[pos:stop]
            pos = stop
            content = len(self.buf) - (1 if nl >= 0 else 0)
            if content > self.max_line:
                assert self.meta is not None
                out.append(
                    Line(bytes(self.buf[: self.max_line]), b"", self.meta, self.start + self.max_line, True)
                )
                self.buf.clear()
                self.discarding = nl < 0
                continue
            if nl >= 0:
                raw = bytes(self.buf)
                term = b"\r\n" if raw.endswith(b"\r\n") else b"\n"
                assert self.meta is not None
                out.append(Line(raw, term, self.meta, self.offset + pos))
                self.buf.clear()
        self.offset += n
        return out

    def flush(self) -> Line[M] | None:
        """The unterminated remainder at the end of the stream, if any."""
        if not self.buf or self.meta is None:
            return None
        raw = bytes(self.buf)
        self.buf.clear()
        return Line(raw, b"\r" if raw.endswith(b"\r") else b"", self.meta, self.offset)

    @property
    def pending(self) -> int:
        return len(self.buf)


def reply_code(line: bytes) -> tuple[int, bool] | None:
    """``(code, final)`` for a reply line (RFC 5321 s4.2), None if it is not one."""
    if len(line) < 3 or not line[:3].isdigit():
        return None
    sep = line[3:4]
    if sep == b"-":
        return int(line[:3]), False
    if sep in (b" ", b"\r", b"\n", b""):
        return int(line[:3]), True
    return None


def ehlo_keywords(reply: bytes) -> frozenset[str]:
    """Extension keywords of a 250 EHLO reply (RFC 5321 s4.1.1.1), upper-cased."""
    words = set()
    for line in reply.split(b"\n")[1:]:
        text = line[4:].split(None, 1)
        if text:
            words.add(text[0].decode("ascii", "replace").upper().rstrip("="))
    return frozenset(words)
