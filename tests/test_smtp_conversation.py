"""The SMTP stage as transcripts: exact lines, replies, phases, anomalies, masking."""

from __future__ import annotations

from playbook import C, S, run, run_all_ways

from sensor.reassembly.events import ConnectionClosed, StreamData
from sensor.smtp import Anomaly, ClientLine, ConversationEnd, ServerReply
from sensor.smtp.conversation import SmtpConversation

BANNER = b"220 mx.example.net ESMTP Postfix\r\n"
EHLO_REPLY = b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-CHUNKING\r\n250 8BITMIME\r\n"


def lines(events):
    return [e for e in events if isinstance(e, ClientLine)]


def replies(events):
    return [e for e in events if isinstance(e, ServerReply)]


def names(events):
    return [e.name for e in events if isinstance(e, Anomaly)]


def end(events):
    [e] = [e for e in events if isinstance(e, ConversationEnd)]
    return e


def test_exact_bytes_and_multiline_reply() -> None:
    events = run_all_ways([
        (S, BANNER),
        (C, b"ehlo Client.Example.ORG\r\n"),
        (S, EHLO_REPLY),
        (C, b"MAIL FROM: <a@b.example>  SIZE=12\r\n"),
        (S, b"250 2.1.0 Ok\r\n"),
        (C, b"rcpt to:<c@d.example>\r\n"),
        (S, b"250 2.1.5 Ok\r\n"),
        (C, b"DATA\r\n"),
        (S, b"354 go ahead\r\n"),
        (C, b"Subject: hi\r\n\r\nbody\r\n.\r\n"),
    ])
    assert [line.raw for line in lines(events)] == [
        b"ehlo Client.Example.ORG\r\n",
        b"MAIL FROM: <a@b.example>  SIZE=12\r\n",
        b"rcpt to:<c@d.example>\r\n",
        b"DATA\r\n",
    ]
    assert [line.command for line in lines(events)] == ["EHLO", "MAIL", "RCPT", "DATA"]
    ehlo = replies(events)[1]
    assert ehlo.raw == EHLO_REPLY and ehlo.code == 250 and ehlo.answers == 1
    assert {"PIPELINING", "STARTTLS", "AUTH", "CHUNKING", "SIZE", "8BITMIME"} <= ehlo.extensions
    assert end(events).end == "data" and not end(events).incomplete
    assert names(events) == []


def test_bare_lf_and_bare_cr_and_unterminated_end() -> None:
    events = run_all_ways([
        (S, BANNER),
        (C, b"HELO x\n"),
        (S, b"250 ok\r\n"),
        (C, b"MAIL FROM:<a@b>\r\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"QUIT"),
    ])
    got = lines(events)
    assert [(line.raw, line.terminator) for line in got] == [
        (b"HELO x\n", b"\n"),
        (b"MAIL FROM:<a@b>\r\r\n", b"\r\n"),
        (b"QUIT", b""),
    ]
    assert "smtp_bare_lf" in names(events) and "smtp_bare_cr" in names(events)
    assert end(events).end == "quit"


def test_cr_at_end_of_stream_is_the_terminator() -> None:
    events = run([(S, BANNER), (C, b"QUIT\r")])
    assert [(line.raw, line.terminator) for line in lines(events)] == [(b"QUIT\r", b"\r")]


def test_pipelining_flags() -> None:
    events = run_all_ways([
        (S, BANNER),
        (C, b"EHLO a\r\n"),
        (S, EHLO_REPLY),
        (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
        (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
    ])
    assert [line.pipelined for line in lines(events)] == [False, False, True, True]
    assert [r.answers for r in replies(events)] == [0, 1, 2, 3, 4]
    assert "smtp_pipelining_unadvertised" not in names(events)
    assert end(events).end == "data"


def test_pipelining_without_advertisement() -> None:
    events = run([(S, BANNER), (C, b"HELO a\r\nMAIL FROM:<a@b>\r\n"), (S, b"250 hi\r\n250 ok\r\n")])
    assert [line.pipelined for line in lines(events)] == [False, True]
    assert "smtp_pipelining_unadvertised" in names(events)


def test_pregreet_by_order_without_acks() -> None:
    events = run_all_ways([(C, b"EHLO bot\r\n"), (S, BANNER), (S, b"250 hi\r\n"), (C, b"QUIT\r\n")])
    first = lines(events)[0]
    assert first.pregreet and first.pipelined
    assert names(events).count("smtp_pregreet") == 1
    assert [r.answers for r in replies(events)] == [0, 1]


def test_pregreet_by_ack_numbers() -> None:
    conv = SmtpConversation()
    out = []
    out += conv.feed(StreamData(1.0, False, 0, BANNER, 0))
    # Delivered after the banner, but the ACK says the client had seen none of it.
    out += conv.feed(StreamData(1.0, True, 0, b"EHLO bot\r\n", 0))
    assert lines(out)[0].pregreet
    conv2 = SmtpConversation()
    out2 = conv2.feed(StreamData(1.0, False, 0, BANNER, 0))
    out2 += conv2.feed(StreamData(1.0, True, 0, b"EHLO ok\r\n", len(BANNER)))
    assert not lines(out2)[0].pregreet


def test_starttls_ends_the_conversation() -> None:
    events = run_all_ways([
        (S, BANNER),
        (C, b"EHLO a\r\n"),
        (S, EHLO_REPLY),
        (C, b"STARTTLS\r\n"),
        (S, b"220 2.0.0 Ready to start TLS\r\n"),
        (C, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256))),
    ])
    assert [line.raw for line in lines(events)] == [b"EHLO a\r\n", b"STARTTLS\r\n"]
    assert end(events).end == "starttls"
    assert "smtp_non_smtp_command" not in names(events)


def test_starttls_refused_goes_on() -> None:
    events = run([
        (S, BANNER), (C, b"EHLO a\r\n"), (S, EHLO_REPLY), (C, b"STARTTLS\r\n"),
        (S, b"454 4.7.0 TLS not available\r\n"), (C, b"QUIT\r\n"),
    ])
    assert [line.command for line in lines(events)] == ["EHLO", "STARTTLS", "QUIT"]
    assert end(events).end == "quit"


def test_bdat_ends_the_conversation() -> None:
    events = run_all_ways([
        (S, BANNER), (C, b"EHLO a\r\n"), (S, EHLO_REPLY),
        (C, b"MAIL FROM:<a@b> BODY=BINARYMIME\r\nRCPT TO:<c@d>\r\nBDAT 5 LAST\r\nhello"),
    ])
    assert [line.command for line in lines(events)] == ["EHLO", "MAIL", "RCPT", "BDAT"]
    assert end(events).end == "bdat"


def test_auth_login_is_masked() -> None:
    events = run_all_ways([
        (S, BANNER), (C, b"EHLO a\r\n"), (S, EHLO_REPLY),
        (C, b"AUTH LOGIN\r\n"), (S, b"334 VXNlcm5hbWU6\r\n"),
        (C, b"dXNlckBleGFtcGxlLm9yZw==\r\n"), (S, b"334 UGFzc3dvcmQ6\r\n"),
        (C, b"c2VjcmV0cGFzcw==\r\n"), (S, b"235 2.7.0 Authentication successful\r\n"),
        (C, b"MAIL FROM:<a@b>\r\n"),
    ])
    got = lines(events)
    assert [line.raw for line in got] == [b"EHLO a\r\n", b"AUTH LOGIN\r\n", b"***\r\n", b"***\r\n", b"MAIL FROM:<a@b>\r\n"]
    assert [line.masked for line in got] == [False, False, True, True, False]
    assert all(b"c2VjcmV0" not in line.raw and b"dXNlck" not in line.raw for line in got)


def test_auth_plain_initial_response_is_masked() -> None:
    events = run_all_ways([
        (S, BANNER), (C, b"EHLO a\r\n"), (S, EHLO_REPLY),
        (C, b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n"), (S, b"235 2.7.0 ok\r\n"), (C, b"QUIT\r\n"),
    ])
    got = lines(events)
    assert got[1].raw == b"AUTH PLAIN ***\r\n" and got[1].masked
    assert all(b"AHVzZXIAc2VjcmV0" not in line.raw for line in got)


def test_auth_secret_unanswered_at_close_is_dropped_not_shown() -> None:
    events = run([(S, BANNER), (C, b"EHLO a\r\n"), (S, EHLO_REPLY), (C, b"AUTH LOGIN\r\ndXNlcg==\r\n")])
    assert [line.raw for line in lines(events)] == [b"EHLO a\r\n", b"AUTH LOGIN\r\n"]
    assert end(events).incomplete


def test_overlong_line_is_cut() -> None:
    long_arg = b"A" * 5000
    events = run_all_ways(
        [(S, BANNER), (C, b"EHLO " + long_arg + b"\r\n"), (S, b"500 too long\r\n"), (C, b"QUIT\r\n")],
        max_line_length=1000,
    )
    got = lines(events)
    assert got[0].raw == (b"EHLO " + long_arg)[:1000] and got[0].terminator == b""
    assert got[1].raw == b"QUIT\r\n"
    assert "smtp_line_cap" in names(events) and "smtp_long_line" in names(events)
    assert end(events).incomplete


def test_rfc_long_line_without_cap() -> None:
    events = run([(S, BANNER), (C, b"EHLO " + b"x" * 600 + b"\r\n"), (S, b"250 ok\r\n"), (C, b"QUIT\r\n")])
    assert "smtp_long_line" in names(events) and "smtp_line_cap" not in names(events)


def test_non_smtp_and_header_lines() -> None:
    events = run([
        (S, BANNER), (C, b"GET / HTTP/1.1\r\n"), (S, b"502 no\r\n"),
        (C, b"Subject: hello\r\n"), (S, b"502 no\r\n"), (C, b"XYZZY\r\n"), (S, b"502 no\r\n"),
        (C, b"MAIL <a@b>\r\n"), (S, b"501 syntax\r\n"), (C, b"\r\n"), (S, b"500 empty\r\n"),
    ])
    got = names(events)
    for name in ("smtp_non_smtp_command", "smtp_header_as_command", "smtp_unknown_command", "smtp_invalid_syntax"):
        assert name in got


def test_data_rejected_then_body_as_commands() -> None:
    events = run([
        (S, BANNER), (C, b"HELO bot\r\n"), (S, b"250 hi\r\n"),
        (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: spam\r\n"),
        (S, b"250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n"),
    ])
    assert [line.command for line in lines(events)] == ["HELO", "MAIL", "RCPT", "DATA", "SUBJECT:"]
    assert "smtp_header_as_command" in names(events)


def test_server_silent_and_client_silent() -> None:
    silent_server = run([(C, b"EHLO a\r\nMAIL FROM:<a@b>\r\n")])
    assert "smtp_server_silent" in names(silent_server)
    assert not any(line.pregreet or line.pipelined for line in lines(silent_server))
    silent_client = run([(S, BANNER)])
    assert "smtp_client_silent" in names(silent_client)
    assert end(silent_client).end == "close"


def test_one_sided_data_is_not_read_as_commands() -> None:
    events = run([(C, b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")])
    assert [line.command for line in lines(events)] == ["EHLO", "MAIL", "RCPT", "DATA"]
    assert "smtp_header_as_command" not in names(events)
    assert end(events).incomplete


def test_gap_ends_incomplete() -> None:
    from sensor.reassembly.events import StreamGap

    conv = SmtpConversation()
    out = conv.feed(StreamData(1.0, False, 0, BANNER, None))
    out += conv.feed(StreamGap(2.0, True, 0, 10, "acked"))
    assert end(out).end == "gap" and end(out).incomplete
    assert conv.feed(StreamData(3.0, True, 10, b"EHLO a\r\n", None)) == []


def test_reset_and_timeout_ends() -> None:
    assert end(run([(S, BANNER), (C, b"EHLO a\r\n")], close="reset")).end == "reset"
    assert end(run([(S, BANNER), (C, b"EHLO a\r\n")], close="timeout")).end == "timeout"
    assert end(run([(S, BANNER), (C, b"EHLO a\r\n")], close="eof")).end == "eof"


def test_unsolicited_reply() -> None:
    events = run([(S, BANNER), (S, b"421 4.4.2 timeout\r\n")])
    assert "smtp_unsolicited_reply" in names(events)
    assert replies(events)[1].answers == -1


def test_invalid_reply_line() -> None:
    events = run([(S, b"hello there\r\n"), (C, b"QUIT\r\n")])
    assert "smtp_invalid_reply" in names(events)


def test_nothing_after_the_end() -> None:
    conv = SmtpConversation()
    conv.feed(StreamData(1.0, False, 0, BANNER, None))
    conv.feed(StreamData(1.0, True, 0, b"QUIT\r\n", None))
    assert conv.done
    assert conv.feed(StreamData(1.0, True, 6, b"EHLO again\r\n", None)) == []
    assert conv.feed(ConnectionClosed(2.0, "close")) == []
