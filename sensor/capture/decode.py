"""Frames to TCP segments: link layer, IPv4/IPv6, TCP; everything else counted and skipped.

Input: ``RawPacket`` tuples. Output: ``TcpSegment`` for TCP packets with a port in the
configured set, else None. Link types: Ethernet (with any number of 802.1Q / 802.1ad /
QinQ tags), Linux cooked SLL and SLL2, raw IP (LINKTYPE_RAW and the IPv4/IPv6 types),
BSD loopback (NULL and LOOP). IPv4 options and IPv6 extension headers (hop-by-hop,
routing, destination options, fragment, AH) are skipped over. IP fragments are counted
and skipped: SMTP commands fit in one segment and a reassembler for fragments would be a
second attack surface for what is, on port 25, almost always an attack.

Garbage never raises: a frame shorter than its headers say, a bad IP version or a TCP
data offset below 5 is counted under an anomaly name from ``sensor.anomalies``.
Checksums are not verified (captures taken on the sending host carry offloaded, wrong
checksums, and an IPv4 total length of 0 under TSO, taken as "the rest of the frame"). Ethernet padding is cut using the IP length fields.

This is the per-packet hot path: plain ``struct.unpack_from`` on the frame, the port
filter applied before any object is built.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import NamedTuple

from . import RawPacket

# NamedTuple instances built without their Python-level __new__ (a third of the cost),
# on the per-packet and per-line paths.
_new = tuple.__new__

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
# DLT_RAW has the values 12 and 14 on some BSDs; pcap files written there may carry them.
RAW_LINKTYPES = frozenset({LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6})

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

_IPV6_EXT_8 = frozenset({0, 43, 60})  # length in 8-octet units, not counting the first 8

_u16 = struct.Struct("!H").unpack_from
_tcp = struct.Struct("!HHIIBB").unpack_from
# Ethernet type, IPv4 version/IHL, total length, flags+offset, protocol, addresses; TCP
# ports, sequence, acknowledgement, data offset, flags.
ether_ipv4_tcp = struct.Struct("!12xHBxH2xH1xB2x4s4sHHIIBB").unpack_from


class TcpSegment(NamedTuple):
    """One TCP segment on a watched port. Addresses are packed (4 or 16 bytes).

    A NamedTuple (immutable, a tenth of the cost of a frozen dataclass) because one is
    built for every packet on a watched port.
    """

    ts: float
    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes


class Decoder:
    """Decode frames; ``counts`` holds skip reasons and decode anomalies by name."""

    def __init__(self, ports: tuple[int, ...] | frozenset[int] = (25, 587)) -> None:
        self.ports = frozenset(ports)
        self.counts: Counter[str] = Counter()

    def decode(self, packet: RawPacket) -> TcpSegment | None:
        ts, linktype, frame = packet
        # Fast path: untagged Ethernet, IPv4 without options, TCP, not a fragment: one
        # unpack for every header field (most frames on a mail server's mirror port).
        if linktype == LINKTYPE_ETHERNET and len(frame) >= 54:
            (ethertype, b0, total, frag, proto, src, dst, sport, dport, seq, ack, data_off,
             flags) = ether_ipv4_tcp(frame)
            if ethertype == ETH_IPV4 and b0 == 0x45 and proto == 6 and not frag & 0x3FFF:
                ports = self.ports
                if sport not in ports and dport not in ports:
                    self.counts["other_ports"] += 1
                    return None
                end = 14 + (total or len(frame) - 14)
                thl = (data_off >> 4) * 4
                if 20 <= thl and 34 + thl <= end <= len(frame):
                    return _new(TcpSegment, (ts, src, sport, dst, dport, seq, ack, flags, frame[34 + thl : end]))
        return self._decode(ts, linktype, frame)

    def _decode(self, ts: float, linktype: int, frame: bytes) -> TcpSegment | None:
        try:
            if linktype == LINKTYPE_ETHERNET:
                ethertype = _u16(frame, 12)[0]
                off = 14
                while ethertype in VLAN_TAGS:
                    ethertype = _u16(frame, off + 2)[0]
                    off += 4
            elif linktype == LINKTYPE_LINUX_SLL:
                ethertype = _u16(frame, 14)[0]
                off = 16
            elif linktype == LINKTYPE_LINUX_SLL2:
                ethertype = _u16(frame, 0)[0]
                off = 20
            elif linktype in RAW_LINKTYPES or linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
                off = 4 if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP) else 0
                version = frame[off] >> 4
                ethertype = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0
                if not ethertype:
                    self.counts["capture_bad_ip_header"] += 1
                    return None
            else:
                self.counts["capture_unknown_linktype"] += 1
                return None

            if ethertype == ETH_IPV4:
                b0 = frame[off]
                ihl = (b0 & 0x0F) * 4
                if b0 >> 4 != 4 or ihl < 20:
                    self.counts["capture_bad_ip_header"] += 1
                    return None
                if frame[off + 9] != 6:
                    self.counts["not_tcp"] += 1
                    return None
                total = _u16(frame, off + 2)[0]
                if total == 0:
                    # TSO: the sending host captured a segment before the NIC split it
                    # and filled in the length; the frame itself is the datagram.
                    total = len(frame) - off
                if _u16(frame, off + 6)[0] & 0x3FFF:  # MF flag or fragment offset
                    self.counts["capture_ip_fragment"] += 1
                    return None
                if total < ihl or off + total > len(frame):
                    if off + total > len(frame) and total >= ihl:
                        self.counts["capture_truncated_frame"] += 1
                    else:
                        self.counts["capture_bad_ip_header"] += 1
                    return None
                src = frame[off + 12 : off + 16]
                dst = frame[off + 16 : off + 20]
                end = off + total
                off += ihl
            elif ethertype == ETH_IPV6:
                if frame[off] >> 4 != 6:
                    self.counts["capture_bad_ip_header"] += 1
                    return None
                plen = _u16(frame, off + 4)[0]
                nxt = frame[off + 6]
                src = frame[off + 8 : off + 24]
                dst = frame[off + 24 : off + 40]
                end = off + 40 + plen
                if end > len(frame):
                    self.counts["capture_truncated_frame"] += 1
                    return None
                off += 40
                while nxt != 6:
                    if nxt in _IPV6_EXT_8:
                        nxt, hlen = frame[off], (frame[off + 1] + 1) * 8
                    elif nxt == 44:  # fragment header
                        if _u16(frame, off + 2)[0] & 0xFFF9:  # offset or M flag
                            self.counts["capture_ip_fragment"] += 1
                            return None
                        nxt, hlen = frame[off], 8
                    elif nxt == 51:  # AH
                        nxt, hlen = frame[off], (frame[off + 1] + 2) * 4
                    elif nxt == 59 or nxt == 17 or nxt == 58 or nxt == 50:
                        self.counts["not_tcp"] += 1
                        return None
                    else:
                        self.counts["capture_ipv6_unknown_header"] += 1
                        return None
                    off += hlen
                    if off > end:
                        self.counts["capture_truncated_frame"] += 1
                        return None
            else:
                self.counts["not_ip"] += 1
                return None

            sport, dport, seq, ack, data_off, flags = _tcp(frame, off)
            ports = self.ports
            if sport not in ports and dport not in ports:
                self.counts["other_ports"] += 1
                return None
            thl = (data_off >> 4) * 4
            if thl < 20 or off + thl > end:
                self.counts["capture_bad_tcp_header"] += 1
                return None
            return TcpSegment(ts, src, sport, dst, dport, seq, ack, flags, frame[off + thl : end])
        except (IndexError, struct.error):
            self.counts["capture_truncated_frame"] += 1
            return None

