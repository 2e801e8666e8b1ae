"""The dialect zoo end to end: one cheap real client captured into a tmp corpus.

Runs ``dialects/zoo/zoo.py`` for Python's smtplib (stdlib: nothing to install) against
the zoo server in network namespaces, then checks what it wrote: the pcaps parse,
hold complete TCP conversations from the client address to port 25 with the client's
EHLO in the bytes, and ``labels.tsv`` has DESIGN §4 columns and the right rows.
Needs root, iproute2 and tcpdump; skipped with a reason otherwise.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "dialects" / "zoo" / "zoo.py"
CLIENT = "python-smtplib-sendmail"

needs_network = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tcpdump"),
    reason="the zoo needs root, ip (iproute2) and tcpdump to build namespaces and capture",
)


def client_and_server_bytes(pcap: Path) -> tuple[str, int, bytes, bytes, int]:
    """(client ip, client port, client->server bytes, server->client bytes, port-25 packets)."""
    import dpkt

    client_ip, client_port = "", 0
    to_server: dict[int, bytes] = {}
    to_client: dict[int, bytes] = {}
    packets = 0
    with pcap.open("rb") as f:
        for _ts, frame in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            assert isinstance(ip, dpkt.ip.IP)
            tcp = ip.data
            assert isinstance(tcp, dpkt.tcp.TCP)
            assert 25 in (tcp.sport, tcp.dport)
            packets += 1
            if tcp.dport == 25 and tcp.flags & dpkt.tcp.TH_SYN:
                client_ip, client_port = dpkt.utils.inet_to_str(ip.src), tcp.sport
            if tcp.data:  # pure ACKs share the sequence number of the next data
                (to_server if tcp.dport == 25 else to_client).setdefault(tcp.seq, tcp.data)
    # Ordered by sequence number (no wrap in a capture this small; seq is random but
    # the conversation spans a few KB, so sort relative to the first).
    def joined(segments: dict[int, bytes]) -> bytes:
        base = min(segments)
        return b"".join(segments[s] for s in sorted(segments, key=lambda s: (s - base) & 0xFFFFFFFF))

    return client_ip, client_port, joined(to_server), joined(to_client), packets


def run_zoo(corpus: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ZOO), "--client", CLIENT, "--corpus", str(corpus), "--no-install", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )


def test_zoo_lists_enough_clients() -> None:
    result = subprocess.run([sys.executable, str(ZOO), "--list"], capture_output=True, text=True, check=True)
    ids = [line.split()[0] for line in result.stdout.splitlines()]
    assert len(ids) >= 15
    assert len(set(ids)) == len(ids)
    assert {"postfix", "exim4", "sendmail", "opensmtpd", "swaks", "msmtp", CLIENT} <= set(ids)


@needs_network
def test_zoo_captures_one_client(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    result = run_zoo(corpus, "--behaviour", "modern", "--behaviour", "strict", "--runs", "2")
    assert result.returncode == 0, result.stderr

    with (corpus / "labels.tsv").open(newline="") as f:
        header = f.readline().rstrip("\n").split("\t")
        f.seek(0)
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert header[:4] == ["pcap", "dialect", "class", "flow"]
    assert {"client_version", "scenario"} <= set(header)
    assert sorted(r["pcap"] for r in rows) == sorted(
        f"{CLIENT}/{b}-{i}.pcap" for b in ("modern", "strict") for i in (1, 2)
    )

    shapes = {}
    for row in rows:
        assert row["dialect"] == CLIENT
        assert row["class"] == "legit"
        assert row["client_version"].startswith("python ")
        assert row["pcap"].startswith(f"{CLIENT}/{row['scenario']}-")
        pcap = corpus / row["pcap"]
        client_ip, client_port, sent, received, packets = client_and_server_bytes(pcap)
        assert packets >= 10
        assert client_ip.startswith("198.51.100.")
        assert row["flow"] == f"{client_ip}:{client_port}"
        # The client's greeting (smtplib writes it in lower case) is the first line.
        first_line = sent.split(b"\r\n", 1)[0]
        assert first_line.startswith(b"ehlo ") and len(first_line) > 6
        assert received.startswith(b"220 ")
        assert b"\r\n.\r\n" in sent and sent.rstrip().lower().endswith(b"quit")
        assert received.rstrip().endswith(b"221 2.0.0 Bye")
        if row["scenario"] == "strict":
            assert b"550 5.1.1 <" in received
            assert b"User unknown in local recipient table" in received
        shapes[(row["scenario"], row["run"])] = first_line
    # Run 1 greets with a dotted name, run 2 with a single label: values vary.
    assert b"." in shapes[("modern", "1")][5:]
    assert b"." not in shapes[("modern", "2")][5:]


@needs_network
def test_zoo_rerun_replaces_rows(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    for _ in range(2):
        result = run_zoo(corpus, "--behaviour", "busy", "--runs", "1")
        assert result.returncode == 0, result.stderr
    with (corpus / "labels.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [r["pcap"] for r in rows] == [f"{CLIENT}/busy-1.pcap"]
    _, _, sent, received, _ = client_and_server_bytes(corpus / rows[0]["pcap"])
    # busy run 1: MAIL gets a temporary error, the client resets and quits.
    assert b"451 4.3.0" in received
    assert b"\r\nmail FROM:<" in sent and b"rcpt" not in sent.lower()
