"""``babel-sensor live`` on a real interface: tcpdump pipe, clean stop, restart, metrics,
the pyshark engine. In namespaces; skipped without root, ip or tcpdump."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from netns_net import CLIENT4, SERVER4, Net, need, needs_root_net, wait_for

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

HOLD = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], 25), timeout=20)
data = b""
while b"220" not in data:
    data += s.recv(4096)
s.sendall(b"EHLO holder.example\\r\\n")
while b"250 " not in data:
    data += s.recv(4096)
print("ready", flush=True)
time.sleep(600)
"""

LEGIT = """
import smtplib, sys
with smtplib.SMTP(sys.argv[1], 25, timeout=20) as smtp:
    smtp.sendmail("a@example.org", ["b@example.test"], "Subject: hi\\r\\n\\r\\nhello\\r\\n")
"""

FETCH = """
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())
"""


def packets_seen(log: Path) -> int:
    found = re.findall(rb"stats: packets=(\d+)", log.read_bytes())
    return int(found[-1]) if found else 0


def start_server(net: Net, tmp_path: Path) -> None:
    log = tmp_path / "smtp.log"
    net.start(net.server, [sys.executable, str(REPO / "tests" / "netns_smtp.py"), SERVER4], log=log)
    wait_for(lambda: b"ready" in log.read_bytes(), what="SMTP server")


def start_sensor(net: Net, tmp_path: Path, *extra: str, cwd: Path | None = None) -> tuple[object, Path]:
    log = tmp_path / "sensor.log"
    proc = net.start(net.server, [
        sys.executable, "-m", "sensor", "live", "-i", net.server_if, "-o", str(tmp_path / "out.jsonl"),
        "--stats-interval", "0.2", "--config", str(REPO / "config.ini"), *extra,
    ], log=log, env=ENV, cwd=cwd or tmp_path)
    return proc, log


@needs_root_net
def test_sigterm_flushes_open_conversations_and_restart_is_reported(tmp_path: Path) -> None:
    need("tcpdump")
    with Net("l") as net:
        start_server(net, tmp_path)
        sensor, log = start_sensor(net, tmp_path, "--metrics", "127.0.0.1:9631")
        wait_for(lambda: b"listening on" in log.read_bytes(), what="tcpdump to listen")
        # The capture process dies: it is restarted with back-off and reported.
        pid = int(re.search(rb"\(pid (\d+)\)", log.read_bytes()).group(1))  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)  # the tcpdump our sensor started, by pid
        wait_for(lambda: log.read_bytes().count(b"listening on") >= 2, what="tcpdump restarted")
        assert b"restart 1" in log.read_bytes()
        metrics = net.python(net.server, FETCH, "http://127.0.0.1:9631/metrics").stdout
        assert "babel_sensor_capture_restarts_total 1.0" in metrics
        # A conversation still open when the sensor stops is written with end "eof".
        holder_log = tmp_path / "holder.log"
        holder = net.start(net.client, [sys.executable, "-c", HOLD, SERVER4], log=holder_log)
        wait_for(lambda: b"ready" in holder_log.read_bytes(), what="client EHLO answered")
        wait_for(lambda: packets_seen(log) >= 6, what="packets read by the sensor")
        assert net.stop(sensor) == 0, log.read_text()
        net.stop(holder)
        [record] = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert record["client"] == CLIENT4 and record["end"] == "eof"
        assert record["client_lines"] == ["EHLO holder.example\r\n"]
        assert b"kernel_drops=" in log.read_bytes()


@needs_root_net
def test_pyshark_engine_from_the_repository_directory(tmp_path: Path) -> None:
    need("tshark")
    pytest.importorskip("pyshark")
    with Net("p") as net:
        start_server(net, tmp_path)
        # cwd = the repository, whose config.ini pyshark would otherwise take as its own.
        sensor, log = start_sensor(net, tmp_path, "--engine", "pyshark", cwd=REPO)

        def traffic_seen() -> bool:
            assert net.python(net.client, LEGIT, SERVER4).returncode == 0
            return wait_for_quietly(lambda: packets_seen(log) > 0)

        wait_for(traffic_seen, timeout=120, what="pyshark to capture")
        done = net.python(net.client, LEGIT, SERVER4)
        assert done.returncode == 0
        wait_for(lambda: packets_seen(log) >= 20, timeout=60, what="second conversation")
        assert net.stop(sensor) == 0, log.read_text()
        records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert any(r["client"] == CLIENT4 and r["end"] == "data" for r in records), log.read_text()


def wait_for_quietly(predicate: object, timeout: float = 5.0) -> bool:
    try:
        wait_for(predicate, timeout=timeout)
    except AssertionError:
        return False
    return True
