"""Read pcap and pcapng files (plain or gzip, a path or ``-`` for stdin).

Both formats are parsed here with ``struct`` over large blocks rather than through
dpkt's readers: dpkt's ``pcap.Reader`` builds a header object per record and its
``pcapng.Reader`` knows a single interface, and record iteration is the floor of the
replay rate. Several files are merged in timestamp order (``open_captures``).

Errors: a path that is missing, a directory, empty, or not a capture raises
``CaptureError`` when the file is opened, before any packet is read. A file that ends
inside a record, or a record whose length is impossible, stops that file: every packet
before it is kept and ``PcapFile.problem`` says what happened, for the pipeline to warn.
"""

from __future__ import annotations

import gzip
import heapq
import io
import mmap
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import CaptureError
from . import RawPacket
from .bypass import Bypass
from .decode import ETH_IPV4, LINKTYPE_ETHERNET, Decoder, TcpSegment, ether_ipv4_tcp

_new = tuple.__new__

BLOCK = 1 << 20
WINDOW = 64 << 20  # bytes of a capture file mapped at once
# A record longer than this is taken as corruption, not as a packet (pcap's own
# MAXIMUM_SNAPLEN is 262144).
MAX_RECORD = 1 << 18

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
# LINKTYPE -> (offset of the IP header, offset of the EtherType or None for raw IP)
_IP_OFFSET: dict[int, tuple[int, int | None]] = {
    1: (14, 12), 113: (16, 14), 276: (20, 0), 101: (0, None), 12: (0, None), 14: (0, None),
    228: (0, None), 229: (0, None), 0: (4, None), 108: (4, None),
}

GZIP_MAGIC = b"\x1f\x8b"
# Ethernet frame start: EtherType, IP version/IHL, then (IPv4 without options) source,
# destination and ports as one 12-byte key, and the TCP flags: what the bypass looks at.
_ETHER_BYPASS_FIELDS = "12xHB11x12s9xB"


class PcapFile:
    """One capture file; iterate it for ``RawPacket`` tuples.

    After iteration, ``packets`` is the number of records read and ``problem`` is None
    or a one-line description of why reading stopped early (truncation, corruption).
    """

    def __init__(
        self,
        path: str | Path,
        bypass: Bypass | None = None,
        *,
        stream: BinaryIO | None = None,
        decoder: Decoder | None = None,
    ) -> None:
        """Open ``path``; or, with ``stream`` (an already open, unbuffered pipe such as
        tcpdump's stdout), read that and use ``path`` only as its name.

        With a ``decoder``, iteration yields its ``TcpSegment``s instead of raw packets
        (records it skips are counted in ``decoder.counts``): Ethernet/IPv4/TCP frames,
        the common case, are then decoded straight from the file buffer, without a copy
        of the frame or a raw packet tuple in between."""
        self.name = str(path)
        self.bypass = bypass
        self.decoder = decoder
        self.bypassed = 0  # packets dropped by the bypass (counted, not yielded)
        self.packets = 0
        self.bytes_read = 0
        self.problem: str | None = None
        self.size: int | None = None
        self._fh = stream if stream is not None else self._open(self.name)
        head = self._fh.read(4)
        if not head:
            raise CaptureError(f"{self.name}: empty file, not a capture")
        if head in PCAP_MAGICS:
            self._format = "pcap"
        elif head == PCAPNG_SHB:
            self._format = "pcapng"
        else:
            raise CaptureError(f"{self.name}: not a pcap or pcapng capture (magic {head.hex()})")
        self._head = head

    @property
    def position(self) -> int:
        """Bytes of the (compressed) file read so far, for progress reporting."""
        try:
            raw = getattr(self._fh, "fileobj", None) or self._fh
            return int(raw.tell())
        except (OSError, ValueError, AttributeError):
            return 0

    def _open(self, name: str) -> BinaryIO:
        if name == "-":
            raw = sys.stdin.buffer
            buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
            if buffered.peek(2)[:2] == GZIP_MAGIC:
                return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
            return buffered
        path = Path(name)
        if path.is_dir():
            raise CaptureError(f"{name}: is a directory, not a capture file")
        try:
            fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by iteration
            self.size = path.stat().st_size
        except FileNotFoundError:
            raise CaptureError(f"{name}: no such file") from None
        except OSError as exc:
            raise CaptureError(f"{name}: cannot open: {exc.strerror}") from None
        if fh.read(2) == GZIP_MAGIC:
            fh.seek(0)
            return gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
        fh.seek(0)
        return fh

    def __iter__(self) -> Iterator[Any]:
        """``RawPacket`` tuples, or ``TcpSegment``s when a decoder was given."""
        try:
            if self._format == "pcap":
                yield from self._read_pcap()
            elif self.decoder is not None:
                decode = self.decoder.decode
                for packet in self._read_pcapng():
                    seg = decode(packet)
                    if seg is not None:
                        yield seg
            else:
                yield from self._read_pcapng()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            self.problem = f"read error after {self.packets} packets: {exc}"
        finally:
            if self._fh is not sys.stdin.buffer:
                self._fh.close()

    # -- classic pcap ---------------------------------------------------------------
    def _read_pcap(self) -> Iterator[Any]:
        endian, unit = PCAP_MAGICS[self._head]
        rest = self._fh.read(20)
        if len(rest) < 20:
            self.problem = "file ends inside the pcap file header"
            return
        _vmaj, _vmin, _zone, _sigfigs, _snaplen, network = struct.unpack(endian + "HHiIII", rest)
        linktype = network & 0x0FFFFFFF
        unpack = struct.Struct(endian + "IIII").unpack_from
        # Where the IP header and the EtherType sit in this link type, for the bypass.
        ip_at, ether_type_at = _IP_OFFSET.get(linktype, (-1, None))
        table = self.bypass.table if self.bypass is not None and ip_at >= 0 else None
        v4_at = 16 + ip_at  # offsets from the start of a record (its 16-byte header)
        key_at = v4_at + 12
        flags_at = v4_at + 33
        if ether_type_at is None:  # raw IP, loopback: the version/IHL byte alone
            sig_at, sig = v4_at, b"\x45"
        elif ether_type_at + 2 == ip_at:  # Ethernet, SLL: EtherType then the IP header
            sig_at, sig = 16 + ether_type_at, b"\x08\x00\x45"
        else:  # SLL2: the protocol field is at the start
            sig_at, sig = 16 + ether_type_at, b"\x08\x00"
        sig_end = sig_at + len(sig)
        ether_at = None if ether_type_at is None else 16 + ether_type_at
        # Ethernet: the record header and the fields the bypass looks at in one unpack
        # (the EtherType read in the file's byte order, compared with that order's 0x0800).
        ether_head = (
            struct.Struct(endian + "IIII" + _ETHER_BYPASS_FIELDS).unpack_from
            if linktype == LINKTYPE_ETHERNET else None
        )
        ether_ipv4 = ETH_IPV4 if endian == ">" else 0x0008
        ethertype = b0 = flags = 0
        key = b""
        decoder = self.decoder
        decode = decoder.decode if decoder is not None else None
        # The decoder's fast path, inline: untagged Ethernet, IPv4 without options, TCP.
        fused = decoder is not None and linktype == LINKTYPE_ETHERNET
        ports = decoder.ports if decoder is not None else frozenset()
        other_ports = 0
        bypassed = 0
        count = 0
        position = 24  # file offset of the next record
        refill = self._mapped_windows() or self._read_blocks()
        while True:
            buf, base, at_eof = refill(position)
            off = position - base
            size = len(buf)
            # Every complete record in the buffer; a partial one waits for the next one.
            while off + 16 <= size:
                if ether_head is not None and off + 64 <= size:
                    sec, frac, incl, _orig, ethertype, b0, key, flags = ether_head(buf, off)
                else:
                    sec, frac, incl, _orig = unpack(buf, off)
                    ethertype = 0
                end = off + 16 + incl
                if end > size or incl > MAX_RECORD:
                    if incl > MAX_RECORD:
                        self.problem = (
                            f"corrupt record after {count} packets (length {incl} at byte {base + off})"
                        )
                        at_eof = True
                        size = off  # stop here
                    break
                count += 1
                if table and end - off > flags_at:
                    # IPv4 without options (the common case): one slice holds both
                    # addresses and ports; the flags sit at a fixed place.
                    if ether_head is not None:  # Ethernet: unpacked with the record header
                        v4 = ethertype == ether_ipv4 and b0 == 0x45
                    else:
                        v4 = buf[off + sig_at : off + sig_end] == sig and buf[off + v4_at] == 0x45
                        if v4:
                            key = buf[off + key_at : off + key_at + 12]
                            flags = buf[off + flags_at]
                    if v4:
                        if key in table and not flags & 0x07:  # no FIN/SYN/RST
                            table[key] = sec
                            bypassed += 1
                            off = end
                            continue
                    elif end - off > v4_at + 53 and buf[off + v4_at] >> 4 == 6 and buf[off + v4_at + 6] == 6 and (
                        ether_at is None or buf[off + ether_at : off + ether_at + 2] == b"\x86\xdd"
                    ):
                        key = buf[off + v4_at + 8 : off + v4_at + 44]
                        if key in table and not buf[off + v4_at + 53] & 0x07:
                            table[key] = sec
                            bypassed += 1
                            off = end
                            continue
                self.packets = count  # kept current for a live source's statistics
                if decode is None:
                    yield (sec + frac * unit, linktype, buf[off + 16 : end])
                    off = end
                    continue
                if fused and end - off >= 70:
                    (ethertype, b0, total, frag, proto, src, dst, sport, dport, seq, ack, data_off,
                     flags) = ether_ipv4_tcp(buf, off + 16)
                    if ethertype == ETH_IPV4 and b0 == 0x45 and proto == 6 and not frag & 0x3FFF:
                        if sport not in ports and dport not in ports:
                            other_ports += 1
                            off = end
                            continue
                        stop = off + 30 + total if total else end  # 0 under TSO: the frame
                        start = off + 50 + (data_off >> 4) * 4
                        if data_off >= 0x50 and start <= stop <= end:
                            yield _new(TcpSegment, (sec + frac * unit, src, sport, dst, dport, seq, ack,
                                                    flags, buf[start:stop]))
                            off = end
                            continue
                seg = decode((sec + frac * unit, linktype, buf[off + 16 : end]))
                off = end
                if seg is not None:
                    yield seg
            position = base + off
            if at_eof:
                if off < size and not self.problem:
                    where = "a record header" if size - off < 16 else "a record"
                    self.problem = f"truncated: file ends inside {where} after {count} packets"
                break
        self.packets = count
        self.bypassed = bypassed
        if other_ports and decoder is not None:
            decoder.counts["other_ports"] += other_ports
        if self.bypass is not None:
            self.bypass.dropped += bypassed
        self.bytes_read = position

    def _mapped_windows(self) -> Callable[[int], tuple[Any, int, bool]] | None:
        """Windows of a regular file mapped in memory: no copy of the capture through
        Python buffers (records are sliced straight out of the page cache), and only the
        current window counts in the resident set. None for gzip or a pipe."""
        if isinstance(self._fh, gzip.GzipFile) or self.size is None:
            return None
        try:
            fileno = self._fh.fileno()
        except (OSError, AttributeError, io.UnsupportedOperation):
            return None
        size = self.size
        state: dict[str, mmap.mmap] = {}

        def refill(position: int) -> tuple[Any, int, bool]:
            old = state.pop("map", None)
            if old is not None:
                old.close()
            base = position - position % mmap.ALLOCATIONGRANULARITY
            length = min(WINDOW, size - base)
            if length <= position - base:
                return b"", position, True
            window = mmap.mmap(fileno, length, access=mmap.ACCESS_READ, offset=base)
            state["map"] = window
            return window, base, base + length >= size

        return refill

    def _read_blocks(self) -> Callable[[int], tuple[Any, int, bool]]:
        """Blocks read from a stream (gzip, stdin), the unread tail carried over."""
        read = self._fh.read
        state = {"buf": b"", "base": 24}

        def refill(position: int) -> tuple[Any, int, bool]:
            buf, base = state["buf"], state["base"]
            assert isinstance(buf, bytes) and isinstance(base, int)
            more = read(BLOCK)
            buf = buf[position - base :] + more
            state["buf"], state["base"] = buf, position
            return buf, position, not more

        return refill

    # -- pcapng -----------------------------------------------------------------------
    def _read_pcapng(self) -> Iterator[RawPacket]:
        read = self._fh.read
        data = self._head + read()
        self.bytes_read = len(data)
        pos = 0
        endian = "<"
        # per interface: (linktype, divisor, offset seconds)
        interfaces: list[tuple[int, float, int]] = []
        last_ts = 0.0
        count = 0
        end_of_data = len(data)
        while pos < end_of_data:
            if end_of_data - pos < 12:
                self.problem = f"truncated: file ends inside a block header after {count} packets"
                break
            block_type_raw = data[pos : pos + 4]
            if block_type_raw == PCAPNG_SHB:
                bom = data[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self.problem = f"corrupt section header after {count} packets"
                    break
                interfaces = []
            block_type, block_len = struct.unpack_from(endian + "II", data, pos)
            if block_len < 12 or block_len % 4 or block_len > MAX_RECORD + 64:
                self.problem = f"corrupt block after {count} packets (length {block_len} at byte {pos})"
                break
            if pos + block_len > end_of_data:
                self.problem = f"truncated: file ends inside a block after {count} packets"
                break
            body = pos + 8
            if block_type == 1:  # Interface Description Block
                linktype = struct.unpack_from(endian + "H", data, body)[0]
                divisor, offset = _idb_options(data, body + 8, pos + block_len - 4, endian)
                interfaces.append((linktype, divisor, offset))
            elif block_type in (6, 2):  # Enhanced / obsolete Packet Block
                if block_type == 6:
                    iface, high, low, caplen, _orig = struct.unpack_from(endian + "IIIII", data, body)
                    start = body + 20
                else:
                    iface, _drops, high, low, caplen, _orig = struct.unpack_from(
                        endian + "HHIIII", data, body
                    )
                    start = body + 20
                if iface >= len(interfaces) or start + caplen > pos + block_len - 4:
                    self.problem = f"corrupt packet block after {count} packets (byte {pos})"
                    break
                linktype, divisor, offset = interfaces[iface]
                last_ts = ((high << 32) | low) / divisor + offset
                count += 1
                yield (last_ts, linktype, data[start : start + caplen])
            elif block_type == 3:  # Simple Packet Block: no timestamp, interface 0
                if not interfaces:
                    self.problem = f"packet block before any interface block (byte {pos})"
                    break
                caplen = min(struct.unpack_from(endian + "I", data, body)[0], block_len - 16)
                count += 1
                yield (last_ts, interfaces[0][0], data[body + 4 : body + 4 + caplen])
            pos += block_len
        self.packets = count


def _idb_options(data: bytes, pos: int, end: int, endian: str) -> tuple[float, int]:
    divisor = 1e6
    offset = 0
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", data, pos)
        value = data[pos + 4 : pos + 4 + length]
        if code == 0:
            break
        if code == 9 and length >= 1:  # if_tsresol
            exp = value[0]
            divisor = float(2 ** (exp & 0x7F)) if exp & 0x80 else float(10 ** (exp & 0x7F))
        elif code == 14 and length == 8:  # if_tsoffset
            offset = struct.unpack(endian + "q", value)[0]
        pos += 4 + length + (-length % 4)
    return divisor, offset


def open_captures(
    paths: list[str], bypass: Bypass | None = None, decoder: Decoder | None = None
) -> tuple[list[PcapFile], Iterator[Any]]:
    """Open every path (errors now, before reading) and merge them in time order.

    Raw packets, or ``TcpSegment``s with a ``decoder`` (see ``PcapFile``)."""
    files = [PcapFile(p, bypass, decoder=decoder) for p in paths]
    if len(files) == 1:
        return files, iter(files[0])
    return files, heapq.merge(*files, key=lambda rec: rec[0])
