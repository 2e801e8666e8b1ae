"""The policy protocol codec: requests whole, byte by byte and at random splits;
malformed and over-long input; replies; decisions per mode."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensor.policy.codec import (
    DUNNO,
    ProtocolError,
    Request,
    RequestDecoder,
    Verdict,
    decide,
    encode_reply,
    flow_key,
)

# What Postfix 3.7 sends at RCPT (SMTPD_POLICY_README), trimmed.
RCPT = (
    b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
    b"client_address=198.51.100.2\nclient_name=unknown\nreverse_client_name=unknown\n"
    b"client_port=40312\nserver_address=198.51.100.1\nserver_port=25\n"
    b"helo_name=bot.example\nsender=a@example.org\nrecipient=alice@example.test\n"
    b"recipient_count=0\nqueue_id=\ninstance=1b2c.6650a1b2.4d2f1.0\nsize=0\n"
    b"etrn_domain=\nstress=\nsasl_method=\nccert_subject=\nencryption_protocol=\n"
    b"policy_context=\nmail_version=3.7.11\n\n"
)
BOT = Verdict("bot", ("cutwail",), "cutwail", "s1", 7)


def feed_in(chunks: list[bytes]) -> list[Request]:
    decoder = RequestDecoder()
    out: list[Request] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out


def test_requests_whole_bytewise_and_split() -> None:
    data = RCPT * 3
    whole = feed_in([data])
    assert len(whole) == 3
    assert whole[0].get("recipient") == "alice@example.test"
    assert whole[0].flow() == ("198.51.100.2", 40312, "198.51.100.1", 25)
    assert feed_in([data[i:i + 1] for i in range(len(data))]) == whole
    rng = random.Random(5)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(data)), 6))
        parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert feed_in(parts) == whole


def test_values_keep_every_byte_and_last_repeat_wins() -> None:
    (req,) = feed_in([b"a=1\nsender=\xe9x=y\na=2\n\n"])
    assert req.get("sender") == "\xe9x=y"
    assert req.get("a") == "2"
    assert req.get("missing") == ""


@pytest.mark.parametrize("bad", [
    b"no equals sign\n\n",
    b"=value\n\n",
    b"na me=x\n\n",
    b"\n",  # an empty request
    b"n\xffame=x\n\n",
])
def test_malformed_requests_fail(bad: bytes) -> None:
    decoder = RequestDecoder()
    with pytest.raises(ProtocolError):
        decoder.feed(bad)
    with pytest.raises(ProtocolError):  # stays failed
        decoder.feed(RCPT)


def test_over_long_line_fails_even_without_newline() -> None:
    decoder = RequestDecoder(max_line=100)
    decoder.feed(b"recipient=" + b"a" * 80)
    with pytest.raises(ProtocolError, match="longer"):
        decoder.feed(b"a" * 80)
    with pytest.raises(ProtocolError, match="longer"):
        RequestDecoder(max_line=100).feed(b"recipient=" + b"a" * 200 + b"\n\n")


def test_too_many_attributes_fail() -> None:
    with pytest.raises(ProtocolError, match="attributes"):
        RequestDecoder(max_attributes=3).feed(b"a=1\nb=2\nc=3\nd=4\n\n")


def test_abrupt_disconnect_leaves_a_pending_request() -> None:
    decoder = RequestDecoder()
    assert decoder.feed(RCPT[:50]) == []
    assert decoder.pending  # the server sees EOF now: no reply, just close
    decoder = RequestDecoder()
    assert len(decoder.feed(RCPT)) == 1 and not decoder.pending


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_feed_never_raises_anything_but_protocol_error(chunks: list[bytes]) -> None:
    decoder = RequestDecoder(max_line=256, max_attributes=8)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
    except ProtocolError:
        pass


def test_encode_reply() -> None:
    assert encode_reply("DUNNO") == b"action=DUNNO\n\n"
    assert encode_reply("REJECT x\ny") == b"action=DUNNO\n\n"
    assert encode_reply("") == b"action=DUNNO\n\n"


def test_flow_key_normalises() -> None:
    assert flow_key("2001:DB8:5:0::2", "1", "::ffff:198.51.100.1", "25") == ("2001:db8:5::2", 1, "198.51.100.1", 25)
    assert flow_key("198.51.100.2", 40312, "198.51.100.1", 25) == ("198.51.100.2", 40312, "198.51.100.1", 25)
    for bad in (("x", "1", "198.51.100.1", "25"), ("198.51.100.2", "", "198.51.100.1", "25"),
                ("198.51.100.2", "70000", "198.51.100.1", "25"), ("198.51.100.2", "-1", "198.51.100.1", "25"),
                ("198.51.100.2", True, "198.51.100.1", 25), (None, 1, "198.51.100.1", 25)):
        assert flow_key(*bad) is None


def test_decide_per_mode() -> None:
    (req,) = feed_in([RCPT])
    # Postfix adds "<alice@example.test>: Recipient address rejected: " itself.
    assert decide(req, BOT, "poison") == "550 5.1.1 User unknown in local recipient table"
    assert decide(req, BOT, "reject") == "REJECT"
    assert decide(req, BOT, "defer") == "DEFER"
    assert decide(req, BOT, "prepend") == "PREPEND X-Babel-Verdict: bot; dialect=cutwail; sensor=s1"
    assert decide(req, BOT, "dunno") == DUNNO
    legit = Verdict("legit", ("postfix",), "postfix", "s1")
    for mode in ("poison", "reject", "defer", "dunno"):
        assert decide(req, legit, mode) == DUNNO
        assert decide(req, None, mode) == DUNNO
    assert decide(req, legit, "prepend").startswith("PREPEND X-Babel-Verdict: legit;")
    assert decide(req, BOT, "no-such-mode") == DUNNO


def test_decide_only_at_rcpt_and_only_policy_requests() -> None:
    (req,) = feed_in([RCPT])
    other_state = Request({**req.attributes, "protocol_state": "DATA"})
    assert decide(other_state, BOT, "poison") == DUNNO
    other_request = Request({**req.attributes, "request": "junk"})
    assert decide(other_request, BOT, "poison") == DUNNO
