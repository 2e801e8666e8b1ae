"""Synthetic captures for tests: TCP conversations written with dpkt's pcap writer.

A ``Flow`` plays both ends of one TCP connection and records the frames; the test then
writes them (``write``) with any link type and feeds the file to the sensor. Sequence and
acknowledgement numbers are tracked like a real stack would, and every knob a test
needs (explicit seq/ack, equal timestamps, reordering, loss) is an argument.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

LINKTYPES = {"ether": 1, "vlan": 1, "qinq": 1, "sll": 113, "sll2": 276, "raw": 101, "null": 0, "loop": 108}


def tcp_header(sport: int, dport: int, seq: int, ack: int, flags: int) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)


def ip_packet(src: str, dst: str, tcp: bytes, ip_options: bytes = b"", v6_ext: bool = False) -> bytes:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        ihl = 5 + len(ip_options) // 4
        total = ihl * 4 + len(tcp)
        head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, 0x4000, 64, 6, 0, s.packed, d.packed)
        return head + ip_options + tcp
    nxt = 6
    ext = b""
    if v6_ext:  # hop-by-hop options then destination options, 8 bytes each
        ext = struct.pack("!BB6s", 60, 0, b"\x01\x04\x00\x00\x00\x00") + struct.pack("!BB6s", 6, 0, b"\x01\x04\x00\x00\x00\x00")
        nxt = 0
    head = struct.pack("!IHBB16s16s", 0x60000000, len(ext) + len(tcp), nxt, 64, s.packed, d.packed)
    return head + ext + tcp


def frame(link: str, ip: bytes) -> bytes:
    v6 = ip[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    mac_a, mac_b = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    if link == "ether":
        return mac_a + mac_b + struct.pack("!H", ethertype) + ip
    if link == "vlan":
        return mac_a + mac_b + struct.pack("!HHH", 0x8100, 42, ethertype) + ip
    if link == "qinq":
        return mac_a + mac_b + struct.pack("!HHHHH", 0x88A8, 100, 0x8100, 42, ethertype) + ip
    if link == "sll":
        return struct.pack("!HHH8sH", 0, 1, 6, mac_a + b"\x00\x00", ethertype) + ip
    if link == "sll2":
        return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, 0, 6, mac_a + b"\x00\x00") + ip
    if link == "raw":
        return ip
    if link == "null":
        return struct.pack("=I", 30 if v6 else 2) + ip
    if link == "loop":
        return struct.pack("!I", 30 if v6 else 2) + ip
    raise ValueError(link)


@dataclass
class Flow:
    client: str = "198.51.100.10"
    server: str = "203.0.113.25"
    cport: int = 40000
    sport: int = 25
    cisn: int = 1000
    sisn: int = 5000
    t: float = 1_700_000_000.0
    step: float = 0.01
    link: str = "ether"
    ip_options: bytes = b""
    v6_ext: bool = False
    frames: list[tuple[float, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cnxt = self.cisn + 1  # next client sequence number
        self.snxt = self.sisn + 1
        self.cack = self.sisn + 1  # what the client acknowledges
        self.sack = self.cisn + 1

    def _emit(self, from_client: bool, seq: int, ack: int, flags: int, payload: bytes, ts: float | None) -> None:
        if ts is None:
            self.t += self.step
            ts = self.t
        if from_client:
            tcp = tcp_header(self.cport, self.sport, seq, ack, flags)
            ip = ip_packet(self.client, self.server, tcp + payload, self.ip_options, self.v6_ext)
        else:
            tcp = tcp_header(self.sport, self.cport, seq, ack, flags)
            ip = ip_packet(self.server, self.client, tcp + payload, self.ip_options, self.v6_ext)
        self.frames.append((ts, frame(self.link, ip)))

    def handshake(self) -> Flow:
        self._emit(True, self.cisn, 0, SYN, b"", None)
        self._emit(False, self.sisn, self.cisn + 1, SYN | ACK, b"", None)
        self._emit(True, self.cisn + 1, self.sisn + 1, ACK, b"", None)
        return self

    def client_send(self, data: bytes, *, seq: int | None = None, ack: int | None = None,
                    ts: float | None = None, advance: bool = True, flags: int = PSH | ACK) -> Flow:
        self._emit(True, self.cnxt if seq is None else seq, self.cack if ack is None else ack, flags, data, ts)
        if advance and seq is None:
            self.cnxt += len(data)
        return self

    def server_send(self, data: bytes, *, seq: int | None = None, ack: int | None = None,
                    ts: float | None = None, advance: bool = True, flags: int = PSH | ACK) -> Flow:
        self._emit(False, self.snxt if seq is None else seq, self.sack if ack is None else ack, flags, data, ts)
        if advance and seq is None:
            self.snxt += len(data)
        return self

    def client_ack(self, ts: float | None = None) -> Flow:
        """The client acknowledges everything the server sent so far."""
        self.cack = self.snxt
        self._emit(True, self.cnxt, self.cack, ACK, b"", ts)
        return self

    def server_ack(self, ts: float | None = None) -> Flow:
        self.sack = self.cnxt
        self._emit(False, self.snxt, self.sack, ACK, b"", ts)
        return self

    def exchange(self, command: bytes, reply: bytes) -> Flow:
        """Lock-step: the client sends, the server acknowledges and replies, the client acks."""
        self.client_send(command)
        self.sack = self.cnxt
        self.server_send(reply)
        self.cack = self.snxt
        return self

    def banner(self, reply: bytes = b"220 mx.example.net ESMTP\r\n") -> Flow:
        self.server_send(reply)
        self.client_ack()
        return self

    def fin(self) -> Flow:
        self._emit(True, self.cnxt, self.cack, FIN | ACK, b"", None)
        self.cnxt += 1
        self.sack = self.cnxt
        self._emit(False, self.snxt, self.sack, FIN | ACK, b"", None)
        self.snxt += 1
        self.cack = self.snxt
        self._emit(True, self.cnxt, self.cack, ACK, b"", None)
        return self

    def rst(self, from_client: bool = True) -> Flow:
        if from_client:
            self._emit(True, self.cnxt, self.cack, RST | ACK, b"", None)
        else:
            self._emit(False, self.snxt, self.sack, RST | ACK, b"", None)
        return self


def write(path: Path, frames: list[tuple[float, bytes]], link: str = "ether", nano: bool = False) -> Path:
    with open(path, "wb") as fh:
        writer = dpkt.pcap.Writer(fh, linktype=LINKTYPES[link], nano=nano)
        for ts, data in frames:
            writer.writepkt(data, ts=ts)
    return path


def write_flows(path: Path, *flows: Flow) -> Path:
    """Write several flows (same link type) merged in time order."""
    frames = sorted((f for flow in flows for f in flow.frames), key=lambda f: f[0])
    return write(path, frames, flows[0].link)


EHLO_REPLY = (
    b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"
)


def lockstep(flow: Flow, commands: list[tuple[bytes, bytes]]) -> Flow:
    """Handshake, banner, then each (command, reply) in lock-step."""
    flow.handshake().banner()
    for command, reply in commands:
        flow.exchange(command, reply)
    return flow


SIMPLE = [
    (b"EHLO client.example.org\r\n", EHLO_REPLY),
    (b"MAIL FROM:<alice@example.org> SIZE=1234\r\n", b"250 2.1.0 Ok\r\n"),
    (b"RCPT TO:<bob@example.net>\r\n", b"250 2.1.5 Ok\r\n"),
    (b"DATA\r\n", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
]
