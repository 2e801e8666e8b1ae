"""What the agent accepts: alert validation, the allowlist, rate limits, escalation.

Pure functions and small steppers (time is passed in), so every rule is tested without
sockets or nftables. ``check_alert(topic, obj, ...)`` returns a ``BlockRequest`` for a
valid ``verdict.bot`` alert or raises ``Rejected`` with a short reason name (counted in
metrics, logged): bad schema, an address that does not parse, an allowlisted address.
Only ``bot`` verdicts ever block; the TTL an alert suggests is capped.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ..alert import SCHEMA_VERSION
from ..errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never blocked, whatever the allowlist file says: blocking them would cut the host off
# from itself or from its link (loopback, link-local, multicast, unspecified).
DEFAULT_ALLOW: tuple[str, ...] = (
    "127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "224.0.0.0/4", "ff00::/8",
    "0.0.0.0/8", "::/128", "255.255.255.255/32",
)


class Rejected(Exception):
    """An alert the agent will not act on; ``reason`` is a metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BlockRequest:
    address: str  # normalised text form
    family: int  # 4 or 6
    ttl: int | None  # the alert's suggested seconds, capped; None: not given
    sensor: str
    seq: int
    client_port: int


class Allowlist:
    def __init__(self, networks: list[IPNetwork]) -> None:
        self.networks = networks

    @classmethod
    def load(cls, path: str | Path | None) -> Allowlist:
        """The defaults plus a file of addresses/CIDRs, one per line, ``#`` comments."""
        nets: list[IPNetwork] = [ipaddress.ip_network(n) for n in DEFAULT_ALLOW]
        if path:
            p = Path(path)
            try:
                lines = p.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"{p}: cannot read allowlist: {exc.strerror}") from None
            for number, line in enumerate(lines, 1):
                text = line.split("#", 1)[0].strip()
                if not text:
                    continue
                try:
                    nets.append(ipaddress.ip_network(text, strict=False))
                except ValueError:
                    raise ConfigError(f"{p}:{number}: not an address or CIDR: {text!r}") from None
        return cls(nets)

    def __contains__(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


def parse_address(text: object) -> IPAddress:
    if not isinstance(text, str) or len(text) > 64:
        raise Rejected("bad_address", repr(text)[:80])
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise Rejected("bad_address", repr(text)[:80]) from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:a.b.c.d is the IPv4 client
    return address


def check_alert(topic: str, obj: dict[str, object], allowlist: Allowlist, max_ttl: int) -> BlockRequest | None:
    """A ``BlockRequest`` for a valid bot alert, None for a valid non-bot message."""
    if obj.get("v") != SCHEMA_VERSION:
        raise Rejected("schema", f"version {obj.get('v')!r}")
    seq, sensor = obj.get("seq"), obj.get("sensor")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise Rejected("schema", "seq")
    if not isinstance(sensor, str) or not sensor:
        raise Rejected("schema", "sensor")
    if topic == "heartbeat":
        return None
    verdict = obj.get("verdict")
    if topic != f"verdict.{verdict}":
        raise Rejected("schema", "topic does not match verdict")
    if verdict != "bot":
        return None
    address = parse_address(obj.get("client"))
    port = obj.get("client_port")
    if not isinstance(port, int) or not 0 <= port < 65536:
        raise Rejected("schema", "client_port")
    if address in allowlist:
        raise Rejected("allowlisted", str(address))
    ttl = obj.get("ttl")
    if ttl is not None and (not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl <= 0):
        raise Rejected("schema", "ttl")
    capped = None if ttl is None else int(min(ttl, max_ttl))
    return BlockRequest(str(address), address.version, capped, sensor, seq, port)


class TokenBucket:
    """``rate`` blocks per second with bursts of ``burst``; ``now`` from the caller."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.tokens = self.burst
        self.last: float | None = None

    def take(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def block_seconds(offense: int, ttl: int | None, default_ttl: int, steps: tuple[int, ...], max_ttl: int) -> int:
    """Block time of an address's ``offense``-th offence (1-based).

    The first uses the alert's TTL (or ``default_ttl``); later ones climb ``steps``
    (the last step repeats), e.g. 10 min -> 1 h -> 24 h -> 7 d. Never above ``max_ttl``.
    """
    if offense <= 1 or not steps:
        seconds = ttl if ttl is not None else default_ttl
    else:
        seconds = max(steps[min(offense - 1, len(steps) - 1)], ttl or 0)
    return max(1, min(seconds, max_ttl))
