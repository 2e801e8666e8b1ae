"""End to end: a real Postfix asks the policy service at RCPT; real tcpdump, real
ZeroMQ with CURVE, in network namespaces.

The server namespace runs its own Postfix instance (``postfix -c DIR start``, its own
config, queue and log, stopped with ``postfix -c DIR stop`` also on failure) with one
real mailbox, alice@example.test, and ``check_policy_service`` pointing at
``babel-sensor policy``; ``babel-sensor live`` captures there and publishes.

* A pregreeting client (EHLO before the banner: a bot at line 1 by strong evidence)
  asking for alice, who exists, is told ``550 5.1.1 <alice@example.test>: Recipient
  address rejected: User unknown in local recipient table`` (in its own transcript),
  and the poisoning journal has the row.
* A legitimate smtplib client's message to alice is delivered to her mailbox.
* With the sensor stopped, the same bot client's message is delivered too (fail open).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_net import CLIENT4, OTHER4, SERVER4, Net, need, needs_root_net, wait_for

from sensor.keys import generate

REPO = Path(__file__).resolve().parents[1]
POLICY_PORT = 9998
USER_UNKNOWN = (b"550 5.1.1 <alice@example.test>: Recipient address rejected: "
                b"User unknown in local recipient table")

BOT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 25), timeout=30, source_address=(sys.argv[2], 0))
log = []
def reply():
    data = b""
    while True:
        data += s.recv(4096)
        lines = data.split(b"\r\n")
        if len(lines) > 1 and all(len(l) >= 4 and l[3:4] == b" " for l in lines[-2:-1]):
            log.append(b"S: " + data); return data
s.sendall(b"EHLO bot.example\r\n"); log.append(b"C: EHLO bot.example")   # before the banner
banner = reply()
if b"250" not in banner:
    reply()
for line in (b"MAIL FROM:<spam@example.org>", b"RCPT TO:<alice@example.test>"):
    s.sendall(line + b"\r\n"); log.append(b"C: " + line); answer = reply()
if answer.startswith(b"250"):
    s.sendall(b"DATA\r\n"); reply()
    s.sendall(b"Subject: bot\r\n\r\nbot-marker\r\n.\r\n"); reply()
s.sendall(b"QUIT\r\n"); reply()
sys.stdout.write(b"\n".join(log).decode("latin-1"))
"""

LEGIT = """
import smtplib, sys
with smtplib.SMTP(sys.argv[1], 25, timeout=30, source_address=(sys.argv[2], 0)) as smtp:
    smtp.ehlo("client.example.org")
    smtp.sendmail("a@example.org", ["alice@example.test"], "Subject: hi\\r\\n\\r\\n" + sys.argv[3] + "\\r\\n")
print("sent")
"""


def main_cf(base: Path) -> str:
    return f"""
compatibility_level = 3.6
queue_directory = {base}/queue
data_directory = {base}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
mydomain = example.test
myorigin = example.test
mydestination = example.test
inet_interfaces = all
inet_protocols = all
mynetworks = 127.0.0.0/8
local_recipient_maps = texthash:{base}/etc/recipients
alias_maps = texthash:{base}/etc/aliases
alias_database =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
biff = no
mailbox_size_limit = 0
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
# Postfix must not refuse the pregreeting client by itself: the 550 it sees has to
# come from the policy service (no postscreen, no reject_unauth_pipelining).
smtpd_forbid_unauth_pipelining = no
smtpd_data_restrictions =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service inet:127.0.0.1:{POLICY_PORT}
smtpd_policy_service_timeout = 10s
smtpd_policy_service_default_action = DUNNO
"""


@pytest.fixture
def postfix_base() -> Iterator[Path]:
    need("postfix", "postconf")
    # Outside pytest's 0700 tmp dir: Postfix's unprivileged daemons must reach the queue.
    base = Path(tempfile.mkdtemp(prefix="babel-postfix-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        if (base / "queue" / "pid" / "master.pid").exists():
            subprocess.run(["postfix", "-c", str(base / "etc"), "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def listening(net: Net, port: int) -> bool:
    out = net.exec(net.server, "ss", "-Hltn", f"sport = :{port}", check=False).stdout
    return bool(out.strip())


def mailbox(base: Path) -> str:
    path = base / "mail" / "alice.mbox"
    return path.read_text(errors="replace") if path.exists() else ""


@needs_root_net
def test_postfix_poisons_the_bot_and_delivers_legit_mail(tmp_path: Path, postfix_base: Path) -> None:
    need("tcpdump", "ss")
    base = postfix_base
    etc = base / "etc"
    etc.mkdir()
    (base / "queue").mkdir(mode=0o755)  # post-install (postfix start) fills it
    (base / "data").mkdir(mode=0o700)
    shutil.chown(base / "data", "postfix", "postfix")
    (base / "mail").mkdir(mode=0o1777)
    (base / "mail").chmod(0o1777)  # local(8) writes alias file deliveries as default_privs
    (etc / "main.cf").write_text(main_cf(base))
    shutil.copy("/etc/postfix/master.cf", etc / "master.cf")
    (etc / "recipients").write_text("alice x\n")
    (etc / "aliases").write_text(f"alice {base}/mail/alice.mbox\n")  # texthash: "key value"
    subprocess.run(["postconf", "-c", str(etc), "-F", "*/*/chroot = n"], check=True, capture_output=True)

    public, secret = generate(tmp_path / "keys", "sensor")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    py = sys.executable
    with Net("p") as net:
        sensor_log, policy_log = tmp_path / "sensor.log", tmp_path / "policy.log"
        sensor = net.start(net.server, [
            py, "-m", "sensor", "live", "-i", net.server_if, "--publish", "tcp://127.0.0.1:5557",
            "--curve-secret", str(secret), "--sensor-id", "e2e-postfix", "-o", str(tmp_path / "out.jsonl"),
            "--log-level", "debug", "--stats-interval", "0", "--config", str(REPO / "config.ini"),
        ], log=sensor_log, env=env, cwd=tmp_path)
        wait_for(lambda: b"listening on" in sensor_log.read_bytes(), what="tcpdump to listen")
        journal = tmp_path / "policy.sqlite"
        net.start(net.server, [
            py, "-m", "sensor", "policy", "--listen", f"127.0.0.1:{POLICY_PORT}",
            "--connect", "tcp://127.0.0.1:5557", "--sensor-key", str(public), "--journal", str(journal),
            "--wait", "2", "--log-level", "debug", "--config", str(REPO / "config.ini"),
        ], log=policy_log, env=env, cwd=tmp_path)
        wait_for(lambda: b"alert stream: subscription" in sensor_log.read_bytes(), what="policy subscription")
        wait_for(lambda: listening(net, POLICY_PORT), what="policy service")
        started = net.exec(net.server, "postfix", "-c", str(etc), "start", check=False)
        assert started.returncode == 0, started.stderr + started.stdout
        wait_for(lambda: listening(net, 25), timeout=60, what="Postfix smtpd")

        # The bot: refused with Postfix's own words for a missing mailbox, though alice exists.
        bot = net.python(net.client, BOT, SERVER4, CLIENT4)
        assert bot.returncode == 0, bot.stderr
        assert USER_UNKNOWN in bot.stdout.encode(), bot.stdout
        # The legitimate client: delivered to the mailbox.
        t0 = time.monotonic()
        legit = net.python(net.client, LEGIT, SERVER4, OTHER4, "legit-marker-1")
        legit_seconds = time.monotonic() - t0
        assert legit.returncode == 0, legit.stderr + (base / "maillog").read_text(errors="replace")
        try:
            wait_for(lambda: "legit-marker-1" in mailbox(base), timeout=60, what="legit mail in the mailbox")
        except AssertionError:
            raise AssertionError((base / "maillog").read_text(errors="replace")[-3000:]) from None
        assert "bot-marker" not in mailbox(base)
        print(f"legit client session: {legit_seconds:.3f} s")  # the RCPT waited for the early verdict

        assert b"550 5.1.1 <alice@example.test>: Recipient address rejected: User unknown in local recipient table" \
            in (base / "maillog").read_bytes()
        rows = wait_for(lambda: journal_rows(journal), timeout=30, what="journal row")
        assert rows == [(CLIENT4, "alice@example.test")]

        # The sensor stops: everything is delivered (fail open).
        assert net.stop(sensor) == 0, sensor_log.read_text()
        bot = net.python(net.client, BOT, SERVER4, CLIENT4)
        assert bot.returncode == 0, bot.stderr
        assert USER_UNKNOWN not in bot.stdout.encode(), bot.stdout
        legit = net.python(net.client, LEGIT, SERVER4, OTHER4, "legit-marker-2")
        assert legit.returncode == 0, legit.stderr
        wait_for(lambda: "bot-marker" in mailbox(base) and "legit-marker-2" in mailbox(base), timeout=60,
                 what="both messages in the mailbox with the sensor stopped")

        stop = net.exec(net.server, "postfix", "-c", str(etc), "stop", check=False)
        assert stop.returncode == 0, stop.stderr
        records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert any(r["client"] == CLIENT4 and r["verdict"] == "bot" for r in records)
        assert all(not r.get("early") for r in records)


def journal_rows(path: Path) -> list[tuple[str, str]]:
    import sqlite3

    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        try:
            return list(db.execute("SELECT client, recipient FROM poisoned"))
        except sqlite3.OperationalError:
            return []
