"""Capture files: formats, compression, stdin, several files, and bad input."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest
from pcapgen import SIMPLE, Flow, lockstep, write

from sensor.capture import PcapFile, open_captures
from sensor.errors import CaptureError

LINES = [c.decode() for c, _ in SIMPLE]


def flow_pcap(tmp_path: Path, name: str = "a.pcap", **kw) -> Path:
    return write(tmp_path / name, lockstep(Flow(**kw), SIMPLE).frames)


def test_pcap_matches_dpkt(tmp_path: Path) -> None:
    path = flow_pcap(tmp_path)
    ours = [(ts, data) for ts, _lt, data in PcapFile(path)]
    with open(path, "rb") as fh:
        theirs = [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(fh)]
    assert [d for _, d in ours] == [d for _, d in theirs]
    assert all(abs(a - b) < 1e-6 for (a, _), (b, _) in zip(ours, theirs, strict=True))


def test_nanosecond_pcap(tmp_path: Path, replay) -> None:
    path = write(tmp_path / "ns.pcap", lockstep(Flow(), SIMPLE).frames, nano=True)
    [rec] = replay([path])
    assert rec["client_lines"] == LINES
    assert abs(rec["ts"] - 1_700_000_000.01) < 1e-6


def test_pcapng_with_two_interfaces(tmp_path: Path, replay) -> None:
    flow = lockstep(Flow(), SIMPLE)
    path = tmp_path / "a.pcapng"

    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 276, 0, 65535))  # interface 0: SLL2, unused
    tsresol = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)  # nanoseconds
    out += block(1, struct.pack("<HHI", 1, 0, 65535) + tsresol)  # interface 1: Ethernet
    for ts, data in flow.frames:
        t = int(round(ts * 1e9))
        out += block(6, struct.pack("<IIIII", 1, t >> 32, t & 0xFFFFFFFF, len(data), len(data)) + data)
    path.write_bytes(out)
    [rec] = replay([path])
    assert rec["client_lines"] == LINES


def test_gzip(tmp_path: Path, replay) -> None:
    raw = flow_pcap(tmp_path).read_bytes()
    gz = tmp_path / "a.pcap.gz"
    gz.write_bytes(gzip.compress(raw))
    [rec] = replay([gz])
    assert rec["client_lines"] == LINES


def test_stdin(tmp_path: Path) -> None:
    path = flow_pcap(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "sensor", "replay", "-", "-q"],
        input=gzip.compress(path.read_bytes()), capture_output=True, check=True,
    )
    assert b"EHLO client.example.org" in proc.stdout


def test_truncated_keeps_everything_before(tmp_path: Path, replay) -> None:
    first = lockstep(Flow(cport=40001), SIMPLE)
    second = lockstep(Flow(cport=40002, t=1_800_000_000.0), SIMPLE)
    raw = write(tmp_path / "full.pcap", first.frames + second.frames).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[:-30])  # ends inside the last record
    files, packets = open_captures([str(cut)])
    assert sum(1 for _ in packets) == len(first.frames) + len(second.frames) - 1
    assert files[0].problem is not None and "truncated" in files[0].problem
    recs = replay([cut])
    assert [r["client_port"] for r in recs] == [40001, 40002]
    assert recs[0]["client_lines"] == LINES


def test_corrupt_record_length(tmp_path: Path) -> None:
    raw = bytearray(flow_pcap(tmp_path).read_bytes())
    struct.pack_into("<I", raw, 24 + 8, 10_000_000)  # first record's captured length
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(bytes(raw))
    f = PcapFile(bad)
    assert list(f) == []
    assert f.problem is not None and "corrupt" in f.problem


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"this is not a capture", "not a pcap or pcapng")],
)
def test_not_a_capture(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=message):
        PcapFile(path)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such file"):
        PcapFile(tmp_path / "nope.pcap")
    with pytest.raises(CaptureError, match="is a directory"):
        PcapFile(tmp_path)


def test_errors_come_before_any_packet(tmp_path: Path) -> None:
    good = flow_pcap(tmp_path)
    with pytest.raises(CaptureError, match="nope.pcap"):
        open_captures([str(good), str(tmp_path / "nope.pcap")])


def test_reader_decoding_equals_the_decoder(public_pcaps: Path) -> None:
    """``replay`` lets the reader decode Ethernet/IPv4/TCP frames in place: every public
    capture gives the same records, packet counts and skip counts as the pipeline's own
    decoder on raw packets."""
    from conftest import replay_pipeline

    paths = sorted(p for p in public_pcaps.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))
    assert paths
    for path in paths:
        fused, fused_records = replay_pipeline([path])
        plain, plain_records = replay_pipeline([path], decoded=False)
        assert fused_records == plain_records, path.name
        assert fused.stats.packets == plain.stats.packets, path.name
        assert fused.stats.segments == plain.stats.segments, path.name
        assert fused.stats.skipped == plain.stats.skipped, path.name
        assert fused.stats.anomalies == plain.stats.anomalies, path.name


def to_big_endian(data: bytes) -> bytes:
    """A little-endian microsecond pcap rewritten in big-endian byte order."""
    out = bytearray(struct.pack(">IHHiIII", 0xA1B2C3D4, *struct.unpack_from("<HHiIII", data, 4)))
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, off)
        out += struct.pack(">IIII", sec, frac, incl, orig) + data[off + 16 : off + 16 + incl]
        off += 16 + incl
    return bytes(out)


def test_big_endian_capture_reads_the_same(tmp_path: Path, replay) -> None:
    """Byte order changes nothing, the capture bypass of message bodies included (its
    Ethernet fields are read with the record header, in the file's byte order)."""
    sample = Path(__file__).resolve().parent.parent / "samples" / "smtp-sample.pcap"
    assert sample.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
    big = tmp_path / "big.pcap"
    big.write_bytes(to_big_endian(sample.read_bytes()))
    from conftest import replay_pipeline

    little_pipeline, little = replay_pipeline([sample])
    big_pipeline, big_records = replay_pipeline([big])
    assert little and big_records == little
    assert big_pipeline.bypass.dropped == little_pipeline.bypass.dropped > 0
