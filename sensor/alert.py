"""The conversation record (one per conversation) and its wire format.

``Alert`` is what every output writes: the DESIGN s4 JSON object. ``to_json`` gives the
object; ``encode(alert, seq, sensor)`` gives the ZeroMQ frames and ``decode(frames)``
reads them back. Frames (zguide "kvmsg" style, topic first so SUB filters work):

    frame 0: topic, ASCII: b"verdict.bot" | b"verdict.legit" | b"verdict.unknown"
             | b"verdict.ambiguous" | b"heartbeat"
    frame 1: UTF-8 JSON object: the conversation object plus
             "v" (SCHEMA_VERSION), "seq" (per-sensor sequence number), "sensor" (id),
             "ttl" (suggested block seconds, bots only, else absent)

Bytes of client lines and replies are decoded as latin-1, so every byte survives JSON
exactly (``line.encode("latin-1")`` gives it back). AUTH secrets were masked upstream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
VERDICTS = ("bot", "legit", "unknown", "ambiguous")
ENDS = ("data", "bdat", "quit", "starttls", "close", "reset", "timeout", "gap", "eof")


@dataclass(frozen=True, slots=True)
class DecidedAt:
    line: int
    command: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Alert:
    ts: float
    client: str
    client_port: int
    server: str
    server_port: int
    verdict: str
    dialects: tuple[str, ...]
    family: str | None
    decided_at: DecidedAt | None
    anomalies: tuple[str, ...]
    end: str
    incomplete: bool
    client_lines: tuple[bytes, ...]
    replies: tuple[bytes, ...]
    pipelined: tuple[int, ...] = ()  # 1-based indexes of client lines sent without waiting
    after: tuple[str, ...] = ()  # per client line: reply code it waited for, "-" none, "?" unseen
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "ts": round(self.ts, 6),
            "client": self.client,
            "client_port": self.client_port,
            "server": self.server,
            "server_port": self.server_port,
            "verdict": self.verdict,
            "dialects": list(self.dialects),
            "family": self.family,
            "decided_at": None
            if self.decided_at is None
            else {
                "line": self.decided_at.line,
                "command": self.decided_at.command,
                "seconds": round(self.decided_at.seconds, 6),
            },
            "anomalies": list(self.anomalies),
            "end": self.end,
            "incomplete": self.incomplete,
            "client_lines": [line.decode("latin-1") for line in self.client_lines],
            "replies": [reply.decode("latin-1") for reply in self.replies],
            "pipelined": list(self.pipelined),
            "after": list(self.after),
        }
        obj.update(self.extra)
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Alert:
        decided = obj.get("decided_at")
        known = {f for f in cls.__dataclass_fields__} | {"v", "seq", "sensor", "ttl"}
        return cls(
            ts=float(obj["ts"]),
            client=str(obj["client"]),
            client_port=int(obj["client_port"]),
            server=str(obj["server"]),
            server_port=int(obj["server_port"]),
            verdict=str(obj["verdict"]),
            dialects=tuple(obj.get("dialects", ())),
            family=obj.get("family"),
            decided_at=None
            if decided is None
            else DecidedAt(int(decided["line"]), str(decided["command"]), float(decided["seconds"])),
            anomalies=tuple(obj.get("anomalies", ())),
            end=str(obj["end"]),
            incomplete=bool(obj["incomplete"]),
            client_lines=tuple(s.encode("latin-1") for s in obj.get("client_lines", ())),
            replies=tuple(s.encode("latin-1") for s in obj.get("replies", ())),
            pipelined=tuple(obj.get("pipelined", ())),
            after=tuple(obj.get("after", ())),
            extra={k: v for k, v in obj.items() if k not in known},
        )


# One encoder for every record (json.dumps with options builds a new one per call).
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def dumps(alert: Alert) -> str:
    """One JSON line (no newline)."""
    return _encode(alert.to_json())


def encode(alert: Alert, seq: int, sensor: str, ttl: int | None = None) -> list[bytes]:
    """The two frames of an alert message (see the module docstring)."""
    obj = alert.to_json()
    obj["v"] = SCHEMA_VERSION
    obj["seq"] = seq
    obj["sensor"] = sensor
    if ttl is not None and alert.verdict == "bot":
        obj["ttl"] = ttl
    return [f"verdict.{alert.verdict}".encode("ascii"), _encode(obj).encode()]


def encode_heartbeat(seq: int, sensor: str, ts: float, stats: dict[str, int] | None = None) -> list[bytes]:
    obj: dict[str, Any] = {"v": SCHEMA_VERSION, "seq": seq, "sensor": sensor, "ts": ts}
    if stats:
        obj["stats"] = stats
    return [b"heartbeat", json.dumps(obj, separators=(",", ":")).encode()]


def decode(frames: list[bytes]) -> tuple[str, dict[str, Any]]:
    """``(topic, object)`` of a message; ``ValueError`` if it is not one of ours."""
    if len(frames) != 2:
        raise ValueError(f"expected 2 frames, got {len(frames)}")
    topic = frames[0].decode("ascii", "strict")
    obj = json.loads(frames[1])
    if not isinstance(obj, dict):
        raise ValueError("payload is not a JSON object")
    if obj.get("v") != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema version {obj.get('v')!r}")
    if topic != "heartbeat" and topic != f"verdict.{obj.get('verdict')}":
        raise ValueError(f"topic {topic!r} does not match the verdict")
    return topic, obj
