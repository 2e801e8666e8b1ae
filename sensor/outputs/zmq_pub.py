"""The alert stream: conversation records published on ZeroMQ (DESIGN s4).

The sensor binds an XPUB socket as the CURVE server with its own secret key, so only
the holder of that secret can feed a subscriber that pinned the sensor's public key.
Frames are ``alert.encode``'s (topic, JSON); every message, heartbeats included, takes
the next number of one per-sensor sequence, so a subscriber that takes every topic sees
a lost message as a gap.

One thread owns the socket (ZeroMQ sockets are not thread-safe): ``publish`` queues the
record and wakes it through an inproc pair; the thread numbers, encodes and sends, sends
a ``heartbeat`` every ``heartbeat`` seconds even when there is nothing to say (silence
then means a lost sensor, not a quiet one), and reads XPUB subscription messages, which
is how ``wait_subscribers`` knows a subscriber is there without sleeping.

High-water mark: ``sndhwm`` messages per subscriber. ``XPUB_NODROP`` is set and sends
do not block, so a message that a full subscriber cannot take is counted in ``dropped``
(and logged) instead of being lost silently or stalling the capture; its sequence number
is spent, so the subscriber sees the gap.

``--allow-subscribers DIR`` runs a ZAP authenticator that admits only the public keys
in DIR; without it, any client that knows the sensor's public key may read.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Any

import zmq
import zmq.auth.thread

from ..alert import Alert, encode, encode_heartbeat
from ..errors import SensorError

logger = logging.getLogger(__name__)

_WAKE = b"w"
_CLOSE = b"c"
_ids = itertools.count(1)


class ZmqPublisher:
    """An ``Output`` that publishes every record on a CURVE-secured XPUB socket."""

    def __init__(
        self,
        endpoint: str,
        *,
        public_key: bytes,
        secret_key: bytes,
        sensor: str,
        ttl: int = 600,
        heartbeat: float = 5.0,
        sndhwm: int = 10000,
        linger: float = 2.0,
        allow_subscribers: Path | None = None,
        verdicts: tuple[str, ...] = ("bot", "legit", "unknown", "ambiguous"),
    ) -> None:
        self.endpoint = endpoint
        self.sensor = sensor
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.verdicts = frozenset(verdicts)
        self.published = 0  # messages handed to ZeroMQ (alerts, not heartbeats)
        self.dropped = 0  # alerts refused at the high-water mark
        self.heartbeats = 0
        self.heartbeats_dropped = 0
        self.subscriptions = 0  # current subscriptions seen on the XPUB socket
        self.seq = 0
        self._queue: collections.deque[Alert] = collections.deque()
        self._subscribed = threading.Event()
        self._closed = False
        # One long-lived context per publisher (CURVE misbehaves across context churn,
        # libzmq#4241).
        self._ctx = zmq.Context()
        self._auth: zmq.auth.thread.ThreadAuthenticator | None = None
        try:
            if allow_subscribers is not None:
                if not Path(allow_subscribers).is_dir():
                    raise SensorError(f"{allow_subscribers}: not a directory of public keys")
                self._auth = zmq.auth.thread.ThreadAuthenticator(self._ctx)
                self._auth.start()
                self._auth.configure_curve(domain="*", location=str(allow_subscribers))
            sock = self._ctx.socket(zmq.XPUB)
            sock.curve_secretkey = secret_key
            sock.curve_publickey = public_key
            sock.curve_server = True  # before bind
            sock.setsockopt(zmq.XPUB_VERBOSE, 1)
            sock.setsockopt(zmq.XPUB_VERBOSER, 1)
            sock.setsockopt(zmq.XPUB_NODROP, 1)
            sock.setsockopt(zmq.SNDHWM, sndhwm)
            sock.setsockopt(zmq.LINGER, int(linger * 1000))
            try:
                sock.bind(endpoint)
            except zmq.ZMQError as exc:
                sock.close(0)
                raise SensorError(f"{endpoint}: cannot bind the alert stream: {exc}") from None
            self.bound = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            pipe_name = f"inproc://babel-sensor-publisher-{next(_ids)}"
            inner = self._ctx.socket(zmq.PAIR)
            inner.bind(pipe_name)
            self._wake = self._ctx.socket(zmq.PAIR)
            self._wake.connect(pipe_name)
        except BaseException:
            self._shutdown_context()
            raise
        self._thread = threading.Thread(
            target=self._run, args=(sock, inner), name="zmq-publisher", daemon=True
        )
        self._thread.start()
        logger.info("alert stream bound at %s (sensor %s)", self.bound, sensor)

    # ------------------------------------------------------------------ caller side
    def publish(self, alert: Alert) -> None:
        if alert.verdict not in self.verdicts or self._closed:
            return
        self._queue.append(alert)
        try:
            self._wake.send(_WAKE, zmq.NOBLOCK)
        except zmq.Again:
            pass  # the thread has wake-ups pending already

    def wait_subscribers(self, timeout: float) -> bool:
        """Block until a first subscription arrives (XPUB message) or ``timeout``."""
        return self._subscribed.wait(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.send(_CLOSE)
        self._thread.join()
        self._wake.close(0)
        self._shutdown_context()

    def _shutdown_context(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self._ctx.term()

    # ------------------------------------------------------------------ socket thread
    def _run(self, sock: zmq.Socket[Any], inner: zmq.Socket[Any]) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(inner, zmq.POLLIN)
        next_beat = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if now >= next_beat:
                    self._send_heartbeat(sock)
                    next_beat = now + self.heartbeat
                ready = dict(poller.poll(max(1, int((next_beat - now) * 1000))))
                if sock in ready:
                    self._read_subscriptions(sock)
                if inner in ready:
                    closing = False
                    while True:
                        try:
                            closing |= inner.recv(zmq.NOBLOCK) == _CLOSE
                        except zmq.Again:
                            break
                    self._drain(sock)
                    if closing:
                        break
        except Exception:  # pragma: no cover - a bug; keep the capture running
            logger.exception("alert stream thread failed; alerts are no longer published")
        finally:
            self._send_heartbeat(sock)
            sock.close()
            inner.close(0)

    def _drain(self, sock: zmq.Socket[Any]) -> None:
        queue = self._queue
        while queue:
            alert = queue.popleft()
            self.seq += 1
            frames = encode(alert, self.seq, self.sensor, self.ttl if alert.verdict == "bot" else None)
            try:
                sock.send_multipart(frames, zmq.NOBLOCK)
                self.published += 1
            except zmq.Again:
                self.dropped += 1
                if self.dropped == 1 or not self.dropped % 1000:
                    logger.warning(
                        "alert stream: a subscriber is at the high-water mark; %d alerts dropped",
                        self.dropped,
                    )

    def _send_heartbeat(self, sock: zmq.Socket[Any]) -> None:
        self.seq += 1
        frames = encode_heartbeat(
            self.seq, self.sensor, time.time(), {"published": self.published, "dropped": self.dropped}
        )
        try:
            sock.send_multipart(frames, zmq.NOBLOCK)
            self.heartbeats += 1
        except zmq.Again:
            self.heartbeats_dropped += 1

    def _read_subscriptions(self, sock: zmq.Socket[Any]) -> None:
        while True:
            try:
                message = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not message:
                continue
            if message[0] == 1:
                self.subscriptions += 1
                logger.debug("alert stream: subscription %r", message[1:])
                self._subscribed.set()
            elif message[0] == 0:
                self.subscriptions = max(0, self.subscriptions - 1)
