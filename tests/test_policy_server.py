"""The policy service with a real ZeroMQ CURVE alert stream and real sockets.

A ``ZmqPublisher`` (the sensor's own output) publishes alerts; the service, on its own
asyncio loop in a thread, answers requests over TCP and a UNIX socket. Also the cache,
the journal and its summary command, in-process.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensor.alert import Alert
from sensor.cli import cli
from sensor.keys import generate, load_public, load_secret
from sensor.outputs.zmq_pub import ZmqPublisher
from sensor.policy.cache import VerdictCache, verdict_from_alert
from sensor.policy.codec import Verdict
from sensor.policy.journal import PoisonJournal
from sensor.policy.server import PolicyConfig, PolicyService, parse_listen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(client_port: int, rcpt: str = "alice@example.test", state: str = "RCPT") -> bytes:
    return (f"request=smtpd_access_policy\nprotocol_state={state}\nclient_address=198.51.100.2\n"
            f"client_port={client_port}\nserver_address=198.51.100.1\nserver_port=25\n"
            f"helo_name=bot.example\nsender=a@example.org\nrecipient={rcpt}\ninstance=i{client_port}\n\n").encode()


def alert(client_port: int, verdict: str = "bot", early: bool = False) -> Alert:
    return Alert(ts=1.0, client="198.51.100.2", client_port=client_port, server="198.51.100.1", server_port=25,
                 verdict=verdict, dialects=("cutwail",) if verdict == "bot" else ("postfix",), family=None,
                 decided_at=None, anomalies=(), end="open" if early else "quit", incomplete=False,
                 client_lines=(b"EHLO x\r\n",), replies=(), extra={"early": True} if early else {})


def ask(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    out = b""
    while not out.endswith(b"\n\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        out += chunk
    return out


class Running:
    def __init__(self, service: PolicyService, listen: list[str]) -> None:
        self.service = service
        ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(service.serve(listen, ready.set)), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        self.service.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def stream(tmp_path: Path) -> Iterator[tuple[ZmqPublisher, bytes]]:
    public, secret = generate(tmp_path / "keys", "sensor")
    pub, sec = load_secret(secret)
    publisher = ZmqPublisher(f"tcp://127.0.0.1:{free_port()}", public_key=pub, secret_key=sec, sensor="t1",
                             heartbeat=0.2)
    yield publisher, load_public(public)
    publisher.close()


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_poison_bot_dunno_legit_fail_open_and_journal(tmp_path: Path, stream: tuple[ZmqPublisher, bytes]) -> None:
    publisher, server_key = stream
    port = free_port()
    unix = str(tmp_path / "policy.sock")
    book = PoisonJournal(tmp_path / "j.sqlite", commit_every=1)
    service = PolicyService(PolicyConfig(wait=0.3), [(publisher.endpoint, server_key)], journal=book)
    running = Running(service, [f"127.0.0.1:{port}", f"unix:{unix}"])
    try:
        assert publisher.wait_subscribers(10)
        publisher.publish(alert(40001, early=True))
        publisher.publish(alert(40002, "legit"))
        wait_until(lambda: len(service.cache) == 2)
        with socket.create_connection(("127.0.0.1", port)) as s:  # one persistent connection
            assert ask(s, request(40001)) == b"action=550 5.1.1 User unknown in local recipient table\n\n"
            assert ask(s, request(40001, state="DATA")) == b"action=DUNNO\n\n"
            assert ask(s, request(40002)) == b"action=DUNNO\n\n"
            started = time.monotonic()
            assert ask(s, request(40003)) == b"action=DUNNO\n\n"  # undecided: waits, then fails open
            assert 0.25 < time.monotonic() - started < 5
        with socket.socket(socket.AF_UNIX) as u:
            u.connect(unix)
            assert ask(u, request(40001, "bob@example.test")).startswith(b"action=550 5.1.1 User unknown")

        # A pending verdict that comes while the request waits.
        service_wait = PolicyConfig(wait=5.0)
        service.config = service_wait
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(request(40004))
            wait_until(lambda: service.waiters)
            publisher.publish(alert(40004))
            out = s.recv(4096)
            assert out.startswith(b"action=550 5.1.1"), out
    finally:
        running.stop()
        book.close()
    result = CliRunner().invoke(cli, ["policy", "journal", str(tmp_path / "j.sqlite"), "--json"],
                                catch_exceptions=False)
    summary = json.loads(result.output)
    assert summary["poisoned"] == 3 and summary["clients"] == 1 and summary["recipients"] == 2
    assert summary["by_dialect"][0]["dialects"] == "cutwail"
    text = CliRunner().invoke(cli, ["policy", "journal", str(tmp_path / "j.sqlite")], catch_exceptions=False)
    assert "poisoned recipients: 3 (2 distinct) to 1 clients" in text.output


def test_many_concurrent_clients_and_protocol_trouble(tmp_path: Path, stream: tuple[ZmqPublisher, bytes]) -> None:
    publisher, server_key = stream
    port = free_port()
    service = PolicyService(PolicyConfig(wait=0.2, max_line=512), [(publisher.endpoint, server_key)])
    running = Running(service, [f"127.0.0.1:{port}"])
    try:
        assert publisher.wait_subscribers(10)
        for p in range(41000, 41050):
            publisher.publish(alert(p))
        wait_until(lambda: len(service.cache) == 50)
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        for i, s in enumerate(socks):  # all requests out before any answer is read
            s.sendall(request(41000 + i))
        for s in socks:
            out = b""
            while not out.endswith(b"\n\n"):
                out += s.recv(4096)
            assert out.startswith(b"action=550 5.1.1")
            s.close()
        for bad in (b"garbage without equals\n\n", b"recipient=" + b"x" * 600 + b"\n\n"):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(bad)
                assert s.recv(4096) == b""  # closed without a reply
        with socket.create_connection(("127.0.0.1", port)) as s:  # abrupt disconnect mid-request
            s.sendall(request(41000)[:40])
        with socket.create_connection(("127.0.0.1", port)) as s:  # the service is still fine
            assert ask(s, request(41001)).startswith(b"action=550")
            assert ask(s, b"request=junk\n\n") == b"action=DUNNO\n\n"
            assert ask(s, b"request=smtpd_access_policy\nprotocol_state=RCPT\n\n") == b"action=DUNNO\n\n"
    finally:
        running.stop()


def test_silent_sensor_means_no_wait(tmp_path: Path) -> None:
    public, _secret = generate(tmp_path / "keys", "sensor")
    port = free_port()
    service = PolicyService(PolicyConfig(wait=5.0, silence=0.0),
                            [(f"tcp://127.0.0.1:{free_port()}", load_public(public))])
    running = Running(service, [f"127.0.0.1:{port}"])
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            started = time.monotonic()
            assert ask(s, request(40001)) == b"action=DUNNO\n\n"
            assert time.monotonic() - started < 2
    finally:
        running.stop()


def test_cache_expiry_and_cap() -> None:
    cache = VerdictCache(ttl=10, max_entries=2)
    v = Verdict("bot")
    cache.put(("a", 1, "b", 25), v, 0)
    cache.put(("a", 2, "b", 25), v, 5)
    cache.put(("a", 3, "b", 25), v, 6)
    assert cache.get(("a", 1, "b", 25), 6) is None and cache.evicted == 1
    assert cache.get(("a", 2, "b", 25), 14) is v
    assert cache.expire(15.5) == 1 and len(cache) == 1
    assert cache.get(("a", 3, "b", 25), 16) is None


def test_verdict_from_alert_validates() -> None:
    obj = {**alert(1).to_json(), "v": 1, "seq": 3, "sensor": "s"}
    key, verdict = verdict_from_alert("verdict.bot", obj) or (None, None)
    assert key == ("198.51.100.2", 1, "198.51.100.1", 25) and verdict is not None and verdict.seq == 3
    assert verdict_from_alert("heartbeat", {"v": 1, "seq": 1, "sensor": "s"}) is None
    for bad in ({**obj, "v": 2}, {**obj, "seq": -1}, {**obj, "sensor": ""}, {**obj, "client": "nope"},
                {**obj, "server_port": 70000}, {**obj, "dialects": [1]}):
        with pytest.raises(ValueError):
            verdict_from_alert("verdict.bot", bad)
    with pytest.raises(ValueError):
        verdict_from_alert("verdict.legit", obj)


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9998") == ("127.0.0.1", 9998)
    assert parse_listen("[::1]:9998") == ("::1", 9998)
    assert parse_listen("unix:/run/p.sock") == ("unix", "/run/p.sock")
    for bad in ("9998", "host:", "unix:", "h:70000"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def test_policy_command_usage_errors(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["policy", "--config", str(tmp_path / "none.ini")])
    assert r.exit_code == 1
    empty = tmp_path / "c.ini"
    empty.write_text("")
    r = CliRunner().invoke(cli, ["policy", "--config", str(empty)])
    assert r.exit_code == 2 and "--connect" in r.output


def test_allowlisted_client_is_never_refused(tmp_path: Path, stream: tuple[ZmqPublisher, bytes]) -> None:
    from sensor.agent.policy import Allowlist
    from sensor.errors import ConfigError

    publisher, server_key = stream
    allow = tmp_path / "allow.txt"
    allow.write_text("# our relays\n198.51.100.0/30\n")
    port = free_port()
    service = PolicyService(PolicyConfig(wait=0.3, allowlist=str(allow)), [(publisher.endpoint, server_key)])
    running = Running(service, [f"127.0.0.1:{port}"])
    try:
        assert publisher.wait_subscribers(10)
        publisher.publish(alert(40011))
        wait_until(lambda: len(service.cache) == 1)
        with socket.create_connection(("127.0.0.1", port)) as s:
            assert ask(s, request(40011)) == b"action=DUNNO\n\n"  # a bot, but allowlisted
            service.allowlist = Allowlist.load(None)  # the same verdict, not allowlisted
            assert ask(s, request(40011)).startswith(b"action=550 5.1.1 User unknown")
    finally:
        running.stop()
    assert service.metrics.lookups.labels("allowlisted")._value.get() == 1

    allow.write_text("198.51.100.300\n")
    with pytest.raises(ConfigError, match=r"allow.txt:1: not an address or CIDR"):
        PolicyService(PolicyConfig(allowlist=str(allow)), [])
    key = generate(tmp_path / "k", "s")[0]
    result = CliRunner().invoke(cli, ["policy", "--allowlist", str(allow), "--journal", "",
                                      "--connect", "tcp://127.0.0.1:1", "--sensor-key", str(key),
                                      "--listen", f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 1 and "allow.txt:1: not an address or CIDR" in result.output
