"""Policy service: answers per second with a full cache, latency with a pending verdict.

    python3 bench/bench_policy.py [--entries 100000] [--connections 32] [--seconds 5]

1. Throughput: the verdict cache is filled with ``--entries`` bot flows; a client
   process keeps ``--connections`` persistent connections busy (one outstanding request
   each, as Postfix's smtpd processes do) with RCPT requests for random cached flows, in
   poison mode with the SQLite journal on. Prints answers per second.
2. Pending verdict: a request for a flow the service has not heard of is sent, then
   the sensor's alert is published on a real CURVE alert stream (``ZmqPublisher``);
   prints the time from sending the request to the answer (median, p99) over 200
   rounds: what a RCPT costs when the verdict is still on its way.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensor.alert import Alert  # noqa: E402
from sensor.keys import generate, load_public, load_secret  # noqa: E402
from sensor.outputs.zmq_pub import ZmqPublisher  # noqa: E402
from sensor.policy.codec import Verdict  # noqa: E402
from sensor.policy.journal import PoisonJournal  # noqa: E402
from sensor.policy.server import PolicyConfig, PolicyService  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(client: str, port: int) -> bytes:
    return (f"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            f"client_address={client}\nclient_name=unknown\nclient_port={port}\n"
            f"server_address=198.51.100.1\nserver_port=25\nhelo_name=bot.example\n"
            f"sender=a@example.org\nrecipient=alice@example.test\nrecipient_count=0\n"
            f"instance=x\nsize=0\nmail_version=3.7.11\n\n").encode()


def flow(i: int) -> tuple[str, int]:
    return f"203.0.113.{i % 250 + 1}", 1024 + i // 250


def clients(port: int, connections: int, entries: int, seconds: float, result: multiprocessing.Queue[int]) -> None:
    async def one(deadline: float) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        rng = random.Random()
        n = 0
        while time.monotonic() < deadline:
            writer.write(request(*flow(rng.randrange(entries))))
            answer = await reader.readuntil(b"\n\n")
            assert answer.startswith(b"action=550"), answer
            n += 1
        writer.close()
        return n

    async def run() -> int:
        deadline = time.monotonic() + seconds
        return sum(await asyncio.gather(*(one(deadline) for _ in range(connections))))

    result.put(asyncio.run(run()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    public, secret = generate(tmp / "keys", "sensor")
    pub, sec = load_secret(secret)
    publisher = ZmqPublisher(f"tcp://127.0.0.1:{free_port()}", public_key=pub, secret_key=sec, sensor="bench",
                             heartbeat=1.0)
    journal = PoisonJournal(tmp / "journal.sqlite")
    service = PolicyService(PolicyConfig(wait=2.0, max_entries=args.entries + 1000),
                            [(publisher.endpoint, load_public(public))], journal=journal)
    now = time.monotonic()
    for i in range(args.entries):
        client, port = flow(i)
        service.cache.put((client, port, "198.51.100.1", 25), Verdict("bot", ("cutwail",), "cutwail", "bench", i), now)
    listen = free_port()
    ready = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(service.serve([f"127.0.0.1:{listen}"], ready.set)))
    thread.start()
    assert ready.wait(10) and publisher.wait_subscribers(10)

    result: multiprocessing.Queue[int] = multiprocessing.Queue()
    proc = multiprocessing.Process(target=clients, args=(listen, args.connections, args.entries, args.seconds, result))
    proc.start()
    answered = result.get()
    proc.join()
    print(f"full cache ({args.entries} flows), {args.connections} connections, poison + journal: "
          f"{answered / args.seconds:,.0f} answers/s")

    latencies = []
    with socket.create_connection(("127.0.0.1", listen)) as s:
        for i in range(200):
            port = 60000 + i % 5000
            client = f"198.51.100.{i // 5000 + 10}"
            started = time.perf_counter()
            s.sendall(request(client, port))
            publisher.publish(Alert(ts=0.0, client=client, client_port=port, server="198.51.100.1",
                                    server_port=25, verdict="bot", dialects=("cutwail",), family=None,
                                    decided_at=None, anomalies=(), end="open", incomplete=True,
                                    client_lines=(), replies=(), extra={"early": True}))
            answer = b""
            while not answer.endswith(b"\n\n"):
                answer += s.recv(4096)
            latencies.append(time.perf_counter() - started)
            assert answer.startswith(b"action=550"), answer
    latencies.sort()
    print(f"pending verdict (alert published after the request): median "
          f"{statistics.median(latencies) * 1000:.2f} ms, p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.2f} ms, "
          f"max {latencies[-1] * 1000:.2f} ms")
    service.stop()
    thread.join()
    publisher.close()
    journal.close()


if __name__ == "__main__":
    main()
