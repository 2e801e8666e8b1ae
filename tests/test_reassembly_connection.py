"""TCP reassembly, end to end from synthetic captures: what replay reports per conversation."""

from __future__ import annotations

from pathlib import Path

from pcapgen import EHLO_REPLY, SIMPLE, Flow, lockstep, write, write_flows

LINES = [c for c, _ in SIMPLE]


def decoded(lines: list[str]) -> list[bytes]:
    return [line.encode("latin-1") for line in lines]


def test_lockstep_baseline(tmp_path: Path, replay) -> None:
    flow = lockstep(Flow(), SIMPLE)
    [rec] = replay([write(tmp_path / "a.pcap", flow.frames)])
    assert decoded(rec["client_lines"]) == LINES
    assert rec["end"] == "data"
    assert rec["incomplete"] is False
    assert rec["anomalies"] == []
    assert rec["replies"][0] == "220 mx.example.net ESMTP\r\n"
    assert rec["replies"][1] == EHLO_REPLY.decode()
    assert rec["client"] == "198.51.100.10" and rec["server_port"] == 25
    assert rec["pipelined"] == []


def test_reordered_segments(tmp_path: Path, replay) -> None:
    flow = Flow().handshake().banner()
    start = flow.cnxt
    line1, line2 = b"EHLO client.example.org\r\n", b"MAIL FROM:<a@b.example>\r\n"
    # The second line arrives first, then the first: the stream must come out in order.
    flow.client_send(line2, seq=start + len(line1))
    flow.client_send(line1, seq=start)
    flow.cnxt = start + len(line1) + len(line2)
    flow.sack = flow.cnxt
    flow.server_send(EHLO_REPLY + b"250 Ok\r\n")
    [rec] = replay([write(tmp_path / "r.pcap", flow.frames)])
    assert decoded(rec["client_lines"]) == [line1, line2]
    assert rec["incomplete"] is False


def test_duplicates_and_identical_retransmission(tmp_path: Path, replay) -> None:
    flow = Flow().handshake().banner()
    start = flow.cnxt
    flow.client_send(b"EHLO x.example\r\n")
    flow.client_send(b"EHLO x.example\r\n", seq=start)  # retransmission, same bytes
    flow.frames.append(flow.frames[-1])  # an exact duplicate frame
    flow.sack = flow.cnxt
    flow.server_send(EHLO_REPLY)
    flow.cack = flow.snxt
    flow.exchange(b"QUIT\r\n", b"221 Bye\r\n")
    [rec] = replay([write(tmp_path / "d.pcap", flow.frames)])
    assert decoded(rec["client_lines"]) == [b"EHLO x.example\r\n", b"QUIT\r\n"]
    assert "tcp_overlap_mismatch" not in rec["anomalies"]
    assert rec["end"] == "quit"


def test_overlap_with_different_bytes_first_wins(tmp_path: Path, replay) -> None:
    flow = Flow().handshake().banner()
    start = flow.cnxt
    flow.client_send(b"EHLO good.example\r\n")
    flow.client_send(b"EHLO evil.example\r\n", seq=start)  # same range, other bytes
    flow.sack = flow.cnxt
    flow.server_send(EHLO_REPLY)
    flow.cack = flow.snxt
    flow.exchange(b"QUIT\r\n", b"221 Bye\r\n")
    [rec] = replay([write(tmp_path / "o.pcap", flow.frames)])
    assert rec["client_lines"][0] == "EHLO good.example\r\n"
    assert "tcp_overlap_mismatch" in rec["anomalies"]


def test_overlap_out_of_order_first_seen_wins(tmp_path: Path, replay) -> None:
    flow = Flow().handshake().banner()
    start = flow.cnxt
    # Bytes 5.. arrive first; then a segment covering 0.. with different bytes at 5..
    flow.client_send(b"good.example\r\n", seq=start + 5)
    flow.client_send(b"EHLO evil.example\r\n", seq=start)
    flow.cnxt = start + len(b"EHLO good.example\r\n")
    flow.sack = flow.cnxt
    flow.server_send(EHLO_REPLY)
    flow.cack = flow.snxt
    flow.exchange(b"QUIT\r\n", b"221 Bye\r\n")
    [rec] = replay([write(tmp_path / "oo.pcap", flow.frames)])
    assert rec["client_lines"][0] == "EHLO good.example\r\n"
    assert "tcp_overlap_mismatch" in rec["anomalies"]


def test_hole_is_a_gap_never_bridged(tmp_path: Path, replay) -> None:
    flow = Flow().handshake().banner()
    flow.exchange(b"EHLO a.example\r\n", EHLO_REPLY)
    lost = b"MAIL FROM:<a@a.example>\r\n"
    flow.cnxt += len(lost)  # this segment never reaches the capture
    flow.client_send(b"RCPT TO:<b@b.example>\r\n")
    flow.sack = flow.cnxt  # the server got everything: the capture lost it
    flow.server_send(b"250 Ok\r\n250 Ok\r\n")
    flow.fin()
    [rec] = replay([write(tmp_path / "h.pcap", flow.frames)])
    assert rec["end"] == "gap"
    assert rec["incomplete"] is True
    assert "tcp_gap" in rec["anomalies"]
    assert decoded(rec["client_lines"]) == [b"EHLO a.example\r\n"]  # nothing after the hole


def test_sequence_wraparound(tmp_path: Path, replay) -> None:
    flow = lockstep(Flow(cisn=0xFFFFFFF0, sisn=0xFFFFFFFA), SIMPLE)
    [rec] = replay([write(tmp_path / "w.pcap", flow.frames)])
    assert decoded(rec["client_lines"]) == LINES
    assert rec["incomplete"] is False and rec["end"] == "data"


def test_syn_retransmission(tmp_path: Path, replay) -> None:
    flow = Flow()
    flow._emit(True, flow.cisn, 0, 0x02, b"", None)  # first SYN, unanswered
    lockstep(flow, SIMPLE)  # the retransmitted SYN (same ISN) opens the connection
    [rec] = replay([write(tmp_path / "s.pcap", flow.frames)])
    assert decoded(rec["client_lines"]) == LINES
    assert "tcp_mid_stream" not in rec["anomalies"]


def test_port_reuse_with_new_isn_is_a_new_connection(tmp_path: Path, replay) -> None:
    first = lockstep(Flow(), SIMPLE[:1] + [(b"QUIT\r\n", b"221 Bye\r\n")]).fin()
    second = lockstep(Flow(cisn=90000, sisn=70000, t=first.t + 1), SIMPLE)
    [a, b] = replay([write(tmp_path / "p.pcap", first.frames + second.frames)])
    assert a["end"] == "quit" and b["end"] == "data"
    assert decoded(b["client_lines"]) == LINES


def test_rst_mid_conversation(tmp_path: Path, replay) -> None:
    flow = lockstep(Flow(), SIMPLE[:2]).rst()
    [rec] = replay([write(tmp_path / "rst.pcap", flow.frames)])
    assert rec["end"] == "reset"
    assert decoded(rec["client_lines"]) == LINES[:2]


def test_fin_close_and_unterminated_last_line(tmp_path: Path, replay) -> None:
    flow = lockstep(Flow(), SIMPLE[:1])
    flow.client_send(b"QUIT")  # no terminator, then close
    flow.fin()
    [rec] = replay([write(tmp_path / "f.pcap", flow.frames)])
    assert rec["client_lines"][-1] == "QUIT"
    assert rec["end"] == "quit"


def test_no_syn_mid_stream(tmp_path: Path, replay) -> None:
    flow = lockstep(Flow(), SIMPLE)
    frames = flow.frames[3:]  # drop the handshake
    [rec] = replay([write(tmp_path / "m.pcap", frames)])
    assert "tcp_mid_stream" in rec["anomalies"]
    assert rec["incomplete"] is True
    assert rec["client"] == "198.51.100.10"  # roles from the ports
    assert decoded(rec["client_lines"]) == LINES


def test_ipv6_with_extension_headers(tmp_path: Path, replay) -> None:
    flow = lockstep(Flow(client="2001:db8::10", server="2001:db8::25", v6_ext=True), SIMPLE)
    [rec] = replay([write(tmp_path / "v6.pcap", flow.frames)])
    assert rec["client"] == "2001:db8::10" and rec["server"] == "2001:db8::25"
    assert decoded(rec["client_lines"]) == LINES


def test_ipv4_options(tmp_path: Path, replay) -> None:
    flow = lockstep(Flow(ip_options=b"\x01\x01\x01\x00"), SIMPLE)
    [rec] = replay([write(tmp_path / "opt.pcap", flow.frames)])
    assert decoded(rec["client_lines"]) == LINES


def test_every_link_type(tmp_path: Path, replay) -> None:
    for link in ("ether", "vlan", "qinq", "sll", "sll2", "raw", "null", "loop"):
        flow = lockstep(Flow(link=link), SIMPLE)
        [rec] = replay([write(tmp_path / f"{link}.pcap", flow.frames, link)])
        assert decoded(rec["client_lines"]) == LINES, link
        v6 = lockstep(Flow(link=link, client="2001:db8::1", server="2001:db8::2"), SIMPLE)
        [rec6] = replay([write(tmp_path / f"{link}6.pcap", v6.frames, link)])
        assert decoded(rec6["client_lines"]) == LINES, link + " v6"


def test_two_files_merged_in_time_order(tmp_path: Path, replay) -> None:
    early = lockstep(Flow(cport=40001, t=1000.0), SIMPLE)
    late = lockstep(Flow(cport=40002, t=1000.005), SIMPLE)  # interleaves with the first
    a = write(tmp_path / "a.pcap", late.frames)
    b = write(tmp_path / "b.pcap", early.frames)
    recs = replay([a, b])
    assert sorted(r["client_port"] for r in recs) == [40001, 40002]
    assert all(decoded(r["client_lines"]) == LINES for r in recs)


def test_idle_expiry_by_packet_time(tmp_path: Path, replay) -> None:
    idle = lockstep(Flow(cport=40001, t=1000.0), SIMPLE[:1])
    later = lockstep(Flow(cport=40002, t=2000.0), SIMPLE)  # 1000 s later in capture time
    recs = replay([write_flows(tmp_path / "i.pcap", idle, later)])
    by_port = {r["client_port"]: r for r in recs}
    assert by_port[40001]["end"] == "timeout"
    assert by_port[40002]["end"] == "data"


def test_after_conversation_end_payload_is_not_buffered(tmp_path: Path) -> None:
    from sensor.capture import open_captures
    from sensor.config import load_settings
    from sensor.pipeline import Pipeline

    flow = lockstep(Flow(), SIMPLE)
    for _ in range(50):
        flow.client_send(b"x" * 1000 + b"\r\n")
    pcap = write(tmp_path / "body.pcap", flow.frames)
    pipeline = Pipeline(load_settings(), [], isolate_errors=False)
    _f, packets = open_captures([str(pcap)])
    pipeline.run(packets)
    [(conn, _is_client)] = [v for v in pipeline.table.flows.values() if v[1]]
    assert conn.ignore_payload
    assert not conn.c.pending and not conn.cq and conn.c.history == bytearray()


def test_flow_table_cap_evicts_handshakes_first(tmp_path: Path, replay) -> None:
    from sensor.config import load_settings

    settings = load_settings(overrides={("reassembly", "max_flows"): 4})
    frames = []
    for i in range(20):  # a SYN flood
        f = Flow(cport=30000 + i, t=1000.0 + i * 0.001)
        f._emit(True, f.cisn, 0, 0x02, b"", None)
        frames += f.frames
    real = lockstep(Flow(cport=45000, t=1001.0), SIMPLE)
    recs = replay([write(tmp_path / "flood.pcap", frames + real.frames)], settings)
    assert [decoded(r["client_lines"]) for r in recs] == [LINES]


def test_hole_cap_declares_gap(tmp_path: Path, replay) -> None:
    from sensor.config import load_settings

    settings = load_settings(overrides={("reassembly", "max_hole_bytes"): 100})
    flow = lockstep(Flow(), SIMPLE[:1])
    flow.cnxt += 10  # a hole, never filled, and the server never acknowledges past it
    for _ in range(5):
        flow.client_send(b"NOOP" + b" " * 40 + b"\r\n", ack=flow.cack)
    [rec] = replay([write(tmp_path / "hc.pcap", flow.frames)], settings)
    assert "tcp_hole_cap" in rec["anomalies"] and rec["end"] == "gap"


def test_stream_cap(tmp_path: Path, replay) -> None:
    from sensor.config import load_settings

    settings = load_settings(overrides={("reassembly", "max_stream_bytes"): 200})
    flow = lockstep(Flow(), SIMPLE[:1])
    for i in range(10):
        flow.exchange(b"RCPT TO:<user%d@example.net>\r\n" % i, b"250 Ok\r\n")
    [rec] = replay([write(tmp_path / "sc.pcap", flow.frames)], settings)
    assert "tcp_stream_cap" in rec["anomalies"]
    assert rec["incomplete"] is True


def test_ack_decides_order_when_capture_order_lies(tmp_path: Path, replay) -> None:
    """The client's EHLO is captured before the banner, but its ACK covers the banner."""
    flow = Flow().handshake()
    banner = b"220 mx.example.net ESMTP\r\n"
    t = flow.t + 0.01
    flow.client_send(b"EHLO a.example\r\n", ack=flow.snxt + len(banner), ts=t)
    flow.server_send(banner, ts=t)
    flow.cack = flow.snxt
    flow.sack = flow.cnxt
    flow.server_send(EHLO_REPLY)
    flow.cack = flow.snxt
    flow.exchange(b"QUIT\r\n", b"221 Bye\r\n")
    [rec] = replay([write(tmp_path / "ord.pcap", flow.frames)])
    assert "smtp_pregreet" not in rec["anomalies"]
    assert rec["pipelined"] == []
    assert rec["replies"][0] == banner.decode()


def test_pregreet_from_ack_with_equal_timestamps(tmp_path: Path, replay) -> None:
    """Banner captured first, same timestamp, but the client's ACK does not cover it."""
    flow = Flow().handshake()
    banner = b"220 mx.example.net ESMTP\r\n"
    t = flow.t + 0.01
    flow.server_send(banner, ts=t)
    flow.client_send(b"EHLO a.example\r\n", ts=t)  # ack is still the banner's start
    flow.cack = flow.snxt
    flow.sack = flow.cnxt
    flow.server_send(EHLO_REPLY)
    flow.cack = flow.snxt
    flow.exchange(b"QUIT\r\n", b"221 Bye\r\n")
    [rec] = replay([write(tmp_path / "pg.pcap", flow.frames)])
    assert "smtp_pregreet" in rec["anomalies"]
    assert rec["pipelined"] == [1]


def _run_pipeline(pcap: Path):
    from conftest import Collect

    from sensor.capture import open_captures
    from sensor.config import load_settings
    from sensor.pipeline import Pipeline

    out = Collect()
    pipeline = Pipeline(load_settings(), [out], isolate_errors=False)
    _files, packets = open_captures([str(pcap)], pipeline.bypass)
    pipeline.run(packets)
    return pipeline, out


def test_body_is_bypassed_at_the_reader_and_the_close_still_seen(tmp_path: Path) -> None:
    flow = lockstep(Flow(), SIMPLE)
    for _ in range(30):
        flow.client_send(b"x" * 500 + b"\r\n")
        flow.server_ack()
    flow.fin()
    pipeline, out = _run_pipeline(write(tmp_path / "b.pcap", flow.frames))
    # 30 body segments, 30 ACKs, and the last ACK of the close (no FIN/RST flag on it)
    assert pipeline.bypass.dropped == 61
    [(conn, _)] = [v for v in pipeline.table.flows.values() if v[1]]
    assert conn.closed  # the FIN/ACK exchange went through
    stats = pipeline.finish()
    assert stats.packets == len(flow.frames) and stats.bypassed == 61
    assert [a.end for a in out.alerts] == ["data"]


def test_long_body_keeps_the_connection_alive(tmp_path: Path) -> None:
    """Body packets bypassed at the reader still count as activity for idle expiry."""
    flow = lockstep(Flow(), SIMPLE)
    flow.step = 100.0  # 100 s between packets: 2000 s of body, idle timeout 330 s
    for _ in range(20):
        flow.client_send(b"y" * 100 + b"\r\n")
    flow.step = 0.01
    flow.fin()
    pipeline, out = _run_pipeline(write(tmp_path / "long.pcap", flow.frames))
    pipeline.finish()
    assert len(out.alerts) == 1  # no second, mid-stream "conversation" made of the body
    assert out.alerts[0].end == "data"
