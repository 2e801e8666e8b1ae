from __future__ import annotations

import pytest

from sensor.dialect.templates import host_form, literal, template


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"MAIL FROM:<alice@example.org> SIZE=1234\r\n", "MAIL FROM:<{addr}> SIZE={num}\r\n"),
        (b"MAIL FROM:<bob@example.net> SIZE=88\r\n", "MAIL FROM:<{addr}> SIZE={num}\r\n"),
        (b"MAIL FROM: <alice@example.org>\r\n", "MAIL FROM: <{addr}>\r\n"),
        (b"mail FROM:<a@b> size=9030\n", "mail FROM:<{addr}> size={num}\n"),
        (b"MAIL FROM:<>\r\n", "MAIL FROM:<>\r\n"),
        (b"MAIL FROM: xH@xH.com\r\n", "MAIL FROM: {addr}\r\n"),
        (b"RCPT TO:<a@b.c> ORCPT=rfc822;a@b.c NOTIFY=SUCCESS\r\n", "RCPT TO:<{addr}> ORCPT=rfc822;{addr} NOTIFY=SUCCESS\r\n"),
        (b"RCPT TO:<postmaster>\r\n", "RCPT TO:<{word}>\r\n"),
        (b"EHLO [192.168.1.10]\r\n", "EHLO [{ip4}]\r\n"),
        (b"EHLO [IPv6:2001:db8::1]\r\n", "EHLO [IPv6:{ip6}]\r\n"),
        (b"HELO 10.15.6.146\r\n", "HELO {ip4}\r\n"),
        (b"EHLO mail.example.com\r\n", "EHLO {domain}\r\n"),
        (b"HELO localhost\r\n", "HELO {label}\r\n"),
        (b"BDAT 512 LAST\r\n", "BDAT {num} LAST\r\n"),
        (b"MAIL FROM:<a@b> BODY=8BITMIME\r\n", "MAIL FROM:<{addr}> BODY=8BITMIME\r\n"),
        (b"AUTH PLAIN ***\r\n", "AUTH PLAIN ***\r\n"),
        (b"Subject: {hi}\r\n", "Subject: {{hi}}\r\n"),
        (b"QUIT", "QUIT"),
    ],
)
def test_template(raw: bytes, expected: str) -> None:
    assert template(raw) == expected


def test_terminator_and_case_are_part_of_the_template() -> None:
    assert template(b"DATA\r\n") != template(b"DATA\n") != template(b"data\r\n")


def test_host_form_and_literal() -> None:
    assert host_form("EHLO [{ip4}]\r\n") == host_form("EHLO {domain}\r\n") == "EHLO {host}\r\n"
    assert host_form("MAIL FROM:<{addr}>\r\n") is None
    assert literal(b"HELO x{1}\r\n") == "HELO x{{1}}\r\n"
