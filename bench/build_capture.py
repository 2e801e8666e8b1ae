"""Build the benchmark capture: real port-25/587 flows, replicated into many concurrent
conversations with their bodies.

Every TCP flow of real mail software in the public captures (the conversations
listed in ../shared/pcaps/public/labels.tsv: legitimate MTAs and MUAs and three spambot
families; test generators and exploit replays are left out) that starts with a SYN
is taken whole (handshake, commands, message bodies, close). Copy *i* of a flow gets
its own client address and port and starts ``spacing`` seconds after copy *i-1*, so
hundreds of conversations are open at once, as on a busy MX. Flows longer than
``max_span`` seconds are time-compressed to that span (the order of packets is kept).
"""

from __future__ import annotations

import argparse
import heapq
import struct
import sys
from collections import defaultdict
from pathlib import Path

import dpkt

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ROOT.parent / "shared" / "pcaps" / "public"
PORTS = {25, 587}


def labelled(public: Path) -> dict[Path, set[str]]:
    """Capture -> the client endpoints labelled in it ({""}: every conversation)."""
    out: dict[Path, set[str]] = defaultdict(set)
    lines = (public / "labels.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t"), strict=False))
        out[public / row["pcap"]].add(row.get("flow", "") or "")
    return out


def load_flows(public: Path) -> list[list[tuple[float, bytes]]]:
    """Each complete IPv4-over-Ethernet labelled SMTP flow as [(relative ts, ip bytes)]."""
    sys.path.insert(0, str(ROOT))
    from sensor.capture import PcapFile

    flows: list[list[tuple[float, bytes]]] = []
    for path, wanted in sorted(labelled(public).items()):
        by_key: dict[tuple, list[tuple[float, bytes]]] = defaultdict(list)
        for ts, linktype, frame in PcapFile(path):
            if linktype != 1 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
            if len(ip) < 40 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            sport, dport = struct.unpack_from("!HH", ip, ihl)
            if sport not in PORTS and dport not in PORTS:
                continue
            total = struct.unpack_from("!H", ip, 2)[0] or len(ip)
            ip = ip[:total]
            key = tuple(sorted([(ip[12:16], sport), (ip[16:20], dport)]))
            by_key[key].append((ts, ip))
        for packets in by_key.values():
            first = packets[0][1]
            ihl = (first[0] & 15) * 4
            if not first[ihl + 13] & 0x02 or len(packets) < 6:
                continue  # only flows whose handshake was captured
            sport = struct.unpack_from("!H", first, ihl)[0]
            client = f"{'.'.join(map(str, first[12:16]))}:{sport}"
            if "" not in wanted and client not in wanted:
                continue
            t0 = packets[0][0]
            flows.append([(ts - t0, ip) for ts, ip in packets])
    return flows


def rewrite(ip: bytes, client_ip: bytes, client_port: int, server_ip: bytes, was_client: bytes) -> bytes:
    """Give the packet a new client address/port (and server address); checksums left 0."""
    buf = bytearray(ip)
    ihl = (buf[0] & 15) * 4
    from_client = buf[12:16] == was_client
    if from_client:
        buf[12:16], buf[16:20] = client_ip, server_ip
        struct.pack_into("!H", buf, ihl, client_port)
    else:
        buf[12:16], buf[16:20] = server_ip, client_ip
        struct.pack_into("!H", buf, ihl + 2, client_port)
    struct.pack_into("!H", buf, 10, 0)
    struct.pack_into("!H", buf, ihl + 16, 0)
    return bytes(buf)


def build(out: Path, copies: int, spacing: float, max_span: float) -> int:
    flows = load_flows(PUBLIC)
    if not flows:
        raise SystemExit(f"no flows found under {PUBLIC}")
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    streams = []
    n = 0
    for i in range(copies):
        for j, flow in enumerate(flows):
            n += 1
            span = flow[-1][0] or 1.0
            scale = min(1.0, max_span / span)
            client_ip = bytes([198, 18 + (n >> 16) % 2, (n >> 8) & 0xFF, n & 0xFF])
            server_ip = bytes([203, 0, 113, 1 + j % 200])
            port = 1024 + n % 60000
            was_client = flow[0][1][12:16]
            start = 1_700_000_000.0 + (i * len(flows) + j) * spacing
            streams.append(
                [(start + rel * scale, eth + rewrite(ip, client_ip, port, server_ip, was_client)) for rel, ip in flow]
            )
    count = 0
    with open(out, "wb") as fh:
        writer = dpkt.pcap.Writer(fh, linktype=1)
        for ts, frame in heapq.merge(*streams, key=lambda p: p[0]):
            writer.writepkt(frame, ts=ts)
            count += 1
    return count


def build_syn_flood(out: Path, flows: int) -> int:
    """``flows`` SYN-only connections from distinct client addresses and ports, 10 µs apart."""
    rec = struct.Struct("<IIII")
    with open(out, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
        chunks = []
        for i in range(flows):
            t = 1_700_000_000 * 1_000_000 + i * 10
            src = bytes([198, 18 + (i >> 24) % 2, (i >> 16) & 0xFF, (i >> 8) & 0xFF])
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0, src, b"\xcb\x00\x71\x19")
            tcp = struct.pack("!HHIIBBHHH", 1024 + i % 60000, 25, (i * 7919) & 0xFFFFFFFF, 0, 0x50, 0x02, 65535, 0, 0)
            frame = eth + ip + tcp
            chunks.append(rec.pack(t // 1_000_000, t % 1_000_000, len(frame), len(frame)) + frame)
            if len(chunks) >= 10000:
                fh.write(b"".join(chunks))
                chunks = []
        fh.write(b"".join(chunks))
    return flows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--spacing", type=float, default=0.002)
    ap.add_argument("--max-span", type=float, default=5.0)
    ap.add_argument("--syn-flood", type=int, default=0, help="write N SYN-only flows instead")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.syn_flood:
        n = build_syn_flood(args.out, args.syn_flood)
    else:
        n = build(args.out, args.copies, args.spacing, args.max_span)
    print(f"{args.out}: {n} packets", file=sys.stderr)


if __name__ == "__main__":
    main()
