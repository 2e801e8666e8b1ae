"""Hypothesis: for any bytes in any chunking, the SMTP stage never raises and gives the
same events whole, byte by byte and at random splits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from playbook import C, S, run, run_all_ways

from sensor.smtp import ConversationEnd

smtpish = st.sampled_from([
    b"EHLO a\r\n", b"HELO b\n", b"MAIL FROM:<x@y>\r\n", b"RCPT TO:<z@w>\r\n", b"DATA\r\n",
    b"AUTH LOGIN\r\n", b"AUTH PLAIN abc\r\n", b"STARTTLS\r\n", b"BDAT 3 LAST\r\n", b"QUIT\r\n",
    b"\r", b"\n", b"\r\n", b"250-PIPELINING\r\n", b"220 hi\r\n", b"250 ok\r\n", b"334 x\r\n",
    b"354 go\r\n", b"235 ok\r\n", b"550 no\r\n", b"\x16\x03\x01", b"\x00\xff",
])
chunk = st.one_of(st.binary(max_size=64), smtpish)
script = st.lists(st.tuples(st.sampled_from([C, S]), chunk), max_size=30)


@settings(max_examples=300, deadline=None)
@given(script)
def test_never_raises_and_chunking_invariant(s) -> None:
    events = run_all_ways(s, max_line_length=40, max_held_bytes=200)
    ends = [e for e in events if isinstance(e, ConversationEnd)]
    assert len(ends) == 1


@settings(max_examples=200, deadline=None)
@given(script, st.sampled_from(["close", "reset", "timeout", "eof"]))
def test_always_ends_once(s, reason) -> None:
    events = run(s, "bytes", close=reason)
    assert sum(isinstance(e, ConversationEnd) for e in events) == 1


def test_rest_of_a_cut_reply_line_is_dropped_however_chunked() -> None:
    """Found by Hypothesis: a server line cut at max_line_length whose rest arrived as a
    chunk of its own was read as a reply (the whole-replies fast path ignored the cut)."""
    s = [(S, b"\x00" * 6), (S, b"\x00" * 10), (S, b"\x00" * 12), (S, b"\x00" * 13), (S, b"220 hi\r\n")]
    events = run_all_ways(s, max_line_length=40, max_held_bytes=200)
    assert not any(getattr(e, "code", None) == 220 for e in events)
