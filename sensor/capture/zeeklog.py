"""Zeek front end: ``smtp_dialect.log`` records (zeek-scripts/) as stream events.

Each JSON line of the log holds one connection: its endpoints and the ordered chunks
of both directions, exactly as Zeek reassembled and delivered them (layout in
``zeek-scripts/README.md``). ``read_records`` parses lines (plain or gzip files,
following a growing log across rotation if asked); ``to_events`` turns one record
into the same stream events the sensor's own reassembly produces, so the SMTP and
dialect stages and every output work unchanged. Zeek does not log acknowledgement
numbers, so ``peer_ack`` is unknown and the order of delivery stands in for it.

A line that is not a record of this layout is reported (file and line number) and
skipped, never fatal.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import ipaddress
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CaptureError
from ..reassembly.events import ConnectionClosed, StreamData, StreamEvent, StreamGap

logger = logging.getLogger(__name__)

SUPPORTED_SCHEMA = 1
_CLOSE = {"reset": "reset", "close": "close", "timeout": "timeout", "eof": "eof"}


@dataclass
class ZeekFlow:
    """Stands where the pipeline expects a TCP connection, for one logged conversation."""

    client: bytes
    client_port: int
    server: bytes
    server_port: int
    first_ts: float
    mid_stream: bool
    uid: str
    payload_seen: bool = True
    closed: bool = True
    app: object | None = field(default=None)

    def stop_payload(self) -> None:
        """Nothing to stop: the log is already cut at the end of the conversation."""


def to_events(record: dict[str, Any], where: str) -> tuple[ZeekFlow, list[StreamEvent]]:
    """One record -> (flow, its stream events in delivery order); ValueError if malformed."""
    if record.get("schema_version") != SUPPORTED_SCHEMA:
        raise ValueError(f"schema_version {record.get('schema_version')!r} not supported")
    flow = ZeekFlow(
        client=ipaddress.ip_address(record["id.orig_h"]).packed,
        client_port=int(record["id.orig_p"]),
        server=ipaddress.ip_address(record["id.resp_h"]).packed,
        server_port=int(record["id.resp_p"]),
        first_ts=float(record["ts"]),
        mid_stream=bool(record.get("mid_stream", False)),
        uid=str(record.get("uid", "")),
    )
    columns = [record[k] for k in ("chunk_ts", "chunk_dir", "chunk_seq", "chunk_data")]
    if len({len(c) for c in columns}) != 1:
        raise ValueError("chunk arrays of different lengths")
    events: list[StreamEvent] = []
    ts = flow.first_ts
    for ts_raw, direction, seq, data64 in zip(*columns, strict=True):
        if direction not in ("c", "s"):
            raise ValueError(f"chunk direction {direction!r}")
        ts = float(ts_raw)
        data = base64.b64decode(data64, validate=True)
        events.append(StreamData(ts, direction == "c", int(seq) - 1, data, None))
    end = str(record.get("end", "eof"))
    if record.get("incomplete"):
        events.append(StreamGap(ts, True, 0, None, str(record.get("reason", end))))
    events.append(ConnectionClosed(ts, _CLOSE.get(end, "close")))
    return flow, events


def _open(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")  # noqa: SIM115


def read_records(path: Path | str, *, follow: bool = False, idle_exit: float | None = None,
                 poll: float = 0.5) -> Iterator[tuple[ZeekFlow, list[StreamEvent]]]:
    """Records of one log file. With ``follow``, wait for more lines, reopen the file
    when Zeek rotates it (new inode or a shorter file), and stop after ``idle_exit``
    seconds without a new line (None: never)."""
    path = Path(path)
    if path.is_dir():
        raise CaptureError(f"{path}: is a directory, not a Zeek log")
    try:
        fh = _open(path)
        inode = os.fstat(fh.fileno()).st_ino if not path.suffix == ".gz" else None
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc.strerror}") from None
    number = 0
    idle_since = time.monotonic()
    buffered = ""
    try:
        while True:
            line = fh.readline()
            if line and not line.endswith("\n") and follow:
                buffered += line  # a line still being written
                continue
            if line:
                line, buffered = buffered + line, ""
                number += 1
                idle_since = time.monotonic()
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                try:
                    record = json.loads(text)
                    if not isinstance(record, dict):
                        raise ValueError("not a JSON object")
                    yield to_events(record, f"{path}:{number}")
                except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                    logger.warning("%s:%d: not a smtp_dialect record (%s); skipped", path, number, exc)
                continue
            if not follow:
                return
            if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                return
            time.sleep(poll)
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue  # rotated away; the new file is not there yet
            if inode is not None and (stat.st_ino != inode or stat.st_size < fh.tell()):
                fh.close()
                fh = _open(path)
                inode = os.fstat(fh.fileno()).st_ino
                number = 0
    finally:
        fh.close()
