"""Live capture: a ``tcpdump -U -w -`` pipe read by the replay reader, or pyshark.

``TcpdumpSource`` runs ``tcpdump -i IFACE -U -w - BPF`` and reads its standard output
with ``PcapFile`` (the same reader as replay, bypass included), so live and replay share
one code path and capture privileges stay with tcpdump: the sensor itself needs none.
If tcpdump dies, it is restarted after a back-off that doubles while it keeps dying
quickly (``restarts`` counts them, each is logged). tcpdump's own counters (packets
dropped by the kernel and by the interface) are read from its stderr: at exit, and
whenever ``request_stats`` sends it SIGUSR1.

``stop()`` (from a signal handler) ends tcpdump with SIGTERM; tcpdump flushes, the pipe
reaches EOF and iteration ends, so the pipeline can close open conversations
(``end: eof``).

``PysharkSource`` is the second engine: tshark through pyshark, for encapsulations our
decoder does not know. pyshark reads ``./config.ini`` as *its* config file when there
is one in the current directory (ours is there when run from the repository), so the
engine points pyshark at its own bundled file and passes the tshark path explicitly.

``paced`` replays a packet iterator at capture pace (``replay --realtime``).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from ..errors import CaptureError
from . import RawPacket
from .bypass import Bypass
from .decode import Decoder
from .pcapfile import PcapFile

logger = logging.getLogger(__name__)

_DROPPED = re.compile(rb"(\d+) packets? dropped by kernel")
_IF_DROPPED = re.compile(rb"(\d+) packets? dropped by interface")
_RECEIVED = re.compile(rb"(\d+) packets? received by filter")


def paced(packets: Iterable[RawPacket], speed: float = 1.0) -> Iterator[RawPacket]:
    """Yield packets no faster than their timestamps say (``speed`` times capture pace)."""
    start: float | None = None
    first = 0.0
    for packet in packets:
        if start is None:
            start, first = time.monotonic(), packet[0]
        else:
            delay = (packet[0] - first) / speed - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
        yield packet


class TcpdumpSource:
    """Packets from a tcpdump pipe, restarted if tcpdump dies, until ``stop()``."""

    def __init__(
        self,
        interface: str,
        bpf: str,
        *,
        tcpdump: str = "tcpdump",
        snaplen: int = 65535,
        buffer_size: int = 4096,
        bypass: Bypass | None = None,
        decoder: Decoder | None = None,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        """With a ``decoder``, yields its ``TcpSegment``s (``PcapFile``), not raw packets."""
        self.interface = interface
        self.bpf = bpf
        self.name = f"tcpdump:{interface}"
        self.command = [
            tcpdump, "-i", interface, "-U", "-w", "-", "-n", "-s", str(snaplen),
            "-B", str(buffer_size), "--immediate-mode", *([bpf] if bpf else []),
        ]
        self.bypass = bypass
        self.decoder = decoder
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._packets_before = 0  # records read by tcpdump processes that ended
        self._reader: PcapFile | None = None
        self.restarts = 0
        self.received = 0  # by the filter, this tcpdump process
        self._drops_before = 0  # kernel drops of tcpdump processes that ended
        self._drops_now = 0  # of the running one, as last reported
        self.interface_drops = 0
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def packets(self) -> int:
        """Records read from tcpdump so far (bypassed ones included)."""
        reader = self._reader
        return self._packets_before + (reader.packets if reader is not None else 0)

    @property
    def kernel_drops(self) -> int:
        return self._drops_before + self._drops_now

    def __iter__(self) -> Iterator[Any]:
        delay = self.backoff
        while not self._stopping.is_set():
            started = time.monotonic()
            proc = self._start()
            errors = threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True)
            errors.start()
            assert proc.stdout is not None
            try:
                reader = PcapFile(self.name, self.bypass, stream=proc.stdout,  # type: ignore[arg-type]
                                  decoder=self.decoder)
            except CaptureError:
                reader = None  # tcpdump ended before writing a header
            if reader is not None:
                self._reader = reader
                yield from reader
                self._reader = None
                self._packets_before += reader.packets
            code = proc.wait()
            errors.join(timeout=5)
            with self._lock:
                self._proc = None
                self._drops_before += self._drops_now
                self._drops_now = 0
            if self._stopping.is_set():
                break
            self.restarts += 1
            ran = time.monotonic() - started
            delay = self.backoff if ran > 10 * max(delay, 1.0) else min(delay * 2, self.backoff_max)
            logger.warning(
                "capture process %s exited with status %s after %.1f s; restart %d in %.1f s",
                self.command[0], code, ran, self.restarts, delay,
            )
            self._stopping.wait(delay)

    def _start(self) -> subprocess.Popen[bytes]:
        try:
            # bufsize=0: the pipe is read with single read() calls, so packets come out
            # as tcpdump writes them (-U), not when a block fills.
            proc = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, bufsize=0,
            )
        except OSError as exc:
            raise CaptureError(f"{self.command[0]}: cannot run: {exc.strerror}") from None
        with self._lock:
            self._proc = proc
        logger.info("capturing on %s with %s (pid %d)", self.interface, " ".join(self.command), proc.pid)
        return proc

    def _read_stderr(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        for line in stream:
            if m := _DROPPED.search(line):
                self._drops_now = int(m.group(1))
            if m := _IF_DROPPED.search(line):
                self.interface_drops = int(m.group(1))
            if m := _RECEIVED.search(line):
                self.received = int(m.group(1))
            text = line.decode("utf-8", "replace").strip()
            if text and not _DROPPED.search(line) and "packets captured" not in text:
                logger.info("tcpdump: %s", text)
        stream.close()

    def request_stats(self) -> None:
        """Ask tcpdump for its counters (SIGUSR1: it prints them on stderr)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.send_signal(signal.SIGUSR1)

    def stop(self) -> None:
        """End capture: tcpdump flushes and exits, iteration ends. Safe in a signal handler."""
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass


# Layer names tshark gives the first layer of a frame -> LINKTYPE_* numbers.
_LINKTYPES = {"eth": 1, "sll": 113, "sll2": 276, "ip": 101, "ipv6": 101, "null": 0, "loop": 108}


class PysharkSource:
    """Packets from tshark through pyshark (the second engine)."""

    def __init__(self, interface: str, bpf: str, *, tshark: str = "tshark") -> None:
        import shutil

        self.interface = interface
        self.bpf = bpf
        self.name = f"pyshark:{interface}"
        path = shutil.which(tshark)
        if path is None:
            raise CaptureError(f"{tshark}: tshark not found (needed by the pyshark engine)")
        self.tshark = path
        self.packets = 0
        self.restarts = 0
        self.kernel_drops = 0
        self._stopping = threading.Event()
        self._capture: Any = None

    def __iter__(self) -> Iterator[RawPacket]:
        import pyshark
        import pyshark.config

        # pyshark would read ./config.ini (ours) as its own; use the one it ships.
        pyshark.config.fp_config_path = pyshark.config.pyshark_config_path
        self._capture = pyshark.LiveCapture(
            interface=self.interface, bpf_filter=self.bpf or None, use_json=True,
            include_raw=True, tshark_path=self.tshark,
        )
        try:
            for pkt in self._capture.sniff_continuously():
                if self._stopping.is_set():
                    break
                first = pkt.frame_info.protocols.split(":", 1)[0]
                self.packets += 1
                yield (float(pkt.sniff_timestamp), _LINKTYPES.get(first, 1), pkt.get_raw_packet())
        finally:
            self._close()

    def _close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            try:
                capture.close()
            except Exception:  # noqa: BLE001 - pyshark's event loop may already be gone
                logger.debug("pyshark close failed", exc_info=True)

    def request_stats(self) -> None:
        pass

    def stop(self) -> None:
        """End capture: tshark is terminated, iteration ends."""
        self._stopping.set()
        capture = self._capture
        for proc in list(getattr(capture, "_running_processes", ()) or ()):
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, AttributeError):
                pass
