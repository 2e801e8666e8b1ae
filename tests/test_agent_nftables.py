"""The agent with real ZeroMQ (CURVE) and real nftables, in a network namespace.

The agent runs in-process on loopback ZeroMQ sockets; its ``nft`` is a wrapper that
runs nft inside a private namespace, so the host's ruleset is never touched. Checked:
a block lands in the set with a kernel timeout; unknown-key publishers, malformed
alerts and allowlisted addresses never block; blocks expire; ``nft flush ruleset`` is
repaired; a restarted agent restores blocks from its journal; set-only mode.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from netns_net import needs_root_net, run, wait_for

from sensor.agent import Agent, AgentConfig, Allowlist, Journal, NftablesBackend
from sensor.alert import SCHEMA_VERSION, Alert
from sensor.keys import generate, load_public, load_secret
from sensor.outputs.zmq_pub import ZmqPublisher

pytestmark = [needs_root_net, pytest.mark.skipif(not shutil.which("nft"), reason="nft not installed")]


@pytest.fixture
def nft(tmp_path: Path) -> Iterator[str]:
    """An ``nft`` that acts inside a fresh namespace."""
    ns = f"bsnft{os.getpid() % 100000}"
    run("ip", "netns", "add", ns)
    wrapper = tmp_path / "nft"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} nft "$@"\n')
    wrapper.chmod(0o755)
    try:
        yield str(wrapper)
    finally:
        run("ip", "netns", "del", ns, check=False)


def elements(nft: str, table: str = "babel_sensor", name: str = "blocked4", family: str = "inet") -> dict[str, int]:
    proc = run(nft, "-j", "list", "set", family, table, name, check=False)
    if proc.returncode:
        return {}
    out = {}
    for item in json.loads(proc.stdout)["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            e = elem.get("elem", elem)
            if isinstance(e, dict):
                out[str(e["val"])] = int(e.get("timeout", 0))
    return out


def bot_alert(client: str) -> Alert:
    return Alert(ts=1.0, client=client, client_port=4000, server="198.51.100.1", server_port=25,
                 verdict="bot", dialects=(), family=None, decided_at=None, anomalies=("smtp_pregreet",),
                 end="quit", incomplete=False, client_lines=(b"EHLO x\r\n",), replies=())


def start_agent(agent: Agent) -> threading.Thread:
    agent.start()
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    return thread


def rejected(agent: Agent, reason: str) -> float:
    return agent.metrics.registry.get_sample_value("babel_agent_rejected_total", {"reason": reason}) or 0


def test_agent_blocks_validates_repairs_and_restores(nft: str, tmp_path: Path) -> None:
    good_pub, good_sec = generate(tmp_path / "k", "sensor")
    _, bad_sec = generate(tmp_path / "k", "impostor")
    allow = tmp_path / "allow.txt"
    allow.write_text("203.0.113.0/24\n")
    good = ZmqPublisher("tcp://127.0.0.1:0", public_key=load_public(good_pub), secret_key=load_secret(good_sec)[1],
                        sensor="good", ttl=2, heartbeat=0.2)
    bad_keys = load_secret(bad_sec)
    bad = ZmqPublisher("tcp://127.0.0.1:0", public_key=bad_keys[0], secret_key=bad_keys[1], sensor="bad")
    # A sensor holding the right key but sending garbage (a bug, or a compromised host).
    ctx: zmq.Context[Any] = zmq.Context()
    raw = ctx.socket(zmq.XPUB)
    raw.curve_publickey, raw.curve_secretkey = load_secret(good_sec)
    raw.curve_server = True
    raw.setsockopt(zmq.LINGER, 0)
    raw.bind("tcp://127.0.0.1:0")
    raw_ep = raw.getsockopt_string(zmq.LAST_ENDPOINT)
    journal_path = tmp_path / "journal.sqlite"
    config = AgentConfig(check_interval=0.2, max_ttl=3600, rate=1000, burst=1000, silence_warning=60)
    key = load_public(good_pub)

    def make_agent() -> Agent:
        backend = NftablesBackend(nft=nft, action="reject")
        return Agent([(good.bound, key), (bad.bound, key), (raw_ep, key)], backend,
                     Journal(journal_path), Allowlist.load(allow), config)

    try:
        run_agent_checks(nft, make_agent, good, bad, raw)
    finally:
        good.close()
        bad.close()
        raw.close(0)
        ctx.term()


def run_agent_checks(nft: str, make_agent: Any, good: ZmqPublisher, bad: ZmqPublisher, raw: Any) -> None:
    agent = make_agent()
    thread = start_agent(agent)
    try:
        assert good.wait_subscribers(20)
        assert raw.poll(20000)  # the agent's subscription on the raw socket
        raw.recv()
        good_obj = {"v": SCHEMA_VERSION, "seq": 1, "sensor": "raw", "verdict": "bot", "client": "198.51.100.50",
                    "client_port": 1, "ttl": 10**9}
        for frames in (
            [b"verdict.bot", b"not json"],
            [b"verdict.bot", b"{}", b"extra"],
            [b"verdict.bot", json.dumps({**good_obj, "v": 99}).encode()],
            [b"verdict.bot", json.dumps({**good_obj, "client": "198.51.100.999"}).encode()],
            [b"verdict.bot", json.dumps({**good_obj, "client": "203.0.113.9"}).encode()],
            [b"verdict.bot", json.dumps({**good_obj, "seq": 5}).encode()],  # valid, TTL capped
        ):
            raw.send_multipart(frames)
        bad.publish(bot_alert("198.51.100.66"))  # its handshake with the agent fails
        good.publish(bot_alert("198.51.100.7"))  # ttl 2 s: expires soon
        # Journalled once nft has taken them (the 2 s block may already have expired
        # in the kernel on a slow machine, so it is not looked for in the set).
        wait_for(lambda: agent.journal.get("198.51.100.50") and agent.journal.get("198.51.100.7"), what="blocks")
        assert not agent.metrics.backend_errors._value.get()
        assert 0 < elements(nft)["198.51.100.50"] <= 3600  # capped
        assert rejected(agent, "schema") >= 3 and rejected(agent, "bad_address") == 1
        assert rejected(agent, "allowlisted") == 1
        assert "203.0.113.9" not in elements(nft) and "198.51.100.66" not in elements(nft)
        assert agent.metrics.registry.get_sample_value(
            "babel_agent_messages_total", {"sensor": "bad", "topic": "heartbeat"}) is None
        assert agent.metrics.registry.get_sample_value("babel_agent_sequence_gaps_total", {"sensor": "raw"}) == 3
        # The kernel expires the 2-second block on its own.
        wait_for(lambda: "198.51.100.7" not in elements(nft), what="expiry")
        # Someone flushes the whole ruleset: the table and the live blocks come back.
        run(nft, "flush", "ruleset")
        wait_for(lambda: "198.51.100.50" in elements(nft), timeout=10, what="repair after flush ruleset")
        assert agent.metrics.repairs._value.get() >= 1
    finally:
        agent.stop()
        thread.join(10)
        agent.close()
    # Reboot: the table is gone; a new agent restores the journal's blocks.
    run(nft, "delete", "table", "inet", "babel_sensor")
    agent = make_agent()
    agent.start()
    try:
        assert "198.51.100.50" in elements(nft)
        assert "198.51.100.7" not in elements(nft)  # expired, not restored
    finally:
        agent.close()


def test_set_only_fills_an_operator_set(nft: str, tmp_path: Path) -> None:
    script = (
        "table ip operator { set spammers { type ipv4_addr; flags timeout; }; "
        "chain input { type filter hook input priority 0; ip saddr @spammers drop; }; }\n"
    )
    (tmp_path / "op.nft").write_text(script)
    run(nft, "-f", str(tmp_path / "op.nft"))
    backend = NftablesBackend(nft=nft, family="ip", table="operator", set4="spammers", set_only=True)
    agent = Agent([], backend, Journal(tmp_path / "j.sqlite"), Allowlist.load(None), AgentConfig())
    try:
        agent.start()
        from sensor.agent.policy import BlockRequest

        agent.apply([BlockRequest("198.51.100.20", 4, 300, "s", 1, 1)])
        assert 0 < elements(nft, "operator", "spammers", "ip")["198.51.100.20"] <= 300
        assert run(nft, "list", "table", "inet", "babel_sensor", check=False).returncode != 0
        text = run(nft, "list", "chain", "ip", "operator", "input").stdout
        assert "babel-sensor" not in text  # no rules of ours
    finally:
        agent.close()
