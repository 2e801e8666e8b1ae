"""The policy server: Postfix connections in, verdicts from the alert stream, actions out.

One asyncio loop runs everything: TCP and UNIX listeners (persistent connections, any
number of concurrent clients, each answered in order), one CURVE SUB socket per sensor
(``sensor.agent.agent.subscribe``, the agent's subscriber, on a ``zmq.asyncio``
context) feeding the ``VerdictCache``, and a housekeeping task (cache expiry, journal
commits).

At RCPT the flow's verdict is looked up by its 4-tuple. If the sensor has not spoken
about the flow yet, the request waits up to ``wait`` seconds for an alert about it, then
fails open (DUNNO); when no sensor has been heard for ``silence`` seconds (sensor down)
it does not wait at all. Any error (a malformed alert, a bug while deciding) also
ends in DUNNO: mail is never refused because the sensor is down, slow or wrong in form.
A request that breaks the protocol (malformed or over-long line, too many attributes)
gets no reply: the connection is closed, as SMTPD_POLICY_README asks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import zmq
import zmq.asyncio

from ..agent.agent import subscribe
from ..agent.policy import Allowlist, parse_address
from ..alert import decode
from ..config import PolicySettings
from .cache import VerdictCache, verdict_from_alert
from .codec import (
    DUNNO,
    FlowKey,
    ProtocolError,
    Request,
    RequestDecoder,
    Verdict,
    decide,
    encode_reply,
)
from .journal import Poisoning, PoisonJournal
from .metrics import PolicyMetrics

logger = logging.getLogger(__name__)


# The service's settings are the [policy] section itself (one definition of each
# option, its default and its documentation in config.ini).
PolicyConfig = PolicySettings


def parse_listen(text: str) -> tuple[str, str | int]:
    """``("unix", path)`` for ``unix:PATH``, else ``(host, port)`` for ``HOST:PORT``
    (``[v6]:PORT`` too); ``ValueError`` otherwise."""
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ValueError(f"{text!r}: no socket path")
        return "unix", path
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT or unix:PATH")
    return host.strip("[]") or "127.0.0.1", int(port)


class PolicyService:
    def __init__(
        self,
        config: PolicyConfig,
        sensors: Sequence[tuple[str, bytes]],
        *,
        client_keys: tuple[bytes, bytes] | None = None,
        journal: PoisonJournal | None = None,
        metrics: PolicyMetrics | None = None,
    ) -> None:
        self.config = config
        self.sensors = list(sensors)
        # Clients never refused or poisoned, whatever the sensor says (ConfigError now).
        self.allowlist = Allowlist.load(config.allowlist)
        self.client_keys = client_keys or zmq.curve_keypair()
        self.journal = journal
        self.metrics = metrics or PolicyMetrics()
        self.cache = VerdictCache(config.cache_ttl, config.max_entries)
        self.waiters: dict[FlowKey, list[asyncio.Future[Verdict]]] = {}
        self.last_heard = time.monotonic()
        self.connections = 0
        self.prepended: OrderedDict[str, None] = OrderedDict()
        self.stopping: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listening: list[str] = []

    # ---------------------------------------------------------------- alert stream
    def learn(self, topic: str, obj: dict[str, Any]) -> None:
        """One message from a sensor: remember its verdict, wake whoever waits for it."""
        now = time.monotonic()
        self.last_heard = now
        try:
            found = verdict_from_alert(topic, obj)
        except ValueError as exc:
            self.metrics.alerts_rejected.inc()
            logger.warning("alert rejected: %s", exc)
            return
        self.metrics.alerts.labels(topic).inc()
        if found is None:
            return
        key, verdict = found
        self.cache.put(key, verdict, now)
        for future in self.waiters.pop(key, ()):
            if not future.done():
                future.set_result(verdict)

    async def _subscriber(self, sock: Any) -> None:
        while True:
            frames = await sock.recv_multipart()
            try:
                topic, obj = decode(frames)
            except (ValueError, UnicodeDecodeError) as exc:
                self.metrics.alerts_rejected.inc()
                logger.warning("message rejected: %s", str(exc)[:120])
                continue
            self.learn(topic, obj)

    # ---------------------------------------------------------------- decisions
    async def verdict_for(self, key: FlowKey) -> Verdict | None:
        """The flow's verdict, waiting up to ``wait`` seconds for a pending one."""
        now = time.monotonic()
        found = self.cache.get(key, now)
        if found is not None:
            self.metrics.lookups.labels("hit").inc()
            return found
        if self.config.wait <= 0 or now - self.last_heard > self.config.silence:
            self.metrics.lookups.labels("silent").inc()
            return None
        assert self.loop is not None
        future: asyncio.Future[Verdict] = self.loop.create_future()
        self.waiters.setdefault(key, []).append(future)
        started = time.monotonic()
        try:
            verdict = await asyncio.wait_for(future, self.config.wait)
        except TimeoutError:
            self.metrics.lookups.labels("timeout").inc()
            waiting = self.waiters.get(key)
            if waiting is not None:
                waiting[:] = [f for f in waiting if f is not future]
                if not waiting:
                    del self.waiters[key]
            return None
        self.metrics.lookups.labels("waited").inc()
        self.metrics.wait_seconds.observe(time.monotonic() - started)
        return verdict

    async def answer(self, request: Request) -> str:
        """The action for one request; DUNNO on anything unexpected."""
        mode = self.config.mode
        try:
            if (request.get("request") != "smtpd_access_policy" or mode == "dunno"
                    or request.get("protocol_state").upper() != "RCPT"):
                return DUNNO
            key = request.flow()
            if key is None:
                self.metrics.lookups.labels("no_flow").inc()
                return DUNNO
            if parse_address(key[0]) in self.allowlist:
                self.metrics.lookups.labels("allowlisted").inc()
                return DUNNO
            verdict = await self.verdict_for(key)
            action = decide(request, verdict, mode)
            if action != DUNNO and verdict is not None:
                if mode == "prepend" and not self._first_prepend(request.get("instance")):
                    return DUNNO
                self._record(key, request, verdict, action)
            return action
        except Exception:
            logger.exception("internal error answering a policy request; DUNNO")
            self.metrics.internal_errors.inc()
            return DUNNO

    def _first_prepend(self, instance: str) -> bool:
        """One header per message: Postfix asks once per recipient."""
        if not instance:
            return True
        if instance in self.prepended:
            return False
        self.prepended[instance] = None
        while len(self.prepended) > 10000:
            self.prepended.popitem(last=False)
        return True

    def _record(self, key: FlowKey, request: Request, verdict: Verdict, action: str) -> None:
        mode = self.config.mode
        logger.info("%s [%s]:%d rcpt=<%s> (%s; dialects %s; sensor %s seq %d)",
                    mode, key[0], key[1], request.get("recipient")[:200], verdict.verdict,
                    ",".join(verdict.dialects) or "-", verdict.sensor, verdict.seq)
        if self.journal is None or verdict.verdict != "bot":
            return
        self.journal.record(Poisoning(
            time.time(), key[0], key[1], key[2], key[3], verdict.verdict, verdict.dialects, verdict.family,
            request.get("helo_name")[:255], request.get("sender")[:512], request.get("recipient")[:512],
            action, mode, verdict.sensor, verdict.seq,
        ))

    # ---------------------------------------------------------------- connections
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.config.max_connections:
            self.metrics.protocol_errors.labels("too_many_connections").inc()
            writer.close()
            return
        self.connections += 1
        self.metrics.connections.inc()
        decoder = RequestDecoder(self.config.max_line, self.config.max_attributes)
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(65536), self.config.idle_timeout)
                except TimeoutError:
                    break
                if not data:
                    if decoder.pending:
                        self.metrics.protocol_errors.labels("eof_in_request").inc()
                    break
                try:
                    requests = decoder.feed(data)
                except ProtocolError as exc:
                    self.metrics.protocol_errors.labels("malformed").inc()
                    logger.warning("policy client: %s; closing without a reply", exc)
                    break
                for request in requests:
                    action = await self.answer(request)
                    self.metrics.requests.labels(action.split(" ", 1)[0] if not action[:1].isdigit()
                                                 else action[:3]).inc()
                    writer.write(encode_reply(action))
                await writer.drain()
        except (ConnectionError, OSError):
            self.metrics.protocol_errors.labels("disconnect").inc()
        finally:
            self.connections -= 1
            self.metrics.connections.dec()
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    # ---------------------------------------------------------------- lifecycle
    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.cache.expire(time.monotonic())
            self.metrics.cache_entries.set(len(self.cache))
            if self.journal is not None:
                self.journal.flush()

    async def serve(self, listen: Sequence[str], ready: Any = None) -> None:
        """Listen, subscribe, answer until ``stop``. ``ready()`` is called once listening."""
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        ctx = zmq.asyncio.Context()
        sockets = [subscribe(ctx, ep, key, self.client_keys) for ep, key in self.sensors]
        servers: list[asyncio.AbstractServer] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            for text in listen:
                host, port = parse_listen(text)
                if host == "unix":
                    path = str(port)
                    if os.path.exists(path):
                        os.unlink(path)  # a stale socket from an earlier run
                    servers.append(await asyncio.start_unix_server(self._connection, path))
                    os.chmod(path, 0o666)
                else:
                    servers.append(await asyncio.start_server(self._connection, host, int(port),
                                                              reuse_address=True))
                self.listening.append(text)
                logger.info("policy service listening on %s (mode %s)", text, self.config.mode)
            for ep, sock in zip((ep for ep, _ in self.sensors), sockets, strict=True):
                tasks.append(asyncio.create_task(self._subscriber(sock)))
                logger.info("subscribed to %s", ep)
            tasks.append(asyncio.create_task(self._housekeeping()))
            if ready is not None:
                ready()
            await self.stopping.wait()
        finally:
            for server in servers:
                server.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sock in sockets:
                sock.close(0)
            ctx.term()
            if self.journal is not None:
                self.journal.flush()

    def stop(self) -> None:
        """Ask ``serve`` to return (safe from a signal handler or another thread)."""
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
