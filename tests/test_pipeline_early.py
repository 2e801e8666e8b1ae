"""Early verdicts: a flow's verdict is published while it is still open, for the
policy service at RCPT: once when it becomes bot, once at the first RCPT line, only to
the alert-stream outputs, never to the per-conversation records."""

from __future__ import annotations

from pathlib import Path

from pcapgen import EHLO_REPLY, SIMPLE, Flow, lockstep, write_flows

from sensor.alert import Alert
from sensor.capture import open_captures
from sensor.config import load_settings
from sensor.pipeline import Pipeline


class Records:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def close(self) -> None:
        pass


class Stream(Records):
    """Looks like the ZeroMQ publisher (the duck type the pipeline picks early outputs by)."""

    def wait_subscribers(self, timeout: float) -> bool:
        return True


def pregreet_flow() -> Flow:
    flow = Flow(client="198.51.100.2", server="198.51.100.1", cport=40100)
    flow.handshake()
    flow.client_send(b"EHLO bot.example\r\n")  # before the banner: strong evidence
    flow.server_ack()
    flow.banner()
    flow.server_send(EHLO_REPLY)
    flow.client_ack()
    flow.exchange(b"MAIL FROM:<x@example.org>\r\n", b"250 2.1.0 Ok\r\n")
    flow.exchange(b"RCPT TO:<alice@example.test>\r\n", b"250 2.1.5 Ok\r\n")
    flow.exchange(b"QUIT\r\n", b"221 2.0.0 Bye\r\n")
    return flow.fin()


def run_stepwise(tmp_path: Path, flow: Flow, stop_before: bytes) -> tuple[list[Alert], list[Alert], int]:
    """Feed packets one at a time; return (stream alerts, records, stream alerts seen
    before the first server packet that carries ``stop_before``)."""
    path = write_flows(tmp_path / "f.pcap", flow)
    stream, records = Stream(), Records()
    pipeline = Pipeline(load_settings(), [records, stream], isolate_errors=False)
    _files, packets = open_captures([str(path)], pipeline.bypass)
    seen_before: int | None = None
    for packet in packets:
        if seen_before is None and stop_before in packet[2]:
            seen_before = len(stream.alerts)
        pipeline.run([packet])
    pipeline.finish()
    return stream.alerts, records.alerts, -1 if seen_before is None else seen_before


def test_pregreet_bot_is_published_early_once(tmp_path: Path) -> None:
    stream, records, before_mail_reply = run_stepwise(tmp_path, pregreet_flow(), b"250 2.1.0 Ok")
    early = [a for a in stream if a.extra.get("early")]
    assert [a.verdict for a in early] == ["bot"]  # bot at line 1; RCPT adds nothing new
    assert early[0].end == "open" and early[0].incomplete
    assert early[0].decided_at is not None and early[0].decided_at.line == 1
    assert (early[0].client, early[0].client_port, early[0].server, early[0].server_port) == (
        "198.51.100.2", 40100, "198.51.100.1", 25)
    assert early[0].to_json()["early"] is True
    assert before_mail_reply == 1  # published before the conversation went on
    finals = [a for a in stream if not a.extra.get("early")]
    assert len(finals) == 1 and finals[0].verdict == "bot" and finals[0].end == "quit"
    assert [a.end for a in records] == ["quit"]  # the records file never sees early alerts


def test_legit_flow_is_published_at_rcpt(tmp_path: Path) -> None:
    flow = lockstep(Flow(client="198.51.100.3", cport=40200), SIMPLE).fin()
    stream, records, before_rcpt_reply = run_stepwise(tmp_path, flow, b"250 2.1.5 Ok")
    early = [a for a in stream if a.extra.get("early")]
    assert len(early) == 1 and early[0].verdict != "bot"
    assert early[0].client_lines[-1].startswith(b"RCPT TO:")
    assert before_rcpt_reply == 1  # the verdict is out before the server answers RCPT
    assert len(records) == 1 and not records[0].extra


def test_no_stream_no_early_alerts(tmp_path: Path) -> None:
    path = write_flows(tmp_path / "f.pcap", pregreet_flow())
    records = Records()
    pipeline = Pipeline(load_settings(), [records], isolate_errors=False)
    _files, packets = open_captures([str(path)], pipeline.bypass)
    pipeline.run(packets)
    stats = pipeline.finish()
    assert len(records.alerts) == 1 and stats.conversations == 1
