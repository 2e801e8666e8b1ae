#!/usr/bin/env python3
"""The dialect zoo: capture real SMTP client software talking to a server we control.

    python3 dialects/zoo/zoo.py                      # every client, every behaviour, 3 runs
    python3 dialects/zoo/zoo.py --client swaks       # one client (repeatable)
    python3 dialects/zoo/zoo.py --list               # known clients
    python3 dialects/zoo/zoo.py --client python-smtplib-sendmail \\
        --behaviour modern --runs 1 --corpus /tmp/corpus --no-install

For every (client, behaviour, run) it builds two network namespaces joined by a veth
pair (MTU 1500): the client side gets a fresh address from 198.51.100.0/24, the
server side 203.0.113.25/24.  It starts ``server.py`` in the server namespace, tcpdump
(``-s 0``) on the server-side veth, then the real, unmodified client software in the
client namespace (in its own UTS namespace too, so its host name is the run's), waits
until every connection is closed and tcpdump has flushed, stops tcpdump with SIGINT,
checks that the capture is complete (handshake, close, no sequence hole in either
direction) and appends rows to ``<corpus>/labels.tsv`` (DESIGN §4 columns plus
``client_version``, ``kind``, ``scenario``, ``run``, ``helo`` (shape of the greeting
name) and ``tls`` (whether the client took STARTTLS)).

Values vary between runs (random sender and recipients, number of recipients,
message size, client address), while the host-name *shape* follows the run number
(1: dotted name, 2: single label, 3: address literal where the client can use one),
so that running the zoo twice gives the same templates with different values.

Everything it starts is stopped by pid, and the namespaces are deleted, also on
failure or Ctrl-C.  Needs root, iproute2, tcpdump, openssl (for ``starttls``) and
python3-dpkt (for the capture check).
"""

from __future__ import annotations

import argparse
import atexit
import csv
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import clients as client_registry  # noqa: E402
import server as zoo_server  # noqa: E402

BEHAVIOURS = ("modern", "starttls", "old", "strict", "busy")
BUSY_ORDER = ("mail", "rcpt", "data")
SERVER_IP = "203.0.113.25"
CLIENT_NET = "198.51.100"
LABEL_COLUMNS = ("pcap", "dialect", "class", "flow", "client_version", "kind", "scenario", "run", "helo", "tls")
DEFAULT_CORPUS = HERE.parent / "corpus"

DOMAINS = (
    "example.com", "example.net", "example.org", "mail.example.com", "corp.example",
    "shop.example", "lists.example.net", "eu.example.org", "research.example",
)
HOST_WORDS = ("mail", "mx", "smtp", "relay", "web", "app", "srv", "host", "gw", "node", "out", "box")
NAME_WORDS = ("ana", "ben", "chris", "dana", "eli", "fay", "gus", "hana", "ian", "jo", "kim", "lee", "max", "noa", "oli", "pat", "quinn", "ray", "sam", "tess", "uma", "vic", "wes", "yan", "zoe")
LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat"
).split()


class ZooError(Exception):
    """A capture could not be made; the message says why."""


def log(message: str) -> None:
    print(f"[zoo {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_cmd(argv: list[str], check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


# ---------------------------------------------------------------------------- values


@dataclass
class Run:
    """One capture: the client, the server behaviour and the values of this run."""

    client: client_registry.Client
    behaviour: str
    index: int
    workdir: Path
    client_ip: str
    helo_shape: str
    helo: str  # what the client is configured to greet with
    hostname: str  # the client's system host name (UTS namespace); dotted or single label
    sender: str
    recipients: list[str]
    subject: str
    body: str
    message: bytes  # complete RFC 5322 message (headers + body), CRLF line ends
    busy_step: str
    server_ip: str = SERVER_IP
    cert: Path | None = None
    key: Path | None = None
    ns_client: str = ""
    ns_server: str = ""
    server_log: Path = field(default_factory=Path)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    tls: bool = False  # the client took STARTTLS (the rest of its conversation is encrypted)

    # --- helpers for client recipes

    def path(self, name: str) -> Path:
        return self.workdir / name

    def write(self, name: str, text: str | bytes, mode: int = 0o644) -> Path:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        path.chmod(mode)
        return path

    def in_client(self, argv: list[str]) -> list[str]:
        """argv run inside the client network namespace with the run's host name."""
        return [
            "ip", "netns", "exec", self.ns_client,
            "unshare", "--uts", "--",
            "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname, *argv,
        ]

    def client_run(
        self, argv: list[str], stdin: bytes | None = None, timeout: float = 90,
        env: dict[str, str] | None = None, check: bool = False, cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = dict(os.environ, **(env or {}))
        proc = subprocess.Popen(
            self.in_client(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=full_env, cwd=cwd, start_new_session=True,
        )
        self.procs.append(proc)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            raise ZooError(f"{argv[0]} timed out after {timeout}s: {err[-400:]!r}") from None
        with (self.workdir / "client.log").open("ab") as client_log:
            client_log.write(
                b"$ " + " ".join(argv).encode() + b"\n" + out + err + f"[exit {proc.returncode}]\n".encode()
            )
        if check and proc.returncode != 0:
            raise ZooError(f"{' '.join(argv)} exited {proc.returncode}: {err[-600:].decode(errors='replace')}")
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def client_start(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A long-running client-side process (an MTA daemon in the foreground)."""
        out = (self.workdir / "daemon.log").open("ab")
        proc = subprocess.Popen(
            self.in_client(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ, **(env or {})), start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def server_events(self) -> list[dict[str, object]]:
        if not self.server_log.exists():
            return []
        events = []
        for line in self.server_log.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pass
        return events

    def conversation_over(self) -> bool:
        events = self.server_events()
        opened = {e["conn"] for e in events if e["event"] == "connect"}
        closed = {e["conn"] for e in events if e["event"] == "close"}
        return bool(opened) and opened == closed

    def wait_delivery(self, timeout: float = 60, settle: float = 1.0) -> bool:
        """Wait until the client has connected and every connection is closed.

        ``settle``: the connections must stay closed that long (an MTA that got a
        4xx does not come back within seconds; one that sends two messages does).
        """
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.conversation_over():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(0.1)
        return False


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 5) -> None:
    """End a process we started (and its process group, which it leads) by pid."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(wait)


def make_values(client: client_registry.Client, behaviour: str, index: int, rng: random.Random) -> dict[str, object]:
    client_ip = f"{CLIENT_NET}.{rng.randrange(10, 250)}"
    dotted = f"{rng.choice(HOST_WORDS)}{rng.randrange(1, 99)}.{rng.choice(DOMAINS)}"
    single = f"{rng.choice(HOST_WORDS)}-{rng.randrange(100, 9999)}"
    shapes = ["dotted", "single", "literal" if client.literal_helo else "dotted"]
    shape = shapes[(index - 1) % 3]
    if shape == "dotted":
        helo = hostname = dotted
    elif shape == "single":
        helo = hostname = single
    else:
        helo, hostname = f"[{client_ip}]", dotted
    sender = f"{rng.choice(NAME_WORDS)}.{rng.choice(NAME_WORDS)}{rng.randrange(1, 999)}@{rng.choice(DOMAINS)}"
    users = list(zoo_server.USERS)
    rng.shuffle(users)
    if behaviour == "strict":
        unknown = f"{rng.choice(NAME_WORDS)}{rng.randrange(1000, 99999)}"
        extra = users[1 : 1 + rng.randrange(0, 2)]
        locals_ = [users[0], unknown, *extra]
    else:
        locals_ = users[: rng.randrange(1, 5)]
    if client.max_recipients:
        locals_ = locals_[: max(client.max_recipients, 2 if behaviour == "strict" else 1)]
    recipients = [f"{lp}@{rng.choice(DOMAINS)}" for lp in locals_]
    size = int(200 * (100 ** rng.random()))  # 200 B .. 20 KB, log-uniform
    words, length = [], 0
    while length < size:
        word = rng.choice(LOREM)
        words.append(word)
        length += len(word) + 1
    lines, line = [], ""
    for word in words:
        if len(line) + len(word) + 1 > 72:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    body = "\n".join(lines) + "\n"
    subject = f"{rng.choice(LOREM).capitalize()} {rng.choice(LOREM)} #{rng.randrange(1, 10000)}"
    msgid = f"<{rng.getrandbits(64):016x}.{rng.randrange(10**6)}@{dotted}>"
    headers = (
        f"From: {sender}\nTo: {', '.join(recipients)}\nSubject: {subject}\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n"
        f"Message-ID: {msgid}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n"
    )
    message = (headers + body).replace("\n", "\r\n").encode()
    return dict(
        client_ip=client_ip, helo_shape=shape, helo=helo, hostname=hostname, sender=sender,
        recipients=recipients, subject=subject, body=body, message=message,
        busy_step=BUSY_ORDER[(index - 1) % 3],
    )


# ---------------------------------------------------------------------------- network


class Network:
    """Client and server namespaces joined by a veth pair; deleted by ``close``."""

    def __init__(self, tag: str, client_ip: str) -> None:
        self.ns_client = f"zoo-c-{tag}"
        self.ns_server = f"zoo-s-{tag}"
        self.veth_client = f"zc{tag}"[:15]
        self.veth_server = f"zs{tag}"[:15]
        self.client_ip = client_ip
        self.etc_dirs: list[Path] = []

    def open(self, hostname: str) -> None:
        _CLEANUPS.append(self.close)
        for ns in (self.ns_client, self.ns_server):
            run_cmd(["ip", "netns", "add", ns])
        # /etc/netns/<ns>/ files are bind-mounted over /etc by `ip netns exec`:
        # a hosts file that knows the run's names, and no usable DNS server.
        for ns, names in ((self.ns_client, [(self.client_ip, hostname)]), (self.ns_server, [])):
            etc = Path("/etc/netns") / ns
            etc.mkdir(parents=True, exist_ok=True)
            self.etc_dirs.append(etc)
            hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            hosts += f"{SERVER_IP}\t{zoo_server.SERVER_NAME}\n"
            for address, name in names:
                short = name.split(".")[0]
                hosts += f"{address}\t{name}" + (f" {short}" if short != name else "") + "\n"
            (etc / "hosts").write_text(hosts)
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        run_cmd(["ip", "link", "add", self.veth_client, "mtu", "1500", "netns", self.ns_client,
                 "type", "veth", "peer", "name", self.veth_server, "mtu", "1500", "netns", self.ns_server])
        for ns, dev, addr, other in (
            (self.ns_client, self.veth_client, f"{self.client_ip}/24", f"{SERVER_IP.rsplit('.', 1)[0]}.0/24"),
            (self.ns_server, self.veth_server, f"{SERVER_IP}/24", f"{CLIENT_NET}.0/24"),
        ):
            ip = ["ip", "netns", "exec", ns, "ip"]
            run_cmd(ip + ["link", "set", "lo", "up"])
            # No IPv6 on the link: no router solicitations or DAD noise in the capture.
            run_cmd(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1"])
            # Checksum offload off: the capture then holds the checksums on the wire.
            run_cmd(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off"], check=False)
            run_cmd(ip + ["addr", "add", addr, "dev", dev])
            run_cmd(ip + ["link", "set", dev, "up"])
            run_cmd(ip + ["route", "add", other, "dev", dev])

    def pids(self) -> list[int]:
        found: list[int] = []
        for ns in (self.ns_client, self.ns_server):
            result = run_cmd(["ip", "netns", "pids", ns], check=False)
            found += [int(p) for p in result.stdout.split()]
        return found

    def close(self) -> None:
        # Anything still running inside our namespaces was started by this run
        # (a daemon an MTA forked): end it by pid before deleting the namespaces.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while pids and self.pids() and time.monotonic() < deadline:
                time.sleep(0.1)
        for ns in (self.ns_client, self.ns_server):
            run_cmd(["ip", "netns", "del", ns], check=False)
        for etc in self.etc_dirs:
            shutil.rmtree(etc, ignore_errors=True)
        if self.close in _CLEANUPS:
            _CLEANUPS.remove(self.close)


_CLEANUPS: list = []


def _cleanup_all(*_: object) -> None:
    for fn in list(reversed(_CLEANUPS)):
        try:
            fn()
        except Exception as exc:  # cleanup must go on whatever failed
            log(f"cleanup: {exc!r}")


def _on_signal(signum: int, frame: object) -> None:
    _cleanup_all()
    sys.exit(128 + signum)


# ---------------------------------------------------------------------------- capture check


def check_capture(pcap: Path, client_ip: str) -> list[str]:
    """Flows ``ip:port`` in a capture, raising ZooError if one is not complete.

    Complete: each TCP connection to port 25 from ``client_ip`` has its SYN and SYN-ACK,
    a FIN each way or a RST, and no sequence hole in either direction.
    """
    import dpkt  # only the check needs it

    flows: dict[tuple[int, bool], dict[str, object]] = {}
    with pcap.open("rb") as f:
        for _ts, frame in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(frame)
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            tcp = ip.data
            src = dpkt.utils.inet_to_str(ip.src)
            from_client = src == client_ip and tcp.dport == 25
            port = tcp.sport if from_client else tcp.dport
            state = flows.setdefault((port, from_client), {"syn": False, "fin": False, "rst": False, "next": None, "holes": 0})
            seq, flags = tcp.seq, tcp.flags
            if flags & dpkt.tcp.TH_SYN:
                state["syn"] = True
                state["next"] = (seq + 1) & 0xFFFFFFFF
                continue
            if state["next"] is None:
                continue
            length = len(tcp.data) + (1 if flags & dpkt.tcp.TH_FIN else 0)
            if length:
                delta = (seq - state["next"]) & 0xFFFFFFFF  # type: ignore[operator]
                if 0 < delta < 0x80000000:
                    state["holes"] += 1  # type: ignore[operator]
                end = (seq + length) & 0xFFFFFFFF
                if ((end - state["next"]) & 0xFFFFFFFF) < 0x80000000:  # type: ignore[operator]
                    state["next"] = end
            if flags & dpkt.tcp.TH_FIN:
                state["fin"] = True
            if flags & dpkt.tcp.TH_RST:
                state["rst"] = True
    ports = sorted({port for port, _ in flows})
    if not ports:
        raise ZooError(f"{pcap.name}: no TCP connection from {client_ip}")
    for (port, from_client), state in flows.items():
        side = "client" if from_client else "server"
        if not state["syn"]:
            raise ZooError(f"{pcap.name}: {client_ip}:{port} {side} SYN missing")
        # Closed: a FIN each way, or a reset by either side (some clients reset).
        ends = [flows.get((port, d), {}) for d in (True, False)]
        if not (all(e.get("fin") for e in ends) or any(e.get("rst") for e in ends)):
            raise ZooError(f"{pcap.name}: {client_ip}:{port} connection not closed (FIN each way or RST)")
        if state["holes"]:
            raise ZooError(f"{pcap.name}: {client_ip}:{port} {side} has {state['holes']} sequence hole(s)")
    return [f"{client_ip}:{port}" for port in ports]


# ---------------------------------------------------------------------------- labels


def read_labels(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def write_labels(path: Path, rows: list[dict[str, str]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LABEL_COLUMNS, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in LABEL_COLUMNS})
    tmp.replace(path)


def corpus_table(corpus: Path) -> str:
    """Markdown table of what ``<corpus>/labels.tsv`` holds, one row per client."""
    rows = read_labels(corpus / "labels.tsv")
    registry = client_registry.CLIENTS
    lines = [
        "| client | version | kind | behaviours (runs) | STARTTLS taken | captures | size |",
        "|---|---|---|---|---|---|---|",
    ]
    order = [c for c in registry if any(r["dialect"] == c for r in rows)]
    order += sorted({r["dialect"] for r in rows} - set(order))
    for cid in order:
        mine = [r for r in rows if r["dialect"] == cid]
        runs = {b: sum(1 for r in mine if r["scenario"] == b) for b in BEHAVIOURS}
        behaviours = ", ".join(f"{b} ({n})" for b, n in runs.items() if n)
        tls = "yes" if any(r.get("tls") == "yes" for r in mine) else ("no" if runs["starttls"] else "-")
        size = sum((corpus / r["pcap"]).stat().st_size for r in mine if (corpus / r["pcap"]).exists())
        versions = sorted({r["client_version"] for r in mine})
        lines.append(f"| `{cid}` | {'; '.join(versions)} | {mine[0]['kind']} | {behaviours} | {tls} | {len(mine)} | {size // 1024} KB |")
    total = sum((corpus / r["pcap"]).stat().st_size for r in rows if (corpus / r["pcap"]).exists())
    lines.append(f"\n{len(order)} clients, {len(rows)} captures, {total / 1e6:.1f} MB of pcap.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- one capture


def capture(run: Run, pcap: Path) -> list[str]:
    """Make one capture; returns the client flows in it."""
    tag = f"{os.getpid() % 100000}"
    net = Network(tag, run.client_ip)
    run.ns_client, run.ns_server = net.ns_client, net.ns_server
    run.server_log = run.workdir / "server.log"
    tcpdump: subprocess.Popen[bytes] | None = None
    try:
        net.open(run.hostname)
        server_argv = [sys.executable, str(HERE / "server.py"), "--behaviour", run.behaviour,
                       "--busy-step", run.busy_step, "--listen", SERVER_IP, "--log", str(run.server_log)]
        if run.behaviour == "starttls":
            run.cert, run.key = run.path("server.crt"), run.path("server.key")
            run_cmd(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                     "-subj", f"/CN={zoo_server.SERVER_NAME}",
                     "-addext", f"subjectAltName=DNS:{zoo_server.SERVER_NAME},IP:{SERVER_IP}",
                     "-keyout", str(run.key), "-out", str(run.cert)])
            server_argv += ["--cert", str(run.cert), "--key", str(run.key)]
        pcap.parent.mkdir(parents=True, exist_ok=True)
        tmp_pcap = run.path("capture.pcap")
        tcpdump = subprocess.Popen(
            ["ip", "netns", "exec", net.ns_server, "tcpdump", "-i", net.veth_server, "-s", "0", "-U", "-n",
             "-w", str(tmp_pcap), "tcp port 25"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        run.procs.append(tcpdump)
        assert tcpdump.stderr is not None
        first = tcpdump.stderr.readline().decode(errors="replace")
        if "listening on" not in first:
            raise ZooError(f"tcpdump did not start: {first.strip()}")
        server = subprocess.Popen(
            ["ip", "netns", "exec", net.ns_server, *server_argv],
            stdout=subprocess.DEVNULL, stderr=(run.workdir / "server.err").open("wb"), start_new_session=True,
        )
        run.procs.append(server)
        deadline = time.monotonic() + 15
        while not any(e["event"] == "listening" for e in run.server_events()):
            if server.poll() is not None or time.monotonic() > deadline:
                raise ZooError("server did not start: " + (run.workdir / "server.err").read_text()[-400:])
            time.sleep(0.05)
        run.client.send(run)
        if not run.client.daemon and not any(e["event"] == "connect" for e in run.server_events()):
            raise ZooError("the client exited without connecting")
        if not run.wait_delivery(timeout=run.client.delivery_timeout, settle=run.client.settle):
            raise ZooError("the client did not finish its conversation: "
                           + ("no connection" if not run.server_events()[1:] else "connection still open"))
        # Let the last ACK/FIN reach the wire and tcpdump (-U) write it, then SIGINT.
        time.sleep(0.5)
        if run.client.stop:
            run.client.stop(run)
        os.killpg(tcpdump.pid, signal.SIGINT)
        _, err = tcpdump.communicate(timeout=15)
        stats = err.decode(errors="replace")
        if not re.search(r"^0 packets dropped by kernel", stats, re.M):
            raise ZooError(f"tcpdump reports drops: {stats.strip()}")
        flows = check_capture(tmp_pcap, run.client_ip)
        shutil.copyfile(tmp_pcap, pcap)
        run.tls = any(e["event"] == "tls" for e in run.server_events())
        return flows
    finally:
        if run.client.stop:
            try:
                run.client.stop(run)
            except Exception as exc:
                log(f"stop {run.client.id}: {exc!r}")
        for proc in reversed(run.procs):
            kill_group(proc)
        net.close()


# ---------------------------------------------------------------------------- main


def ensure_installed(client: client_registry.Client) -> None:
    if client.apt:
        missing = [p for p in client.apt if not client_registry.dpkg_version(p)]
        if missing:
            if client.debconf:
                client_registry.preseed(*client.debconf)()
            log(f"apt-get install {' '.join(missing)}")
            with client_registry.no_service_start():
                subprocess.run(
                    ["apt-get", "install", "-y", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confdef",
                     "-o", "Dpkg::Options::=--force-confold", *missing],
                    check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                    stdout=subprocess.DEVNULL,
                )
    if client.setup:
        client.setup()


def purge(client: client_registry.Client) -> None:
    if client.purge:
        log(f"apt-get purge {' '.join(client.purge)}")
        with client_registry.no_service_start():
            subprocess.run(["apt-get", "purge", "-y", *client.purge], check=False,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Capture real SMTP clients into the dialect corpus.")
    parser.add_argument("--client", action="append", help="client id (repeatable; default: all)")
    parser.add_argument("--behaviour", action="append", choices=BEHAVIOURS, help="server behaviour (repeatable; default: all the client supports)")
    parser.add_argument("--runs", type=int, default=3, help="runs per (client, behaviour) (default 3)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory (default dialects/corpus)")
    parser.add_argument("--no-install", action="store_true", help="do not apt/pip/npm install or purge")
    parser.add_argument("--keep-installed", action="store_true", help="do not purge MTAs after capturing")
    parser.add_argument("--seed", type=int, help="random seed for the varied values (default: fresh)")
    parser.add_argument("--list", action="store_true", help="list clients and exit")
    parser.add_argument("--table", action="store_true", help="print the corpus table (markdown, for the README) and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(corpus_table(args.corpus))
        return 0

    registry = client_registry.CLIENTS
    if args.list:
        for c in registry.values():
            print(f"{c.id:32} {c.kind:8} {','.join(b for b in BEHAVIOURS if b in c.behaviours)}")
        return 0
    if os.geteuid() != 0:
        print("zoo: needs root (network namespaces, tcpdump)", file=sys.stderr)
        return 1
    wanted = args.client or list(registry)
    unknown = [c for c in wanted if c not in registry]
    if unknown:
        parser.error(f"unknown client(s): {', '.join(unknown)} (see --list)")
    atexit.register(_cleanup_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    rng = random.Random(args.seed)
    corpus: Path = args.corpus
    corpus.mkdir(parents=True, exist_ok=True)
    labels_path = corpus / "labels.tsv"
    failures: list[str] = []
    done = 0
    for cid in wanted:
        client = registry[cid]
        try:
            if not args.no_install:
                ensure_installed(client)
            version = client.version()
        except Exception as exc:
            failures.append(f"{cid}: install: {exc}")
            log(f"{cid}: install failed: {exc}")
            continue
        log(f"{cid} {version}")
        try:
            for behaviour in BEHAVIOURS:
                if behaviour not in client.behaviours or (args.behaviour and behaviour not in args.behaviour):
                    continue
                for index in range(1, args.runs + 1):
                    rel = Path(cid) / f"{behaviour}-{index}.pcap"
                    with tempfile.TemporaryDirectory(prefix=f"zoo-{cid}-") as tmp:
                        workdir = Path(tmp)
                        workdir.chmod(0o755)
                        run = Run(client=client, behaviour=behaviour, index=index, workdir=workdir,
                                  **make_values(client, behaviour, index, rng))  # type: ignore[arg-type]
                        try:
                            flows = capture(run, corpus / rel)
                        except (ZooError, subprocess.SubprocessError, OSError) as exc:
                            failures.append(f"{cid} {behaviour}-{index}: {exc}")
                            log(f"{cid} {behaviour}-{index}: FAILED: {exc}")
                            for name in ("client.log", "daemon.log", "server.err"):
                                if (workdir / name).exists():
                                    log(f"--- {name}\n" + (workdir / name).read_text(errors="replace")[-1500:])
                            (corpus / rel).unlink(missing_ok=True)
                            keep = Path(tempfile.gettempdir()) / "zoo-failed" / f"{cid}-{behaviour}-{index}"
                            shutil.rmtree(keep, ignore_errors=True)
                            shutil.copytree(workdir, keep, symlinks=True, ignore_dangling_symlinks=True)
                            log(f"work files kept in {keep}")
                            continue
                    rows = [r for r in read_labels(labels_path) if r["pcap"] != str(rel)]
                    rows.append({
                        "pcap": str(rel), "dialect": cid, "class": "legit",
                        "flow": flows[0] if len(flows) == 1 else "",
                        "client_version": version, "kind": client.kind, "scenario": behaviour,
                        "run": str(index), "helo": run.helo_shape, "tls": "yes" if run.tls else "no",
                    })
                    write_labels(labels_path, rows)
                    done += 1
                    log(f"{cid} {behaviour}-{index}: {rel} ({(corpus / rel).stat().st_size} B, {len(flows)} flow(s), helo {run.helo})")
        finally:
            if not args.no_install and not args.keep_installed:
                purge(client)
    log(f"{done} capture(s) written, {len(failures)} failure(s)")
    for failure in failures:
        log(f"  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
