"""Oracle check against tshark's own TCP reassembly, on every public and corpus capture.

For each capture in ../shared/pcaps/public and dialects/corpus: every conversation
replay reports without a gap has client lines that are, byte for byte, a prefix of the
client stream tshark follows for the same connection (AUTH secrets, masked by us, are skipped line by line),
and it ends where DESIGN s2 says a conversation ends. Every port-25/587 connection with
payload that tshark sees must be reported by replay: the missing ones are listed.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PUBLIC, replay_records

from sensor.config import load_settings

CORPUS = Path(__file__).resolve().parent.parent / "dialects" / "corpus"
PUBLIC_CAPTURES = sorted(
    p for p in PUBLIC.glob("*/*") if p.suffix in (".pcap", ".pcapng") and p.is_file()
) if PUBLIC.is_dir() else []
# The dialect corpus: our own gap-free captures of real clients (dialects/zoo).
CORPUS_CAPTURES = sorted(CORPUS.glob("*/*.pcap")) if CORPUS.is_dir() else []
CAPTURES = PUBLIC_CAPTURES + CORPUS_CAPTURES


def capture_id(path: Path) -> str:
    return f"{'corpus/' if path in CORPUS_CAPTURES else ''}{path.parent.name}/{path.name}"


def tshark_streams(pcap: Path) -> dict[tuple[str, int, str, int], list[tuple[bytes, bytes]]]:
    """(node0 addr, port, node1 addr, port) -> [(bytes node0 sent, bytes node1 sent)]."""
    ids = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "tcp.port == 25 || tcp.port == 587", "-T", "fields", "-e", "tcp.stream"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    streams = sorted({int(i) for i in ids if i.strip()})
    if not streams:
        return {}
    args = ["tshark", "-r", str(pcap), "-q"]
    for n in streams:
        args += ["-z", f"follow,tcp,raw,{n}"]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    out: dict[tuple[str, int, str, int], list[tuple[bytes, bytes]]] = collections.defaultdict(list)
    for block in text.split("=" * 67)[1:]:
        nodes = re.findall(r"Node [01]: \[?([0-9a-fA-F:.]+?)\]?:(\d+)\n", block)
        if len(nodes) != 2:
            continue
        sent: list[bytearray] = [bytearray(), bytearray()]
        for line in block.split("\n"):
            if not line.strip() or line.startswith(("Follow:", "Filter:", "Node ")):
                continue
            side = 1 if line.startswith("\t") else 0
            sent[side] += bytes.fromhex(line.strip())
        key = (nodes[0][0], int(nodes[0][1]), nodes[1][0], int(nodes[1][1]))
        out[key].append((bytes(sent[0]), bytes(sent[1])))
    return out


def client_stream(streams, rec) -> list[bytes]:
    """Every client byte stream tshark has for this record's connection."""
    c, cp, s, sp = rec["client"], rec["client_port"], rec["server"], rec["server_port"]
    found = [a for a, _b in streams.get((c, cp, s, sp), [])]
    found += [b for _a, b in streams.get((s, sp, c, cp), [])]
    return found


def consume(stream: bytes, lines: list[bytes]) -> int | None:
    """Walk our lines over tshark's stream; the offset reached, or None on a mismatch."""
    pos = 0
    for line in lines:
        if b"***" in line:  # masked AUTH secret: the visible prefix must match, skip the rest
            prefix = line[: line.index(b"***")]
            if not stream.startswith(prefix, pos):
                return None
            nl = stream.find(b"\n", pos)
            pos = len(stream) if nl < 0 else nl + 1
        else:
            if stream[pos : pos + len(line)] != line:
                return None
            pos += len(line)
    return pos


def verb(line: bytes) -> str:
    return line.split(b" ", 1)[0].rstrip(b"\r\n").upper().decode("latin-1")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.skipif(not CAPTURES, reason=f"no public captures at {PUBLIC} and no corpus")
@pytest.mark.parametrize("pcap", CAPTURES, ids=[capture_id(p) for p in CAPTURES])
def test_replay_agrees_with_tshark(pcap: Path) -> None:
    # tshark never expires a connection: neither does replay here, so that "the same
    # connection" means the same thing on both sides (one capture splices packets
    # from 2009 and 2023 on one 4-tuple).
    forever = load_settings(overrides={("reassembly", "idle_timeout"): 1e12,
                                       ("reassembly", "handshake_timeout"): 1e12})
    records = replay_records([pcap], forever)
    streams = tshark_streams(pcap)

    # 1. Every tshark connection with payload is reported (same 4-tuple, same count).
    seen = collections.Counter()
    for (a, ap, b, bp), pairs in streams.items():
        for sent_a, sent_b in pairs:
            if sent_a or sent_b:
                seen[tuple(sorted([(a, ap), (b, bp)]))] += 1
    ours = collections.Counter(
        tuple(sorted([(r["client"], r["client_port"]), (r["server"], r["server_port"])])) for r in records
    )
    missing = seen - ours
    assert not missing, f"conversations tshark sees and replay does not: {sorted(missing)}"

    # Our own corpus captures are taken whole on a clean link: nothing may be incomplete.
    if pcap in CORPUS_CAPTURES:
        assert records, f"{pcap}: no conversation"
        broken = [(r["client_port"], r["end"], r["anomalies"]) for r in records if r["incomplete"]]
        assert not broken, f"{pcap}: incomplete conversations in a gap-free capture: {broken}"

    # 2. Byte-exact prefixes, and the right end.
    for rec in records:
        if "tcp_gap" in rec["anomalies"]:
            continue
        lines = [line.encode("latin-1") for line in rec["client_lines"]]
        candidates = client_stream(streams, rec)
        assert candidates, f"tshark has no stream for {rec['client']}:{rec['client_port']}"
        reached = [consume(stream, lines) for stream in candidates]
        assert any(r is not None for r in reached), (
            f"{rec['client']}:{rec['client_port']}: client lines are not a prefix of tshark's stream"
        )
        if rec["incomplete"]:
            continue
        end = rec["end"]
        last = verb(lines[-1]) if lines else ""
        codes = [int(r[:3]) if r[:3].isdigit() else 0 for r in rec["replies"]]
        if end == "data":
            assert last == "DATA" and codes and 300 <= codes[-1] < 400
        elif end == "bdat":
            assert last == "BDAT"
        elif end == "quit":
            assert last == "QUIT"
        elif end == "starttls":
            assert last == "STARTTLS" and codes and 200 <= codes[-1] < 300
        else:  # the connection ended first: every client byte was read
            assert any(r == len(s) for r, s in zip(reached, candidates, strict=True) if r is not None), (
                f"{rec['client']}:{rec['client_port']} ended '{end}' before the client stream did"
            )
