"""The verdict cache: what the alert stream said about each flow, for a while.

Input: decoded alert objects (``sensor.alert.decode``), and ``now`` from the caller.
Output: the ``Verdict`` for a flow 4-tuple (client address, client port, server
address, server port, addresses normalised as in ``codec.flow_key``), or None.

An entry lives ``ttl`` seconds after its last alert; a later alert for the same flow
(the final one after an early one) replaces it. At most ``max_entries`` are kept: the
least recently written goes first. Pure: no clocks, no sockets, no logging.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..alert import SCHEMA_VERSION, VERDICTS
from .codec import FlowKey, Verdict, flow_key


def verdict_from_alert(topic: str, obj: dict[str, Any]) -> tuple[FlowKey, Verdict] | None:
    """The flow and verdict of an alert; None for a heartbeat; ``ValueError`` if the
    message is not a valid alert (the agent's schema rules: version, seq, sensor,
    topic matching the verdict, addresses and ports that parse)."""
    if obj.get("v") != SCHEMA_VERSION:
        raise ValueError(f"schema version {obj.get('v')!r}")
    seq, sensor = obj.get("seq"), obj.get("sensor")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("seq")
    if not isinstance(sensor, str) or not sensor:
        raise ValueError("sensor")
    if topic == "heartbeat":
        return None
    verdict = obj.get("verdict")
    if verdict not in VERDICTS or topic != f"verdict.{verdict}":
        raise ValueError("topic does not match verdict")
    key = flow_key(obj.get("client"), obj.get("client_port"), obj.get("server"), obj.get("server_port"))
    if key is None:
        raise ValueError("flow addresses or ports")
    dialects = obj.get("dialects") or ()
    if not isinstance(dialects, list | tuple) or not all(isinstance(d, str) for d in dialects):
        raise ValueError("dialects")
    family = obj.get("family")
    return key, Verdict(str(verdict), tuple(dialects), family if isinstance(family, str) else None, sensor, seq)


class VerdictCache:
    def __init__(self, ttl: float = 600.0, max_entries: int = 100000) -> None:
        self.ttl = ttl
        self.max_entries = max(1, max_entries)
        self.entries: OrderedDict[FlowKey, tuple[float, Verdict]] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, key: FlowKey, verdict: Verdict, now: float) -> None:
        entries = self.entries
        entries.pop(key, None)
        entries[key] = (now + self.ttl, verdict)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
            self.evicted += 1

    def get(self, key: FlowKey, now: float) -> Verdict | None:
        found = self.entries.get(key)
        if found is None:
            return None
        if found[0] <= now:
            del self.entries[key]
            return None
        return found[1]

    def expire(self, now: float) -> int:
        """Drop expired entries (oldest first); how many went."""
        gone = 0
        entries = self.entries
        while entries:
            key, (expires, _verdict) = next(iter(entries.items()))
            if expires > now:
                break
            del entries[key]
            gone += 1
        return gone
