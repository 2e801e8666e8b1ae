"""The alert stream over real ZeroMQ sockets with CURVE: no mocks, no sleeps.

A subscriber's arrival is seen as the XPUB subscription message
(``wait_subscribers``), a failed handshake as a socket monitor event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.utils.monitor
from click.testing import CliRunner
from pcapgen import SIMPLE, Flow, lockstep, write

from sensor.alert import SCHEMA_VERSION, Alert, decode
from sensor.cli import cli
from sensor.keys import generate, load_public, load_secret
from sensor.outputs.zmq_pub import ZmqPublisher

TIMEOUT_MS = 20000


def alert(verdict: str = "bot", client: str = "198.51.100.7") -> Alert:
    return Alert(
        ts=1.0, client=client, client_port=40000, server="203.0.113.1", server_port=25,
        verdict=verdict, dialects=(), family=None, decided_at=None, anomalies=("smtp_pregreet",),
        end="quit", incomplete=False, client_lines=(b"EHLO x\r\n",), replies=(b"220 hi\r\n",),
    )


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def sensor_keys(tmp_path: Path) -> tuple[Path, Path]:
    return generate(tmp_path / "keys", "sensor")


def publisher(secret: Path, **kw: Any) -> ZmqPublisher:
    pub, sec = load_secret(secret)
    return ZmqPublisher("tcp://127.0.0.1:0", public_key=pub, secret_key=sec, sensor="s1", **kw)


def subscriber(ctx: zmq.Context[Any], endpoint: str, server_key: bytes, **opts: int) -> zmq.Socket[Any]:
    sock = ctx.socket(zmq.SUB)
    public, secret = zmq.curve_keypair()
    sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server_key
    for name, value in opts.items():
        sock.setsockopt(getattr(zmq, name), value)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def receive(sock: zmq.Socket[Any], topic: str) -> dict[str, Any]:
    """The next message whose topic starts with ``topic`` (heartbeats skipped)."""
    while True:
        got, obj = decode(sock.recv_multipart())
        if got.startswith(topic):
            return obj


def test_alert_reaches_a_pinned_subscriber_with_seq_and_ttl(ctx: zmq.Context[Any], sensor_keys: tuple[Path, Path]) -> None:
    pub = publisher(sensor_keys[1], ttl=900, heartbeat=3600)
    try:
        sub = subscriber(ctx, pub.bound, load_public(sensor_keys[0]))
        assert pub.wait_subscribers(20)
        pub.publish(alert("legit", "198.51.100.8"))
        pub.publish(alert("bot"))
        legit = receive(sub, "verdict.legit")
        bot = receive(sub, "verdict.bot")
    finally:
        pub.close()
    assert legit["client"] == "198.51.100.8" and "ttl" not in legit
    assert bot["v"] == SCHEMA_VERSION and bot["sensor"] == "s1" and bot["ttl"] == 900
    assert bot["seq"] == legit["seq"] + 1
    assert bot["client_lines"] == ["EHLO x\r\n"]


def test_heartbeats_share_the_sequence(ctx: zmq.Context[Any], sensor_keys: tuple[Path, Path]) -> None:
    pub = publisher(sensor_keys[1], heartbeat=0.05)
    try:
        sub = subscriber(ctx, pub.bound, load_public(sensor_keys[0]))
        assert pub.wait_subscribers(20)
        seqs = [receive(sub, "heartbeat")["seq"] for _ in range(3)]
        pub.publish(alert())
        bot = receive(sub, "verdict.bot")
    finally:
        pub.close()
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    assert bot["seq"] > seqs[-1]


def test_wrong_server_key_fails_the_handshake(ctx: zmq.Context[Any], sensor_keys: tuple[Path, Path], tmp_path: Path) -> None:
    other_public, _ = generate(tmp_path / "other", "impostor")
    pub = publisher(sensor_keys[1], heartbeat=0.05)
    try:
        sub = subscriber(ctx, pub.bound, load_public(other_public))
        monitor = sub.get_monitor_socket()
        monitor.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
        seen = []
        while True:
            event = zmq.utils.monitor.recv_monitor_message(monitor)["event"]
            seen.append(event)
            assert event != zmq.EVENT_HANDSHAKE_SUCCEEDED
            if event == zmq.EVENT_DISCONNECTED or event & (
                zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            ):
                break
        pub.publish(alert())
        with pytest.raises(zmq.Again):
            sub.recv_multipart(zmq.NOBLOCK)
        assert not pub.wait_subscribers(0)
        sub.disable_monitor()
    finally:
        pub.close()


def test_allow_subscribers_admits_only_listed_keys(ctx: zmq.Context[Any], sensor_keys: tuple[Path, Path], tmp_path: Path) -> None:
    allowed_public, allowed_secret = generate(tmp_path / "readers", "agent1")
    pub = publisher(sensor_keys[1], heartbeat=3600, allow_subscribers=tmp_path / "readers")
    try:
        server_key = load_public(sensor_keys[0])
        stranger = subscriber(ctx, pub.bound, server_key)
        monitor = stranger.get_monitor_socket()
        monitor.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
        while True:
            event = zmq.utils.monitor.recv_monitor_message(monitor)["event"]
            assert event != zmq.EVENT_HANDSHAKE_SUCCEEDED
            if event in (zmq.EVENT_DISCONNECTED, zmq.EVENT_HANDSHAKE_FAILED_AUTH):
                break
        assert not pub.wait_subscribers(0)
        friend = ctx.socket(zmq.SUB)
        friend.curve_publickey, friend.curve_secretkey = load_secret(allowed_secret)
        friend.curve_serverkey = server_key
        friend.setsockopt(zmq.SUBSCRIBE, b"verdict.")
        friend.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
        friend.connect(pub.bound)
        assert pub.wait_subscribers(20)
        pub.publish(alert())
        assert receive(friend, "verdict.bot")["client"] == "198.51.100.7"
        friend.close(0)
        stranger.disable_monitor()
    finally:
        pub.close()


def test_high_water_mark_drops_are_counted(ctx: zmq.Context[Any], sensor_keys: tuple[Path, Path]) -> None:
    pub = publisher(sensor_keys[1], heartbeat=3600, sndhwm=2)
    sub = subscriber(ctx, pub.bound, load_public(sensor_keys[0]), RCVHWM=2, RCVBUF=4096)
    assert pub.wait_subscribers(20)
    big = Alert(**{**{f: getattr(alert(), f) for f in Alert.__dataclass_fields__},
                   "client_lines": (b"X" * 60000 + b"\r\n",)})
    n = 2000
    for _ in range(n):
        pub.publish(big)
    pub.close()
    assert pub.dropped > 0
    assert pub.published + pub.dropped == n
    sub.close(0)


def test_replay_publish_waits_for_the_subscriber(ctx: zmq.Context[Any], sensor_keys: tuple[Path, Path], tmp_path: Path) -> None:
    import socket
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    pcap = write(tmp_path / "a.pcap", lockstep(Flow(), SIMPLE).frames)
    sub = subscriber(ctx, endpoint, load_public(sensor_keys[0]))
    result: dict[str, Any] = {}

    def run() -> None:
        result["r"] = CliRunner().invoke(cli, [
            "replay", str(pcap), "-q", "-o", str(tmp_path / "out.jsonl"), "--publish", endpoint,
            "--curve-secret", str(sensor_keys[1]), "--wait-subscribers", "60", "--sensor-id", "t1",
            "--realtime",
        ], catch_exceptions=False)

    thread = threading.Thread(target=run)
    thread.start()
    obj = receive(sub, "verdict.")  # the subscriber connected after bind: nothing lost
    thread.join()
    assert result["r"].exit_code == 0, result["r"].output
    assert obj["sensor"] == "t1"
    assert json.loads((tmp_path / "out.jsonl").read_text())["client_port"] == obj["client_port"]
