"""The frame decoder: garbage is counted, never raised; fragments and other ports skipped."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from pcapgen import frame, ip_packet, tcp_header

from sensor.capture.decode import Decoder


def test_fragments_are_counted_and_skipped() -> None:
    ip = bytearray(ip_packet("198.51.100.1", "203.0.113.2", tcp_header(1, 25, 0, 0, 0x18) + b"x"))
    struct.pack_into("!H", ip, 6, 0x2000)  # more fragments
    d = Decoder()
    assert d.decode((0.0, 1, frame("ether", bytes(ip)))) is None
    assert d.counts["capture_ip_fragment"] == 1


def test_other_ports_skipped() -> None:
    d = Decoder((25,))
    pkt = frame("ether", ip_packet("198.51.100.1", "203.0.113.2", tcp_header(1234, 80, 0, 0, 0x18)))
    assert d.decode((0.0, 1, pkt)) is None
    assert d.counts["other_ports"] == 1


def test_ethernet_padding_is_cut() -> None:
    pkt = frame("ether", ip_packet("198.51.100.1", "203.0.113.2", tcp_header(1234, 25, 7, 9, 0x10))) + b"\x00" * 6
    seg = Decoder().decode((0.0, 1, pkt))
    assert seg is not None and seg.payload == b"" and seg.seq == 7 and seg.ack == 9


def test_tso_zero_total_length() -> None:
    ip = bytearray(ip_packet("198.51.100.1", "203.0.113.2", tcp_header(1234, 25, 7, 9, 0x18) + b"EHLO x\r\n"))
    struct.pack_into("!H", ip, 2, 0)
    seg = Decoder().decode((0.0, 1, frame("ether", bytes(ip))))
    assert seg is not None and seg.payload == b"EHLO x\r\n"


def test_unknown_linktype_and_bad_headers() -> None:
    d = Decoder()
    assert d.decode((0.0, 147, b"\x00" * 60)) is None
    assert d.decode((0.0, 101, b"\x50" + b"\x00" * 40)) is None
    assert d.decode((0.0, 1, b"\x00" * 5)) is None
    assert d.counts["capture_unknown_linktype"] == 1
    assert d.counts["capture_bad_ip_header"] == 1
    assert d.counts["capture_truncated_frame"] == 1


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([0, 1, 101, 108, 113, 228, 229, 276]), st.binary(max_size=120))
def test_garbage_never_raises(linktype: int, data: bytes) -> None:
    Decoder().decode((0.0, linktype, data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_garbage_after_valid_headers_never_raises(tail: bytes) -> None:
    base = frame("ether", ip_packet("198.51.100.1", "203.0.113.2", tcp_header(1, 25, 0, 0, 0x18)))
    Decoder().decode((0.0, 1, base[:34] + tail))
