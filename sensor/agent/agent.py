"""The firewall agent: subscribe to sensors, validate alerts, block bots (DESIGN s5).

One SUB socket per sensor, each pinning that sensor's public key (CURVE client): a
publisher holding another key fails the handshake and is never heard. Every message
(all topics: the sequence is per sensor across topics) is checked by ``policy``; a
valid ``verdict.bot`` alert for an address that is not allowlisted, within the
sensor's rate limit and the set size cap, becomes a block with a kernel timeout:
the alert's TTL (capped) for a first offence, escalating for repeat offenders.
Blocks are journalled (SQLite) and restored at start.

Every ``check_interval`` seconds the agent checks that its table is still there and
re-creates it with the journal's blocks if not (``nft flush ruleset``, an nftables
reload). A sensor that falls silent (no heartbeat) is a warning and a metric, never
a reason to unblock anything. Sequence gaps are logged and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import zmq

from ..alert import decode
from ..config import AgentSettings
from ..metrics import AgentMetrics
from .backends import Backend, BackendError, Block
from .journal import Entry, Journal
from .policy import Allowlist, BlockRequest, Rejected, TokenBucket, block_seconds, check_alert

logger = logging.getLogger(__name__)


def subscribe(ctx: Any, endpoint: str, server_key: bytes, client_keys: tuple[bytes, bytes]) -> Any:
    """A SUB socket on every topic of one sensor, CURVE client pinning ``server_key``.

    ``ctx`` is a ``zmq.Context`` (or a ``zmq.asyncio.Context``: the policy service)."""
    sock = ctx.socket(zmq.SUB)
    sock.curve_publickey, sock.curve_secretkey = client_keys
    sock.curve_serverkey = server_key  # pinned
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(endpoint)
    return sock


# The agent's settings are the [agent] section itself (one definition of each option,
# its default and its documentation in config.ini).
AgentConfig = AgentSettings


@dataclass(slots=True)
class SensorLink:
    endpoint: str
    server_key: bytes
    socket: Any = None
    last_seen: float = 0.0
    silent: bool = False
    last_seq: dict[str, int] = field(default_factory=dict)
    bucket: TokenBucket | None = None
    label: str = ""


class Agent:
    def __init__(
        self,
        sensors: Sequence[tuple[str, bytes]],
        backend: Backend,
        journal: Journal,
        allowlist: Allowlist,
        config: AgentConfig,
        *,
        client_keys: tuple[bytes, bytes] | None = None,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.backend = backend
        self.journal = journal
        self.allowlist = allowlist
        self.config = config
        self.metrics = metrics or AgentMetrics()
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.client_keys = client_keys or zmq.curve_keypair()
        self.links = [
            SensorLink(ep, key, bucket=TokenBucket(config.rate, config.burst), label=ep) for ep, key in sensors
        ]
        self.stopping = threading.Event()
        self.processed = 0  # messages handled (any outcome), for tests and logs
        self.blocked = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Restore the journal's blocks, then connect to every sensor."""
        now = time.time()
        self.journal.prune(now, self.config.offense_window)
        restored = self._active_blocks(now)
        self.backend.install(restored)
        self.metrics.active.set(len(restored))
        logger.info("%s backend ready; %d blocks restored from %s", self.backend.name, len(restored),
                    self.journal.path)
        started = time.monotonic()
        for link in self.links:
            link.socket = subscribe(self.ctx, link.endpoint, link.server_key, self.client_keys)
            link.last_seen = started
            logger.info("subscribed to %s", link.endpoint)

    def stop(self) -> None:
        """Ask ``run`` to return (safe in a signal handler). Blocks stay in the kernel."""
        self.stopping.set()

    def close(self) -> None:
        for link in self.links:
            if link.socket is not None:
                link.socket.close(0)
        self.ctx.term()
        self.journal.close()

    def run(self) -> None:
        poller = zmq.Poller()
        for link in self.links:
            poller.register(link.socket, zmq.POLLIN)
        by_socket = {link.socket: link for link in self.links}
        interval = self.config.check_interval
        next_check = time.monotonic() + interval
        while not self.stopping.is_set():
            wait = max(0.0, next_check - time.monotonic())
            ready = dict(poller.poll(int(min(wait, 0.5) * 1000) + 1))
            requests: list[BlockRequest] = []
            for sock in ready:
                link = by_socket[sock]
                while True:
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    request = self.handle(link, frames)
                    if request is not None:
                        requests.append(request)
            try:
                if requests:
                    self.apply(requests)
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + interval
                    self.check()
            except Exception:  # a bug: keep the agent (and its blocks) alive
                logger.exception("internal error in the agent loop")

    # ---------------------------------------------------------------- messages
    def handle(self, link: SensorLink, frames: list[bytes]) -> BlockRequest | None:
        """Validate one message; a ``BlockRequest`` if it asks for a block."""
        now = time.monotonic()
        link.last_seen = now
        if link.silent:
            link.silent = False
            logger.info("sensor %s is heard again", link.label)
            self.metrics.silent.labels(link.label).set(0)
        self.processed += 1
        try:
            try:
                topic, obj = decode(frames)
            except (ValueError, UnicodeDecodeError) as exc:
                raise Rejected("schema", str(exc)[:120]) from None
            seq, sensor = obj.get("seq"), obj.get("sensor")
            if isinstance(seq, int) and isinstance(sensor, str) and sensor:
                # Counted before the checks: a rejected alert is not a lost one.
                self._sequence(link, sensor, seq)
            request = check_alert(topic, obj, self.allowlist, self.config.max_ttl)
        except Rejected as exc:
            self.metrics.rejected.labels(exc.reason).inc()
            logger.warning("alert from %s rejected: %s", link.endpoint, exc)
            return None
        sensor = str(obj["sensor"])
        if link.label == link.endpoint:
            link.label = sensor
        self.metrics.messages.labels(sensor, topic).inc()
        if request is None:
            return None
        assert link.bucket is not None
        if not link.bucket.take(now):
            self.metrics.rejected.labels("rate_limited").inc()
            logger.warning("sensor %s over its rate limit: [%s] not blocked", sensor, request.address)
            return None
        return request

    def _sequence(self, link: SensorLink, sensor: str, seq: int) -> None:
        last = link.last_seq.get(sensor)
        link.last_seq[sensor] = seq
        if last is None:
            return
        if seq > last + 1:
            missed = seq - last - 1
            self.metrics.gaps.labels(sensor).inc(missed)
            logger.warning("sensor %s: sequence gap, %d messages missed (%d -> %d)", sensor, missed, last, seq)
        elif seq <= last:
            logger.info("sensor %s: sequence restarted at %d (sensor restarted?)", sensor, seq)

    def apply(self, requests: list[BlockRequest]) -> None:
        """Escalate, cap, block in the kernel, then journal."""
        now = time.time()
        active = self.journal.count_active(now)
        planned: dict[str, tuple[Block, Entry]] = {}
        for req in requests:
            old = self.journal.get(req.address)
            previous = planned.get(req.address)
            if previous is not None:
                old = previous[1]
            blocked_now = old is not None and old.expires > now
            if blocked_now and old is not None:
                offense = old.offenses  # still blocked: refresh at the same level
            elif old is not None and now - old.last_offense < self.config.offense_window:
                offense = old.offenses + 1
            else:
                offense = 1
            if not blocked_now and active >= self.config.max_elements:
                self.metrics.rejected.labels("set_full").inc()
                logger.warning("set full (%d blocks): [%s] not blocked", active, req.address)
                continue
            if not blocked_now:
                active += 1
            c = self.config
            seconds = block_seconds(offense, req.ttl, c.default_ttl, c.escalation, c.max_ttl)
            entry = Entry(req.address, req.family, now + seconds, offense, now, req.sensor, req.seq)
            planned[req.address] = ((req.address, req.family, seconds), entry)
        if not planned:
            return
        try:
            self.backend.block([block for block, _ in planned.values()])
        except BackendError as exc:
            self.metrics.backend_errors.inc()
            logger.error("blocking failed: %s", exc)
        for (address, family, seconds), entry in planned.values():
            self.journal.record(entry)
            self.blocked += 1
            self.metrics.blocks.labels(str(family)).inc()
            logger.warning("blocked [%s] for %d s (offence %d; sensor %s seq %d)",
                           address, seconds, entry.offenses, entry.sensor, entry.seq)
        self.metrics.active.set(self.journal.count_active(now))

    # ---------------------------------------------------------------- housekeeping
    def _active_blocks(self, now: float) -> list[Block]:
        return [(e.address, e.family, max(1, int(e.expires - now))) for e in self.journal.active(now)]

    def check(self) -> None:
        """Repair a vanished table; warn about silent sensors; prune the journal."""
        try:
            if not self.backend.present():
                now = time.time()
                blocks = self._active_blocks(now)
                logger.warning("nftables table %s is gone; re-creating it with %d blocks",
                               getattr(self.backend, "table", "?"), len(blocks))
                self.backend.install(blocks)
                self.metrics.repairs.inc()
        except BackendError as exc:
            self.metrics.backend_errors.inc()
            logger.error("cannot repair the table: %s", exc)
        now_m = time.monotonic()
        for link in self.links:
            if not link.silent and now_m - link.last_seen > self.config.silence_warning:
                link.silent = True
                self.metrics.silent.labels(link.label).set(1)
                logger.warning("sensor %s silent for %.0f s (no heartbeat); blocks stay in place",
                               link.label, now_m - link.last_seen)
        now = time.time()
        self.journal.prune(now, self.config.offense_window)
        self.metrics.active.set(self.journal.count_active(now))
