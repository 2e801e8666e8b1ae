"""End to end: real tcpdump, real ZeroMQ with CURVE, real nftables, in namespaces.

A client namespace and a server namespace with an SMTP server. ``babel-sensor live``
captures on the server side and publishes; ``babel-sensor agent`` in the server
namespace blocks in its own nftables table there. A pregreet client (talks before the
banner: a bot by strong evidence) is blocked, over IPv4 and IPv6: its next connection
to port 25 fails and its address is in the set with a timeout. A normal smtplib client
from another address is not blocked. Polling with generous timeouts, no fixed sleeps.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from netns_net import (
    CLIENT4,
    CLIENT6,
    OTHER4,
    OTHER6,
    SERVER4,
    SERVER6,
    Net,
    need,
    needs_root_net,
    wait_for,
)

from sensor.keys import generate

REPO = Path(__file__).resolve().parents[1]

PREGREET = """
import socket, sys
s = socket.create_connection((sys.argv[1], 25), timeout=20, source_address=(sys.argv[2], 0))
s.sendall(b"EHLO bot.example\\r\\n")          # before the banner: a pregreet
data = b""
while data.count(b"\\n") < 3:
    data += s.recv(4096)
s.sendall(b"QUIT\\r\\n")
while b"221" not in data:
    data += s.recv(4096)
s.close()
"""

LEGIT = """
import smtplib, sys
with smtplib.SMTP(sys.argv[1], 25, timeout=20, source_address=(sys.argv[2], 0)) as smtp:
    smtp.sendmail("a@example.org", ["b@example.test"], "Subject: hi\\r\\n\\r\\nhello\\r\\n")
"""

CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], 25), timeout=10, source_address=(sys.argv[2], 0)).close()
    print("connected")
except OSError as exc:
    print("failed", type(exc).__name__)
"""


def set_elements(net: Net, name: str) -> dict[str, int]:
    proc = net.exec(net.server, "nft", "-j", "list", "set", "inet", "babel_sensor", name, check=False)
    if proc.returncode:
        return {}
    out = {}
    for item in json.loads(proc.stdout)["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            e = elem.get("elem", elem)
            if isinstance(e, dict):
                out[str(e["val"])] = int(e.get("timeout", 0))
    return out


@needs_root_net
def test_bot_is_blocked_and_legit_is_not(tmp_path: Path) -> None:
    need("tcpdump", "nft")
    public, secret = generate(tmp_path / "keys", "sensor")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    py = sys.executable
    with Net("e") as net:
        server_log = tmp_path / "smtp.log"
        net.start(net.server, [py, str(REPO / "tests" / "netns_smtp.py"), SERVER4, SERVER6], log=server_log)
        wait_for(lambda: b"ready" in server_log.read_bytes(), what="SMTP server")
        sensor_log, agent_log = tmp_path / "sensor.log", tmp_path / "agent.log"
        sensor = net.start(net.server, [
            py, "-m", "sensor", "live", "-i", net.server_if, "--publish", "tcp://127.0.0.1:5556",
            "--curve-secret", str(secret), "--sensor-id", "e2e", "-o", str(tmp_path / "out.jsonl"),
            "--log-level", "debug", "--stats-interval", "0", "--config", str(REPO / "config.ini"),
        ], log=sensor_log, env=env, cwd=tmp_path)
        wait_for(lambda: b"listening on" in sensor_log.read_bytes(), what="tcpdump to listen")
        agent = net.start(net.server, [
            py, "-m", "sensor", "agent", "--connect", "tcp://127.0.0.1:5556", "--sensor-key", str(public),
            "--journal", str(tmp_path / "journal.sqlite"), "--log-level", "debug",
            "--config", str(REPO / "config.ini"),
        ], log=agent_log, env=env, cwd=tmp_path)
        wait_for(lambda: b"alert stream: subscription" in sensor_log.read_bytes(), what="agent subscription")
        wait_for(lambda: set_elements(net, "blocked4") == {} and b"backend ready" in agent_log.read_bytes(),
                 what="agent table")

        # A legitimate client first: it speaks after the banner and is never blocked.
        for server, other in ((SERVER4, OTHER4), (SERVER6, OTHER6)):
            legit = net.python(net.client, LEGIT, server, other)
            assert legit.returncode == 0, legit.stderr
        # The bots, IPv4 and IPv6.
        for server, client, set_name in ((SERVER4, CLIENT4, "blocked4"), (SERVER6, CLIENT6, "blocked6")):
            bot = net.python(net.client, PREGREET, server, client)
            assert bot.returncode == 0, bot.stderr
            elements = wait_for(lambda s=set_name, c=client: set_elements(net, s).get(c) and set_elements(net, s),
                                timeout=60, what=f"{client} in {set_name}")
            assert 0 < elements[client] <= 604800
            assert net.python(net.client, CONNECT, server, client).stdout.startswith("failed")
            assert net.python(net.client, CONNECT, server, client.replace(".2", ".3").replace("::2", "::3")
                              ).stdout.startswith("connected")
        assert OTHER4 not in set_elements(net, "blocked4")
        assert OTHER6 not in set_elements(net, "blocked6")

        assert net.stop(sensor) == 0, sensor_log.read_text()
        assert net.stop(agent) == 0, agent_log.read_text()
        records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        verdicts = {(r["client"], r["verdict"]) for r in records}
        assert (CLIENT4, "bot") in verdicts and (CLIENT6, "bot") in verdicts
        assert all(r["verdict"] != "bot" for r in records if r["client"] in (OTHER4, OTHER6))
        assert b"blocked [198.51.100.2]" in agent_log.read_bytes()
        # Blocks outlive the agent: the kernel holds them with their timeouts.
        assert CLIENT4 in set_elements(net, "blocked4")
